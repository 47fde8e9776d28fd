// Package relay receives the answers workers send to this gateway instance and hands each to
// the request waiting for it.
package relay

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// Relay holds the one reply subscription of a gateway instance.
type Relay struct {
	sub    *nats.Subscription
	log    *slog.Logger
	mu     sync.RWMutex
	active map[string]*Answer
}

// Start subscribes to the answers addressed to gateway instance id.
func Start(nc *nats.Conn, id string, log *slog.Logger) (*Relay, error) {
	r := &Relay{log: log, active: make(map[string]*Answer)}
	sub, err := nc.Subscribe(bus.ReplyWildcard(id), r.deliver)
	if err != nil {
		return nil, fmt.Errorf("subscribe to answers: %w", err)
	}
	// Answers are small and many; a slow consumer must never drop one silently. The limits
	// are generous, and a dropped chunk is still caught by its sequence number.
	if err := sub.SetPendingLimits(1<<20, 1<<30); err != nil {
		return nil, fmt.Errorf("subscribe to answers: %w", err)
	}
	r.sub = sub
	return r, nil
}

// Close stops receiving answers.
func (r *Relay) Close() error { return r.sub.Unsubscribe() }

// Expect registers a request before it is published, so no chunk of its answer is missed.
// The caller must call Done.
func (r *Relay) Expect(requestID string) *Answer {
	a := &Answer{id: requestID, ready: make(chan struct{}, 1)}
	r.mu.Lock()
	r.active[requestID] = a
	r.mu.Unlock()
	return a
}

// Done forgets a request; chunks that still arrive for it are dropped.
func (r *Relay) Done(a *Answer) {
	r.mu.Lock()
	delete(r.active, a.id)
	r.mu.Unlock()
}

// InFlight is the number of requests waiting for an answer.
func (r *Relay) InFlight() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.active)
}

func (r *Relay) deliver(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	r.mu.RLock()
	a := r.active[id]
	r.mu.RUnlock()
	if a == nil {
		return // the client is gone, or another attempt already answered
	}
	c := new(busv1.Chunk)
	if err := proto.Unmarshal(m.Data, c); err != nil {
		r.log.Error("undecodable answer chunk", "request_id", id, "error", err)
		a.push(nil) // a hole the sequence check turns into a clean error
		return
	}
	a.push(c)
}

// Answer is the queue of chunks of one request's answer, in arrival order.
type Answer struct {
	id    string
	mu    sync.Mutex
	queue []*busv1.Chunk
	ready chan struct{}
}

func (a *Answer) push(c *busv1.Chunk) {
	a.mu.Lock()
	a.queue = append(a.queue, c)
	a.mu.Unlock()
	select {
	case a.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when chunks are waiting; call Take after it fires.
func (a *Answer) Ready() <-chan struct{} { return a.ready }

// Take returns the chunks received so far, in order. A nil chunk stands for one that could
// not be decoded.
func (a *Answer) Take(buf []*busv1.Chunk) []*busv1.Chunk {
	a.mu.Lock()
	buf = append(buf[:0], a.queue...)
	clear(a.queue)
	a.queue = a.queue[:0]
	a.mu.Unlock()
	return buf
}
