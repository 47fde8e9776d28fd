package worker

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/proto/busv1"
)

// reply sends the numbered chunks of one attempt at an answer to the gateway that waits for it.
type reply struct {
	nc       *nats.Conn
	subject  string
	id       string
	attempt  uint64
	seq      uint64
	maxChunk int
	started  bool // a Head went out
}

func newReply(nc *nats.Conn, req *busv1.Request, attempt uint64) *reply {
	max := int(nc.MaxPayload()) - 4096
	if max < 4096 {
		max = 4096
	}
	return &reply{nc: nc, subject: req.ReplySubject, id: req.Id, attempt: attempt, maxChunk: max}
}

func (r *reply) send(c *busv1.Chunk) error {
	r.seq++
	c.RequestId, c.Seq, c.Attempt = r.id, r.seq, r.attempt
	b, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode answer chunk: %w", err)
	}
	if err := r.nc.Publish(r.subject, b); err != nil {
		return fmt.Errorf("send answer chunk: %w", err)
	}
	return nil
}

func (r *reply) head(status int, contentType string) error {
	r.started = true
	return r.send(&busv1.Chunk{Kind: &busv1.Chunk_Head{Head: &busv1.Head{Status: int32(status), ContentType: contentType}}})
}

// data sends answer bytes, split to fit the bus's message size.
func (r *reply) data(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), r.maxChunk)
		if err := r.send(&busv1.Chunk{Kind: &busv1.Chunk_Data{Data: b[:n]}}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (r *reply) end(u llm.Usage) error {
	return r.send(&busv1.Chunk{Kind: &busv1.Chunk_End{End: &busv1.End{Usage: &busv1.Usage{
		RequestId:         r.id,
		InputTokens:       u.InputTokens,
		OutputTokens:      u.OutputTokens,
		CacheReadTokens:   u.CacheReadTokens,
		CacheCreateTokens: u.CacheCreateTokens,
	}}}})
}

func (r *reply) fail(e *apierror.Error) error {
	return r.send(&busv1.Chunk{Kind: &busv1.Chunk_End{End: &busv1.End{Error: &busv1.Error{
		Status:       int32(e.Status),
		Type:         e.Type,
		Message:      e.Message,
		Details:      e.Details,
		RetryAfterMs: e.RetryAfter.Milliseconds(),
	}}}})
}
