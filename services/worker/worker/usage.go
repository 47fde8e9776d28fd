package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// usageBatcher puts the usage of answered requests on the usage stream, one message per
// provider every flush interval (or every maxBatch requests) rather than one per request: the
// stream stores, deduplicates and acknowledges a fraction of the messages, which measurably
// raises what a worker answers per core.
//
// A batch is sealed once — its records, its number and its message id, unique to this process
// — and a batch the stream did not acknowledge is published again exactly as it was, so if the
// first copy was stored after all, the duplicate window keeps one.
type usageBatcher struct {
	js       jetstream.JetStream
	id       string // this process's batches: worker instance and a random suffix
	every    time.Duration
	maxBatch int
	maxHeld  int
	log      *slog.Logger

	mu      sync.Mutex
	pending map[string][]*busv1.Usage // by provider, not sealed yet
	held    int                       // records pending or in unsent batches
	dropped int                       // records refused since the last warning
	full    chan struct{}

	seq    uint64        // owned by the flushing goroutine
	unsent []sealedBatch // sealed batches the stream has not acknowledged, oldest first
}

type sealedBatch struct {
	provider, msgID string
	data            []byte
	records         int
}

// errUsageUnsent is returned by flush while sealed batches wait to be published again.
var errUsageUnsent = errors.New("usage batches not acknowledged by the usage stream")

func newUsageBatcher(js jetstream.JetStream, worker string, every time.Duration, log *slog.Logger) *usageBatcher {
	return &usageBatcher{js: js, id: worker + "-" + nuid.Next(), every: every, maxBatch: 512, maxHeld: 100_000,
		log: log, pending: map[string][]*busv1.Usage{}, full: make(chan struct{}, 1)}
}

// add queues one request's usage. While the stream takes nothing, at most maxHeld records are
// kept; later ones are dropped and counted in a warning.
func (b *usageBatcher) add(u *busv1.Usage) {
	b.mu.Lock()
	if b.held >= b.maxHeld {
		b.dropped++
		b.mu.Unlock()
		return
	}
	q := append(b.pending[u.Provider], u)
	b.pending[u.Provider] = q
	b.held++
	full := len(q) == b.maxBatch
	b.mu.Unlock()
	if full {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
}

// run flushes every interval, or when a provider's batch fills, until stop is closed, backing
// off while the stream does not acknowledge; then it flushes what is left, trying for at most
// finalWait, and returns.
func (b *usageBatcher) run(stop <-chan struct{}, finalWait time.Duration) {
	wait := b.every
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-stop:
			b.final(finalWait)
			return
		case <-t.C:
		case <-b.full:
			if wait > b.every {
				continue // backing off: a full batch waits for the timer
			}
			t.Stop()
		}
		if err := b.flush(); err != nil {
			wait = min(2*wait, 5*time.Second)
		} else {
			wait = b.every
		}
		t.Reset(wait)
	}
}

// final flushes until everything is acknowledged or d has passed, then says what was lost.
func (b *usageBatcher) final(d time.Duration) {
	deadline := time.Now().Add(d)
	wait := 100 * time.Millisecond
	for {
		err := b.flush()
		if err == nil {
			return
		}
		if time.Now().Add(wait).After(deadline) {
			b.mu.Lock()
			lost := b.held
			b.mu.Unlock()
			b.log.Error("usage lost at shutdown: the usage stream did not acknowledge it", "records", lost, "error", err)
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// flush publishes the unsent batches again, then seals and publishes what is pending. It stops
// at the first batch the stream does not acknowledge: that one and every later one stay unsent.
func (b *usageBatcher) flush() error {
	b.mu.Lock()
	pending := b.pending
	b.pending = map[string][]*busv1.Usage{}
	if b.dropped > 0 {
		b.log.Warn("usage dropped: the usage stream has not taken the records held", "records", b.dropped, "held", b.held)
		b.dropped = 0
	}
	b.mu.Unlock()
	for provider, usages := range pending {
		for len(usages) > 0 {
			n := min(len(usages), b.maxBatch)
			sb, err := b.seal(provider, usages[:n])
			if err != nil {
				b.log.Error("usage batch could not be encoded; dropped", "records", n, "error", err)
			} else {
				b.unsent = append(b.unsent, sb)
			}
			usages = usages[n:]
		}
	}
	for len(b.unsent) > 0 {
		sb := b.unsent[0]
		if err := b.publish(sb); err != nil {
			b.log.Warn("usage stream did not acknowledge a batch; it will be sent again", "batches", len(b.unsent), "error", err)
			return fmt.Errorf("%w: %w", errUsageUnsent, err)
		}
		b.unsent = b.unsent[1:]
		b.mu.Lock()
		b.held -= sb.records
		b.mu.Unlock()
	}
	return nil
}

func (b *usageBatcher) seal(provider string, usages []*busv1.Usage) (sealedBatch, error) {
	b.seq++
	data, err := proto.Marshal(&busv1.UsageBatch{Worker: b.id, Seq: b.seq, Usages: usages})
	if err != nil {
		b.mu.Lock()
		b.held -= len(usages)
		b.mu.Unlock()
		return sealedBatch{}, err
	}
	return sealedBatch{provider: provider, msgID: b.id + "-" + strconv.FormatUint(b.seq, 10), data: data, records: len(usages)}, nil
}

func (b *usageBatcher) publish(sb sealedBatch) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := b.js.Publish(ctx, bus.UsageSubject(sb.provider), sb.data, jetstream.WithMsgID(sb.msgID))
	if err != nil {
		return err
	}
	if ack.Duplicate {
		b.log.Debug("usage batch was stored already", "msg_id", sb.msgID)
	}
	return nil
}
