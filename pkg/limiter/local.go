package limiter

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Local applies the limits to this process alone, with the Redis limiter's semantics: an
// atomic counter for in-flight and a lock-free GCRA token bucket for the rate. Acquire and
// Release do not lock and, amortised, do not allocate.
type Local struct {
	max       int64
	interval  int64 // ns per request; 0 = no rate limit
	allowance int64 // burst * interval
	start     time.Time
	cfg       Config

	inFlight atomic.Int64
	tat      atomic.Int64 // GCRA theoretical arrival time, ns since start
	slab     atomic.Pointer[leaseSlab]
	closed   atomic.Bool

	admitted, limited atomic.Uint64
	inFlightErr       *LimitedError
}

// Leases are handed out from slabs so that Acquire does not allocate per call, and each lease
// is used once, so a second Release cannot give back a slot a later Acquire took. A slab is
// freed once none of its leases is referenced.
const slabSize = 128

type leaseSlab struct {
	leases [slabSize]localLease
	next   atomic.Int64
}

type localLease struct {
	l        *Local
	released atomic.Bool
}

// Release gives the slot back once.
func (x *localLease) Release() {
	if !x.released.Load() && x.released.CompareAndSwap(false, true) {
		x.l.inFlight.Add(-1)
	}
}

// NewLocal returns a limiter for this process alone; cfg.RedisURL and the Redis settings are
// ignored.
func NewLocal(cfg Config) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Local{
		max:      int64(cfg.MaxInFlight),
		interval: int64(cfg.interval()),
		start:    time.Now(),
		cfg:      cfg,
	}
	l.allowance = cfg.burst() * l.interval
	l.inFlightErr = &LimitedError{
		RetryAfter: cfg.RetryAfter,
		Reason:     ReasonInFlight,
		Limit:      fmt.Sprintf("%d requests in flight (LIMITER_MAX_IN_FLIGHT)", cfg.MaxInFlight),
	}
	l.slab.Store(l.newSlab())
	return l, nil
}

func (l *Local) newSlab() *leaseSlab {
	s := new(leaseSlab)
	for i := range s.leases {
		s.leases[i].l = l
	}
	return s
}

// Acquire takes a slot and a unit of rate, or returns a *LimitedError.
func (l *Local) Acquire(ctx context.Context) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if l.max > 0 {
		if l.inFlight.Add(1) > l.max {
			l.inFlight.Add(-1)
			l.limited.Add(1)
			return nil, l.inFlightErr
		}
	}
	if l.interval > 0 {
		if wait := l.takeRate(); wait > 0 {
			if l.max > 0 {
				l.inFlight.Add(-1)
			}
			l.limited.Add(1)
			return nil, &LimitedError{
				RetryAfter: wait,
				Reason:     ReasonRate,
				Limit:      fmt.Sprintf("%g requests per second, burst %d (LIMITER_RATE)", l.cfg.Rate, l.cfg.burst()),
			}
		}
	}
	l.admitted.Add(1)
	if l.max == 0 {
		return noLease{}, nil
	}
	return l.lease(), nil
}

// takeRate takes one unit of rate and returns 0, or returns how long until one is free. GCRA:
// a request is admitted when the theoretical arrival time, pushed one interval on, is at most
// burst intervals ahead of now.
func (l *Local) takeRate() time.Duration {
	now := int64(time.Since(l.start))
	for {
		tat := l.tat.Load()
		next := max(tat, now) + l.interval
		if wait := next - now - l.allowance; wait > 0 {
			return time.Duration(wait)
		}
		if l.tat.CompareAndSwap(tat, next) {
			return 0
		}
	}
}

func (l *Local) lease() *localLease {
	for {
		s := l.slab.Load()
		if i := s.next.Add(1) - 1; i < slabSize {
			return &s.leases[i]
		}
		l.slab.CompareAndSwap(s, l.newSlab())
	}
}

// Stats counts the decisions so far.
func (l *Local) Stats() Stats {
	return Stats{Admitted: l.admitted.Load(), Limited: l.limited.Load(), Held: l.inFlight.Load()}
}

// Close makes later Acquires fail with ErrClosed; leases already taken may still be released.
func (l *Local) Close() error {
	l.closed.Store(true)
	return nil
}
