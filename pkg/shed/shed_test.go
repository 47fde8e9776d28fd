package shed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// quiet is a config with every built-in signal off, for tests that turn on one at a time.
func quiet() Config {
	c := DefaultConfig()
	c.MemoryThreshold, c.HeapThreshold, c.ActiveRequestsThreshold = 0, 0, 0
	return c
}

func newShed(t testing.TB, c Config) *Shedder {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// overloaded asserts err sheds for reason and returns it.
func overloaded(t *testing.T, err error, reason string) *OverloadedError {
	t.Helper()
	var oe *OverloadedError
	if !errors.Is(err, ErrOverloaded) || !errors.As(err, &oe) {
		t.Fatalf("err = %v, want an OverloadedError (%s)", err, reason)
	}
	if oe.Reason != reason || oe.RetryAfter <= 0 || oe.Detail == "" || !strings.Contains(err.Error(), reason) {
		t.Fatalf("err = %q (reason %q, retry after %s), want reason %q, a detail and a positive RetryAfter", err, oe.Reason, oe.RetryAfter, reason)
	}
	return oe
}

func admitted(t *testing.T, s *Shedder) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := s.Begin(); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	s.End()
}

func TestDefaultsAdmit(t *testing.T) {
	admitted(t, newShed(t, DefaultConfig()))
}

func TestMemoryThresholdTrips(t *testing.T) {
	c := quiet()
	c.MemoryThreshold = 0.0001
	c.RetryAfter = 3 * time.Second
	s := newShed(t, c)
	oe := overloaded(t, s.Check(), ReasonMemory)
	if oe.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %s, want the configured 3s", oe.RetryAfter)
	}
	overloaded(t, s.Begin(), ReasonMemory)
	overloaded(t, s.Check(), ReasonMemory) // Check does not count
	snap := s.Snapshot()
	if !snap.Overloaded || snap.Reason != ReasonMemory || snap.Shed[ReasonMemory] != 1 || snap.ActiveRequests.Current != 0 {
		t.Errorf("snapshot = %+v, want overloaded by memory, shed once, nothing active", snap)
	}
	if snap.Memory.UsedBytes <= 0 || snap.Memory.LimitBytes <= 0 || snap.Memory.Ratio <= c.MemoryThreshold {
		t.Errorf("memory state = %+v, want the process's RSS over its limit's 0.0001", snap.Memory)
	}
}

func TestHeapThresholdTrips(t *testing.T) {
	c := quiet()
	c.HeapThreshold = 1e-9 // a test binary's heap is a few MiB, 0.0001 of a big machine's RAM
	runtime.GC()           // the live heap is known from the first collection on
	s := newShed(t, c)
	overloaded(t, s.Begin(), ReasonHeap)
	if snap := s.Snapshot(); snap.Shed[ReasonHeap] != 1 || snap.Heap.UsedBytes <= 0 {
		t.Errorf("snapshot = %+v, want one heap shed and the live heap", snap)
	}
}

// The heap signal trips when live objects grow past the threshold and recovers once they are
// collected; garbage not yet collected does not count. GOMEMLIMIT is left alone, so the limit
// is the memory limit.
func TestHeapRecovers(t *testing.T) {
	probe := newShed(t, quiet()).Snapshot().Heap
	if probe.LimitBytes <= 0 {
		t.Fatalf("no heap limit to test against: %+v", probe)
	}
	const grow = 256 << 20
	c := quiet()
	c.HeapThreshold = float64(probe.UsedBytes+grow/2) / float64(probe.LimitBytes)
	s := newShed(t, c)
	admitted(t, s)

	// With collection off (not parallel: the setting is process-wide), garbage stays garbage.
	gogc := debug.SetGCPercent(-1)
	garbage := make([]byte, grow)
	garbage[0] = 1
	garbage = nil
	s.Refresh()
	admitted(t, s) // allocated, dropped, not yet collected: not alive
	debug.SetGCPercent(gogc)

	ballast := make([]byte, grow)
	runtime.GC()
	s.Refresh()
	overloaded(t, s.Begin(), ReasonHeap)
	runtime.KeepAlive(ballast)

	ballast = nil
	runtime.GC()
	s.Refresh()
	admitted(t, s)
}

// GOMEMLIMIT, when set, is the heap's limit: a heap at half of it trips a 0.25 threshold that
// the same heap against the machine's memory does not. Not parallel: the limit is process-wide.
func TestHeapUsesGOMEMLIMIT(t *testing.T) {
	c := quiet()
	c.HeapThreshold = 0.25
	old := debug.SetMemoryLimit(math.MaxInt64) // unset, whatever the environment says
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	s := newShed(t, c)
	admitted(t, s)

	limit := max(2*s.Snapshot().Heap.UsedBytes, 64<<20)
	debug.SetMemoryLimit(limit)
	ballast := make([]byte, limit/2)
	runtime.GC()
	s.Refresh()
	heap := s.Snapshot().Heap
	if heap.LimitSource != "GOMEMLIMIT" || heap.LimitBytes != limit {
		t.Fatalf("heap state = %+v, want GOMEMLIMIT %d as the limit", heap, limit)
	}
	overloaded(t, s.Begin(), ReasonHeap)
	runtime.KeepAlive(ballast)

	debug.SetMemoryLimit(math.MaxInt64)
	s.Refresh()
	admitted(t, s)
}

func TestActiveRequestsThreshold(t *testing.T) {
	c := quiet()
	c.ActiveRequestsThreshold = 3
	s := newShed(t, c)
	for i := range 3 {
		if err := s.Begin(); err != nil {
			t.Fatalf("Begin %d of 3: %v", i+1, err)
		}
	}
	overloaded(t, s.Check(), ReasonActiveRequests)
	overloaded(t, s.Begin(), ReasonActiveRequests)
	if snap := s.Snapshot(); snap.ActiveRequests.Current != 3 || snap.Shed[ReasonActiveRequests] != 1 || !snap.Overloaded {
		t.Errorf("snapshot = %+v, want 3 active, 1 shed, overloaded", snap)
	}
	s.End()
	if err := s.Begin(); err != nil {
		t.Fatalf("Begin after one End: %v", err)
	}
	for range 3 {
		s.End()
	}
	if n := s.Snapshot().ActiveRequests.Current; n != 0 {
		t.Errorf("active = %d after every End", n)
	}
}

// Under contention the threshold is never exceeded: no more than N requests are between a
// successful Begin and its End at any moment.
func TestActiveRequestsConcurrent(t *testing.T) {
	const limit = 8
	c := quiet()
	c.ActiveRequestsThreshold = limit
	s := newShed(t, c)
	var inside, peak, refused atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 500 {
				if s.Begin() != nil {
					refused.Add(1)
					continue
				}
				n := inside.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched()
				inside.Add(-1)
				s.End()
			}
		})
	}
	wg.Wait()
	if peak.Load() > limit {
		t.Errorf("%d requests were active at once, threshold %d", peak.Load(), limit)
	}
	if got := s.Snapshot().Shed[ReasonActiveRequests]; got != uint64(refused.Load()) {
		t.Errorf("shed count %d, refused %d", got, refused.Load())
	}
	if n := s.Snapshot().ActiveRequests.Current; n != 0 {
		t.Errorf("active = %d after every End", n)
	}
}

func TestExtraSignal(t *testing.T) {
	s := newShed(t, quiet())
	var backlog atomic.Bool
	err := s.AddSignal("jetstream_backlog", func() (bool, string) {
		if backlog.Load() {
			return true, "provider openai: 5000 requests waiting, threshold 1000"
		}
		return false, "provider openai: 3 requests waiting"
	})
	if err != nil {
		t.Fatal(err)
	}
	backlog.Store(true)
	admitted(t, s) // the cached state until the next sample

	s.Refresh()
	oe := overloaded(t, s.Begin(), "jetstream_backlog")
	if !strings.Contains(oe.Detail, "5000 requests waiting") {
		t.Errorf("detail %q does not carry the signal's own", oe.Detail)
	}
	snap := s.Snapshot()
	if snap.Shed["jetstream_backlog"] != 1 || len(snap.Signals) != 1 || !snap.Signals[0].Tripped {
		t.Errorf("snapshot = %+v, want the signal tripped and shed once", snap)
	}

	backlog.Store(false)
	s.Refresh()
	admitted(t, s)
	if snap := s.Snapshot(); snap.Signals[0].Tripped || snap.Signals[0].Detail != "provider openai: 3 requests waiting" {
		t.Errorf("signal state after recovery = %+v", snap.Signals[0])
	}

	for _, name := range []string{"", ReasonMemory, "jetstream_backlog"} {
		if err := s.AddSignal(name, func() (bool, string) { return false, "" }); err == nil {
			t.Errorf("AddSignal(%q) accepted", name)
		}
	}
}

// Run keeps the state fresh: a signal that trips is seen at the next sample, without anyone
// calling Refresh, and not before. In a synctest bubble the samples come at exact times.
func TestRunRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := quiet()
		c.SampleInterval = time.Second
		s := newShed(t, c)
		var cluster atomic.Bool
		if err := s.AddSignal("redis", func() (bool, string) { return cluster.Load(), "shared counter over limit" }); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		// waitSample lets d pass and the sample due by then finish.
		waitSample := func(d time.Duration) { time.Sleep(d); synctest.Wait() }
		cluster.Store(true)
		waitSample(c.SampleInterval - time.Nanosecond)
		if err := s.Check(); err != nil {
			t.Fatalf("shed before the first sample: %v", err)
		}
		waitSample(time.Nanosecond)
		overloaded(t, s.Check(), "redis")
		cluster.Store(false)
		waitSample(c.SampleInterval - time.Nanosecond)
		overloaded(t, s.Check(), "redis")
		waitSample(time.Nanosecond)
		if err := s.Check(); err != nil {
			t.Fatalf("still shed after a sample of the recovered signal: %v", err)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestSnapshotJSON(t *testing.T) {
	c := DefaultConfig()
	s := newShed(t, c)
	if err := s.AddSignal("backlog", func() (bool, string) { return false, "" }); err != nil {
		t.Fatal(err)
	}
	s.Refresh()
	if err := s.Begin(); err != nil {
		t.Fatal(err)
	}
	defer s.End()
	b, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Overloaded bool `json:"overloaded"`
		Memory     struct {
			Used      int64   `json:"used_bytes"`
			Limit     int64   `json:"limit_bytes"`
			Threshold float64 `json:"threshold"`
		} `json:"memory"`
		Heap struct {
			Threshold float64 `json:"threshold"`
		} `json:"heap"`
		Active struct {
			Current   int64 `json:"current"`
			Threshold int   `json:"threshold"`
		} `json:"active_requests"`
		Shed    map[string]uint64 `json:"shed_total"`
		Signals []SignalState     `json:"signals"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Overloaded || got.Memory.Used <= 0 || got.Memory.Limit <= 0 || got.Memory.Threshold != 0.85 ||
		got.Heap.Threshold != 0.90 || got.Active.Current != 1 || got.Active.Threshold != 1000 ||
		len(got.Shed) != 4 || len(got.Signals) != 1 {
		t.Errorf("snapshot JSON = %s", b)
	}
}

func BenchmarkCheck(b *testing.B) {
	s := newShed(b, DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		if s.Check() != nil {
			b.Fatal("shed")
		}
	}
}

func BenchmarkBeginEnd(b *testing.B) {
	s := newShed(b, DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		if s.Begin() != nil {
			b.Fatal("shed")
		}
		s.End()
	}
}

func BenchmarkBeginEndParallel(b *testing.B) {
	c := DefaultConfig()
	c.ActiveRequestsThreshold = 1 << 20
	s := newShed(b, c)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.Begin() != nil {
				panic("shed")
			}
			s.End()
		}
	})
}

// Shedding itself does not allocate either: overload is when allocation hurts most.
func BenchmarkBeginShed(b *testing.B) {
	c := quiet()
	c.MemoryThreshold = 0.0001
	s := newShed(b, c)
	b.ReportAllocs()
	for b.Loop() {
		if s.Begin() == nil {
			b.Fatal("admitted")
		}
	}
}
