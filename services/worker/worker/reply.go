package worker

import (
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/header"
	"github.com/lynkr/lynkr/proto/busv1"
)

// reply sends the numbered chunks of one attempt at an answer to the gateway that waits for
// it. A head is held until the first data or the end goes out with it, and a non-streamed body
// until the end, so a whole answer travels as one message.
type reply struct {
	nc       *nats.Conn
	subject  string
	id       string
	attempt  uint64
	seq      uint64
	maxChunk int
	head     *busv1.Head       // not sent yet
	headSent bool              // a head went out: headers can no longer be added
	headers  map[string]string // response headers for the client, sent with the head
	held     []byte            // a non-streamed body, sent with the end
	provider string            // the provider answering, named in the usage of the end
	model    string            // the upstream model it was asked for, which prices the usage
}

func newReply(nc *nats.Conn, req *busv1.Request, attempt uint64) *reply {
	max := int(nc.MaxPayload()) - 4096
	if max < 4096 {
		max = 4096
	}
	return &reply{nc: nc, subject: req.ReplySubject, id: req.Id, attempt: attempt, maxChunk: max}
}

// send numbers and publishes c, with the held head.
func (r *reply) send(c *busv1.Chunk) error {
	r.seq++
	c.RequestId, c.Seq, c.Attempt = r.id, r.seq, r.attempt
	c.Head, r.head = r.head, nil
	if c.Head != nil {
		c.Head.Headers, r.headSent = r.headers, true
	}
	b, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode answer chunk: %w", err)
	}
	if err := r.nc.Publish(r.subject, b); err != nil {
		return fmt.Errorf("send answer chunk: %w", err)
	}
	return nil
}

// begin sets the status and content type the client gets.
func (r *reply) begin(status int, contentType string) {
	r.head = &busv1.Head{Status: int32(status), ContentType: contentType}
}

// header sets a response header for the client, by the name the client gets it under, such as
// lynkr's own X-Lynkr-Dropped; "" removes it. It must be called before the answer's first
// data or its end goes out (it then travels with the head), and returns false after, when it
// is too late. The gateway writes lynkr's X-Lynkr-* headers and those the allow-list of
// package header returns; it ignores others, and keeps its own where it set one.
func (r *reply) header(name, value string) bool {
	if r.headSent {
		return false
	}
	if value == "" {
		delete(r.headers, name)
		return true
	}
	if r.headers == nil {
		r.headers = make(map[string]string, 4)
	}
	r.headers[name] = value
	return true
}

// upstream takes the response headers of the upstream call that answers, for the client: its
// request id and rate limits (header.Returned's allow-list).
func (r *reply) upstream(h http.Header) {
	if !r.headSent {
		r.headers = header.Returned(r.headers, h)
	}
}

// reset forgets the headers set for a provider that did not answer, before its fallback
// answers in its place.
func (r *reply) reset() {
	if !r.headSent {
		r.headers = nil
	}
}

// data sends answer bytes now (a stream's events), split to fit the bus's message size.
func (r *reply) data(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), r.maxChunk)
		if err := r.send(&busv1.Chunk{Data: b[:n]}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// hold keeps a whole body to send with the end.
func (r *reply) hold(b []byte) { r.held = b }

// end sends the end of a good answer, with what is still held.
func (r *reply) end(u llm.Usage) error {
	return r.finish(&busv1.End{Usage: &busv1.Usage{
		RequestId:         r.id,
		Provider:          r.provider,
		InputTokens:       u.InputTokens,
		OutputTokens:      u.OutputTokens,
		CacheReadTokens:   u.CacheReadTokens,
		CacheCreateTokens: u.CacheCreateTokens,
	}})
}

// fail ends the answer with an error for the client. What was held is dropped: the error is
// the answer.
func (r *reply) fail(e *apierror.Error) error {
	r.held = nil
	if r.head != nil && r.seq == 0 {
		r.head = nil // nothing went out yet: the error gets its own status
	}
	return r.finish(&busv1.End{Error: &busv1.Error{
		Status:       int32(e.Status),
		Type:         e.Type,
		Message:      e.Message,
		Details:      e.Details,
		RetryAfterMs: e.RetryAfter.Milliseconds(),
	}})
}

// finish sends the held body (split if large) and the end, in as few chunks as fit.
func (r *reply) finish(end *busv1.End) error {
	b := r.held
	r.held = nil
	for len(b) > r.maxChunk {
		if err := r.send(&busv1.Chunk{Data: b[:r.maxChunk]}); err != nil {
			return err
		}
		b = b[r.maxChunk:]
	}
	return r.send(&busv1.Chunk{Data: b, End: end})
}
