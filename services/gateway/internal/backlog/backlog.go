// Package backlog watches how many accepted requests wait in JetStream for each provider's
// workers, so a gateway can stop queueing work that would only wait past its deadline.
package backlog

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
)

// Monitor samples each provider's consumer once per interval; Pending reads the last sample
// in nanoseconds.
type Monitor struct {
	js        jetstream.JetStream
	providers func() []string
	interval  time.Duration
	log       *slog.Logger
	pending   atomic.Pointer[map[string]uint64]
}

// New returns a monitor of the providers that providers lists at each sample.
func New(js jetstream.JetStream, providers func() []string, interval time.Duration, log *slog.Logger) *Monitor {
	m := &Monitor{js: js, providers: providers, interval: interval, log: log}
	empty := map[string]uint64{}
	m.pending.Store(&empty)
	return m
}

// Pending is the number of requests for provider that no worker has taken yet, as last sampled.
func (m *Monitor) Pending(provider string) uint64 { return (*m.pending.Load())[provider] }

// All is the last sample of every provider.
func (m *Monitor) All() map[string]uint64 { return *m.pending.Load() }

// Run samples until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) sample(ctx context.Context) {
	next := map[string]uint64{}
	for _, p := range m.providers() {
		c, err := m.js.Consumer(ctx, bus.RequestStream, bus.ConsumerName(p))
		if err != nil {
			if !errors.Is(err, jetstream.ErrConsumerNotFound) && ctx.Err() == nil {
				m.log.Debug("backlog sample failed", "provider", p, "error", err)
			}
			continue
		}
		// Looking the consumer up fetched its info just now.
		next[p] = c.CachedInfo().NumPending
	}
	m.pending.Store(&next)
}
