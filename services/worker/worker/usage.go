package worker

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// usageBatcher puts the usage of answered requests on the usage stream, one message per
// provider every flush interval (or every maxBatch requests) rather than one per request: the
// stream stores, deduplicates and acknowledges a tenth of the messages, which measurably
// raises what a worker answers per core.
type usageBatcher struct {
	js       jetstream.JetStream
	worker   string
	every    time.Duration
	maxBatch int
	log      *slog.Logger

	mu      sync.Mutex
	pending map[string][]*busv1.Usage // by provider
	seq     uint64
	full    chan struct{}
}

// maxUnsent bounds the usage records kept while the stream does not take them.
const maxUnsent = 100_000

func newUsageBatcher(js jetstream.JetStream, worker string, every time.Duration, log *slog.Logger) *usageBatcher {
	return &usageBatcher{js: js, worker: worker, every: every, maxBatch: 512, log: log,
		pending: map[string][]*busv1.Usage{}, full: make(chan struct{}, 1)}
}

// add queues one request's usage.
func (b *usageBatcher) add(u *busv1.Usage) {
	b.mu.Lock()
	q := b.pending[u.Provider]
	if len(q) >= maxUnsent {
		b.mu.Unlock()
		b.log.Warn("usage dropped: the usage stream has not taken the last records", "request_id", u.RequestId)
		return
	}
	b.pending[u.Provider] = append(q, u)
	full := len(q)+1 >= b.maxBatch
	b.mu.Unlock()
	if full {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
}

// run flushes every interval, or when a batch fills, until stop is closed; then it flushes what
// is left and returns.
func (b *usageBatcher) run(stop <-chan struct{}) {
	t := time.NewTicker(b.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			b.flush()
			return
		case <-t.C:
		case <-b.full:
		}
		b.flush()
	}
}

// flush publishes each provider's pending records as one batch and waits for the stream to
// store it. A batch the stream does not acknowledge is put back, to be sent again under the
// same message id, which the stream's duplicate window turns into one stored copy.
func (b *usageBatcher) flush() {
	b.mu.Lock()
	batches := b.pending
	b.pending = map[string][]*busv1.Usage{}
	b.mu.Unlock()
	for provider, usages := range batches {
		for len(usages) > 0 {
			n := min(len(usages), b.maxBatch)
			b.mu.Lock()
			b.seq++
			seq := b.seq
			b.mu.Unlock()
			if err := b.publish(provider, seq, usages[:n]); err != nil {
				b.log.Warn("could not publish usage; keeping it for the next flush", "provider", provider, "records", len(usages), "error", err)
				b.mu.Lock()
				b.pending[provider] = append(usages, b.pending[provider]...)
				b.mu.Unlock()
				break
			}
			usages = usages[n:]
		}
	}
}

func (b *usageBatcher) publish(provider string, seq uint64, usages []*busv1.Usage) error {
	data, err := proto.Marshal(&busv1.UsageBatch{Worker: b.worker, Seq: seq, Usages: usages})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = b.js.Publish(ctx, bus.UsageSubject(provider), data, jetstream.WithMsgID(b.worker+"-"+strconv.FormatUint(seq, 10)))
	return err
}
