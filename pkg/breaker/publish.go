package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Publisher writes the state changes of this instance's breakers to the bucket. Notify only
// records a change (it runs under a breaker's lock); Run writes them, the latest state of each
// provider, in the background.
//
// Instances share one entry per provider, so a write must not undo what another instance
// found: a state other than open does not replace another instance's open entry whose Until
// is still ahead, and an open entry replaces another's only if it lasts longer. Writes are
// compare-and-set on the entry's revision.
type Publisher struct {
	kv       jetstream.KeyValue
	instance string
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	pending map[string]pendingEntry
	queued  uint64        // changes notified so far
	written uint64        // changes attempted so far
	settled chan struct{} // closed and replaced whenever written advances
	wake    chan struct{}
}

type pendingEntry struct {
	e   Entry
	seq uint64
}

// writeTimeout bounds one write to the bucket.
const writeTimeout = 5 * time.Second

// retryWait is how long a failed write waits before it is tried again.
const retryWait = time.Second

// NewPublisher returns a publisher that writes to kv as instance.
func NewPublisher(kv jetstream.KeyValue, instance string, log *slog.Logger) *Publisher {
	return &Publisher{
		kv: kv, instance: instance, log: log, now: time.Now,
		pending: map[string]pendingEntry{},
		settled: make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
}

// Notify records a change to write; a later change of the same provider replaces it. It
// never blocks, so it can be a Set's OnStateChange.
func (p *Publisher) Notify(c Change) {
	e := Entry{Provider: c.Provider, State: c.To, Since: c.At, Until: c.Until, By: p.instance}
	p.mu.Lock()
	p.queued++
	p.pending[c.Provider] = pendingEntry{e: e, seq: p.queued}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every change notified before the call has been written, or its write
// has failed (a failed write is tried again later).
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.queued
	for p.written < target {
		ch := p.settled
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush breaker states: %w", ctx.Err())
		case <-ch:
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

// Run writes notified changes until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
		p.mu.Lock()
		batch := p.pending
		p.pending = map[string]pendingEntry{}
		top := p.queued
		p.mu.Unlock()

		failed := false
		for provider, pe := range batch {
			if err := p.write(ctx, pe.e); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.log.Warn("breaker: write state", "provider", provider, "state", pe.e.State, "err", err)
				failed = true
				p.mu.Lock()
				if _, newer := p.pending[provider]; !newer {
					p.pending[provider] = pe
				}
				p.mu.Unlock()
			}
		}
		p.mu.Lock()
		p.written = top
		close(p.settled)
		p.settled = make(chan struct{})
		p.mu.Unlock()

		if failed {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retryWait):
			}
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

// maxConflicts bounds the compare-and-set loop of one write.
const maxConflicts = 8

// write puts e unless the current entry is another instance's open state that e must not
// undo.
func (p *Publisher) write(ctx context.Context, e Entry) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	val, err := encodeEntry(e)
	if err != nil {
		return err
	}
	for range maxConflicts {
		cur, err := p.kv.Get(ctx, e.Provider)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			_, err = p.kv.Create(ctx, e.Provider, val)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // another instance wrote first: look again
			}
			return wrapWrite(e, err)
		}
		if err != nil {
			return wrapWrite(e, err)
		}
		if old, derr := DecodeEntry(cur.Value()); derr == nil && !replaces(e, old, p.now()) {
			return nil
		}
		_, err = p.kv.Update(ctx, e.Provider, val, cur.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		return wrapWrite(e, err)
	}
	return fmt.Errorf("write breaker state of %s: %d conflicting writes in a row", e.Provider, maxConflicts)
}

func wrapWrite(e Entry, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("write breaker state of %s: %w", e.Provider, err)
}

// replaces reports whether entry e, new from this instance, should replace old.
func replaces(e, old Entry, now time.Time) bool {
	if old.By == e.By || !old.OpenAt(now) {
		return true
	}
	// old is another instance's open state, still in force.
	return e.State == StateOpen && e.Until.After(old.Until)
}
