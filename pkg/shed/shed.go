// Package shed decides whether a gateway should refuse a new request because this process or
// the cluster is overloaded: resident memory, Go heap, active requests, and extra signals the
// gateway plugs in (the JetStream backlog, say). A shed request gets a 503 with Retry-After
// before any work is queued.
//
// The decision costs nanoseconds: memory, heap and the extra signals are sampled at most once
// per SampleInterval by Refresh, which Run calls on a ticker, and the verdict is published
// through one atomic pointer; active requests are an atomic counter. A background refresher
// was chosen over a lazily refreshed cache because it keeps the hot path free of clock reads
// and keeps the sampling (file reads, runtime metrics, and extra signals that may ask a
// server) off request goroutines, so no unlucky request pays for it.
package shed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded is wrapped by every error that sheds a request; errors.As gives the
// *OverloadedError with the reason and RetryAfter.
var ErrOverloaded = errors.New("overloaded")

// The reasons a request is shed; an extra signal's reason is its name.
const (
	ReasonMemory         = "memory"
	ReasonHeap           = "heap"
	ReasonActiveRequests = "active_requests"
)

// OverloadedError says which signal tripped and how long the client should wait.
type OverloadedError struct {
	// Reason is ReasonMemory, ReasonHeap, ReasonActiveRequests or an extra signal's name.
	Reason string
	// Detail gives the values that tripped it, for logs.
	Detail string
	// RetryAfter is the wait to send in the Retry-After header.
	RetryAfter time.Duration

	count *atomic.Uint64 // this reason's shed counter
}

func (e *OverloadedError) Error() string {
	return "shed: overloaded (" + e.Reason + "): " + e.Detail
}

// Is makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadedError) Is(target error) bool { return target == ErrOverloaded }

// Shedder holds the cached load state of one process. Begin, End and Check are safe for
// concurrent use and do not allocate.
type Shedder struct {
	cfg       Config
	active    atomic.Int64
	state     atomic.Pointer[sample]
	activeErr *OverloadedError

	shedMemory, shedHeap, shedActive atomic.Uint64

	sampling sync.Mutex // serialises Refresh; guards buf
	mem      memSource
	buf      []metrics.Sample
	mu       sync.Mutex // guards signals, which only grows
	signals  []*signal
}

type signal struct {
	name   string
	sample func() (bool, string)
	shed   atomic.Uint64
}

// sample is one reading of the sampled signals; trip is the error to shed with, or nil.
type sample struct {
	at                  time.Time
	rss, memLimit       int64
	memSource, memErr   string
	heap, heapLimit     int64
	heapSource, heapErr string
	signals             []SignalState
	trip                *OverloadedError
}

// liveHeap is the heap the last collection found alive. Unlike the heap in use, it does not
// count garbage waiting for the next collection, which under a high GOGC (package gcpolicy)
// is most of the heap: what is alive is what a cap on memory has to hold.
const liveHeap = "/gc/heap/live:bytes"

// New returns a Shedder with its first sample taken. Call Run to keep the sample fresh.
func New(cfg Config) (*Shedder, error) {
	return newShedder(cfg, newMemSource("/"))
}

func newShedder(cfg Config, mem memSource) (*Shedder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Shedder{
		cfg: cfg,
		mem: mem,
		buf: []metrics.Sample{{Name: liveHeap}},
	}
	s.activeErr = &OverloadedError{
		Reason:     ReasonActiveRequests,
		Detail:     fmt.Sprintf("active requests reached the threshold of %d", cfg.ActiveRequestsThreshold),
		RetryAfter: cfg.RetryAfter,
		count:      &s.shedActive,
	}
	s.Refresh()
	return s, nil
}

// AddSignal plugs in an extra overload signal, sampled with memory and heap from the next
// Refresh on. sample reports whether to shed and a detail for the error and the snapshot; it
// runs on the refresher's goroutine, never on a request's, so it may ask a server, but it
// delays the other signals' sampling while it runs.
func (s *Shedder) AddSignal(name string, sample func() (bool, string)) error {
	if name == "" || sample == nil {
		return errors.New("shed: a signal needs a name and a sample function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case ReasonMemory, ReasonHeap, ReasonActiveRequests:
		return fmt.Errorf("shed: signal name %q is a built-in reason", name)
	}
	for _, sg := range s.signals {
		if sg.name == name {
			return fmt.Errorf("shed: signal %q is already added", name)
		}
	}
	s.signals = append(s.signals, &signal{name: name, sample: sample})
	return nil
}

// Run refreshes the sample every SampleInterval until ctx ends.
func (s *Shedder) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Refresh()
		}
	}
}

// Begin admits one request: it returns nil, and the request counts as active until End; or
// an error wrapping ErrOverloaded, counted as shed, and there is nothing to end. With an active
// requests threshold of N, the (N+1)th concurrent Begin is refused.
func (s *Shedder) Begin() error {
	if t := s.state.Load().trip; t != nil {
		t.count.Add(1)
		return t
	}
	n := s.active.Add(1)
	if lim := s.cfg.ActiveRequestsThreshold; lim > 0 && n > int64(lim) {
		s.active.Add(-1)
		s.shedActive.Add(1)
		return s.activeErr
	}
	return nil
}

// End ends a request Begin admitted.
func (s *Shedder) End() { s.active.Add(-1) }

// Check reports whether a new request would be shed now, without admitting one or counting
// it: nil, or the error Begin would return.
func (s *Shedder) Check() error {
	if t := s.state.Load().trip; t != nil {
		return t
	}
	if lim := s.cfg.ActiveRequestsThreshold; lim > 0 && s.active.Load() >= int64(lim) {
		return s.activeErr
	}
	return nil
}

// Refresh samples memory, heap and the extra signals now and publishes the verdict. Run calls
// it on a ticker; a caller needing a fresh reading (a test, an operator's endpoint) may too.
func (s *Shedder) Refresh() {
	s.sampling.Lock()
	defer s.sampling.Unlock()
	s.mu.Lock()
	signals := s.signals[:len(s.signals):len(s.signals)]
	s.mu.Unlock()
	st := &sample{at: time.Now()}

	var err error
	if st.rss, err = s.mem.rss(); err != nil {
		st.memErr = err.Error()
	}
	memLimit, memSource, limErr := s.mem.limit()
	if limErr != nil && st.memErr == "" {
		st.memErr = limErr.Error()
	}
	if st.memErr == "" {
		st.memLimit, st.memSource = memLimit, memSource
	}

	metrics.Read(s.buf)
	if s.buf[0].Value.Kind() == metrics.KindUint64 {
		st.heap = int64(s.buf[0].Value.Uint64())
	}
	switch gml := debug.SetMemoryLimit(-1); {
	case gml != math.MaxInt64:
		st.heapLimit, st.heapSource = gml, "GOMEMLIMIT"
	case limErr == nil:
		st.heapLimit, st.heapSource = memLimit, memSource
	default:
		st.heapErr = limErr.Error()
	}

	if t := s.cfg.MemoryThreshold; t > 0 && st.memLimit > 0 {
		if r := ratio(st.rss, st.memLimit); r > t {
			st.trip = &OverloadedError{
				Reason:     ReasonMemory,
				Detail:     fmt.Sprintf("resident memory %s is %.1f%% of the %s limit (%s), over the %.1f%% threshold", bytesString(st.rss), 100*r, bytesString(st.memLimit), st.memSource, 100*t),
				RetryAfter: s.cfg.RetryAfter,
				count:      &s.shedMemory,
			}
		}
	}
	if t := s.cfg.HeapThreshold; t > 0 && st.heapLimit > 0 && st.trip == nil {
		if r := ratio(st.heap, st.heapLimit); r > t {
			st.trip = &OverloadedError{
				Reason:     ReasonHeap,
				Detail:     fmt.Sprintf("live Go heap %s is %.1f%% of the %s limit (%s), over the %.1f%% threshold", bytesString(st.heap), 100*r, bytesString(st.heapLimit), st.heapSource, 100*t),
				RetryAfter: s.cfg.RetryAfter,
				count:      &s.shedHeap,
			}
		}
	}
	st.signals = make([]SignalState, len(signals))
	for i, sg := range signals {
		tripped, detail := sg.sample()
		st.signals[i] = SignalState{Name: sg.name, Tripped: tripped, Detail: detail}
		if tripped && st.trip == nil {
			st.trip = &OverloadedError{Reason: sg.name, Detail: detail, RetryAfter: s.cfg.RetryAfter, count: &sg.shed}
		}
	}
	s.state.Store(st)
}

func ratio(used, limit int64) float64 {
	if limit <= 0 {
		return 0
	}
	return float64(used) / float64(limit)
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
