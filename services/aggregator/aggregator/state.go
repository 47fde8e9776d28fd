package aggregator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
)

// state is what the aggregator has read from JetStream: the buckets it watches and the
// backlogs it polls.
type state struct {
	mu        sync.Mutex
	breakers  map[string]breaker.Entry // by provider
	providers map[string]time.Time     // provider → when a worker last announced it
	backlog   map[string]uint64        // provider → requests waiting or in flight
	watching  map[string]bool          // bucket → its watch is running
}

func newState() state {
	return state{
		breakers:  map[string]breaker.Entry{},
		providers: map[string]time.Time{},
		backlog:   map[string]uint64{},
		watching:  map[string]bool{},
	}
}

func (s *state) resetBreakers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.breakers)
}

func (s *state) applyBreaker(kve jetstream.KeyValueEntry) error {
	if kve.Operation() != jetstream.KeyValuePut {
		s.mu.Lock()
		delete(s.breakers, kve.Key())
		s.mu.Unlock()
		return nil
	}
	e, err := breaker.DecodeEntry(kve.Value())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.breakers[kve.Key()] = e
	s.mu.Unlock()
	return nil
}

func (s *state) resetProviders() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.providers)
}

func (s *state) applyProvider(kve jetstream.KeyValueEntry) error {
	if kve.Operation() != jetstream.KeyValuePut {
		s.mu.Lock()
		delete(s.providers, kve.Key())
		s.mu.Unlock()
		return nil
	}
	info, err := bus.DecodeProviderInfo(kve.Value())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.providers[info.Name] = kve.Created()
	s.mu.Unlock()
	return nil
}

func (s *state) setWatching(bucket string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watching[bucket] = on
}

// snapshot is a copy of the state at one moment.
type snapshot struct {
	breakers  map[string]breaker.Entry
	providers []string // announced within the provider TTL
	backlog   map[string]uint64
}

func (s *state) snapshot(now time.Time) snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshot{breakers: maps.Clone(s.breakers), backlog: maps.Clone(s.backlog)}
	for name, at := range s.providers {
		// The bucket's TTL removes an announcement without telling its watchers.
		if now.Sub(at) <= bus.ProviderTTL {
			snap.providers = append(snap.providers, name)
		}
	}
	return snap
}

// bucketCopy is one of the aggregator's copies of a bucket, as bus.WatchNamed drives it.
type bucketCopy struct {
	a      *Aggregator
	bucket string
	reset  func()
	apply  func(jetstream.KeyValueEntry) error
}

func (c bucketCopy) Begin() { c.reset() }

func (c bucketCopy) Apply(kve jetstream.KeyValueEntry) {
	if err := c.apply(kve); err != nil {
		c.a.log.Warn("bad key-value entry", "bucket", c.bucket, "key", kve.Key(), "error", err)
	}
}

func (c bucketCopy) Synced(on bool) { c.a.state.setWatching(c.bucket, on) }

// watch keeps a copy of a bucket through reset and apply until ctx ends. A bucket that does
// not exist yet is waited for; a watch that ends is started again (see bus.WatchNamed).
func (a *Aggregator) watch(ctx context.Context, bucket string, reset func(), apply func(jetstream.KeyValueEntry) error, restart <-chan struct{}) error {
	bus.WatchNamed(ctx, a.js, bucket, bucketCopy{a: a, bucket: bucket, reset: reset, apply: apply}, restart, a.log)
	return nil
}

// pollTimeout bounds one read of a consumer's state.
const pollTimeout = 2 * time.Second

// poll reads the backlog of every known provider every PollInterval until ctx ends.
func (a *Aggregator) poll(ctx context.Context) error {
	t := time.NewTicker(a.cfg.PollInterval)
	defer t.Stop()
	for {
		a.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (a *Aggregator) pollOnce(ctx context.Context) {
	names := a.providerNames(a.state.snapshot(a.now()))
	backlog := make(map[string]uint64, len(names))
	for _, name := range names {
		n, err := a.backlogOf(ctx, name)
		switch {
		case err == nil:
			backlog[name] = n
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			// No worker of this provider has started yet.
		case ctx.Err() != nil:
			return
		default:
			a.log.Warn("read backlog", "provider", name, "error", err)
			a.state.mu.Lock()
			if n, ok := a.state.backlog[name]; ok {
				backlog[name] = n // keep the last reading rather than show none
			}
			a.state.mu.Unlock()
		}
	}
	a.state.mu.Lock()
	a.state.backlog = backlog
	a.state.mu.Unlock()
}

// backlogOf is how many requests for a provider wait for a worker or are held by one.
func (a *Aggregator) backlogOf(ctx context.Context, provider string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	c, err := a.js.Consumer(ctx, bus.RequestStream, bus.ConsumerName(provider))
	if err != nil {
		return 0, fmt.Errorf("backlog of %s: %w", provider, err)
	}
	info := c.CachedInfo()
	return info.NumPending + uint64(info.NumAckPending), nil
}
