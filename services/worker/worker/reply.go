package worker

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
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
	head     *busv1.Head // not sent yet
	held     []byte      // a non-streamed body, sent with the end
	provider string      // the provider answering, named in the usage of the end
	model    string      // the upstream model it was asked for, which prices the usage
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
