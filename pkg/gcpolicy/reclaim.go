package gcpolicy

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Why a process that went quiet after a burst keeps its memory, and what Reclaim does about it.
//
// Under GOGC=400 the heap may grow to five times what is alive before the next collection,
// so a burst (64 requests of 1 MiB, say) leaves hundreds of MiB of garbage. When the traffic
// stops nothing allocates, so no collection runs until the runtime forces one two minutes
// later. The runtime's scavenger, which gives free memory back to the operating system in
// the background, keeps what the last collection's heap goal allows, which the burst set
// high, and leaves alone for one more collection the memory that was densely used during
// the last one (the heap is densely packed at the end of a burst). A gateway idle at 25 MiB
// stayed at 366 MiB after three such bursts. The soft memory limit bounds how high that can
// go, not how long it stays.
//
// Reclaim collects when the process has gone a whole interval without a collection while the
// heap holds at least ReclaimMinGarbage beyond what is alive (garbage, and free memory not
// yet returned) and more than what is alive, so that what it forces, whose cost grows with
// the live heap, frees at least as much as it scans. It then collects and returns every free
// page to the operating system at once (debug.FreeOSMemory): left to itself, the scavenger
// keeps what the heap goal allows, five times what is alive under GOGC=400, so a gateway with
// 15 MiB alive would sit at over 100 MiB for good. That costs one collection and one pass
// over the free pages, in a process that has been idle for a whole interval: never on a
// request's path. A busy process collects on its own more often than that and is left alone.
const (
	// ReclaimInterval is how often Reclaim looks, and so how long garbage may sit unclaimed:
	// a quiet process gives a burst's memory back within two intervals.
	ReclaimInterval = 5 * time.Second
	// ReclaimMinGarbage is the least memory beyond what is alive (garbage, and free memory
	// not yet returned) worth a collection of its own.
	ReclaimMinGarbage = 64 << 20
)

// The runtime's figures Reclaim reads.
const (
	metricCycles  = "/gc/cycles/total:gc-cycles"
	metricLive    = "/gc/heap/live:bytes"
	metricObjects = "/memory/classes/heap/objects:bytes" // live objects and garbage not yet swept
	metricFree    = "/memory/classes/heap/free:bytes"    // free and not yet returned to the OS
	metricGOGC    = "/gc/gogc:percent"
)

// heapLook is one look at the collector: how many collections have run, what the last one
// found alive, what the heap's objects (garbage included) take now, its free memory not yet
// returned to the operating system, and whether collection is on (GOGC is not off).
type heapLook struct {
	cycles, live, objects, free uint64
	collecting                  bool
}

// unclaimed is what the heap holds beyond what the last collection found alive: garbage,
// and free memory the scavenger has not returned.
func (l heapLook) unclaimed() uint64 {
	return max(l.objects, l.live) - l.live + l.free
}

// worthCollecting reports whether a collection should be forced at cur, the look before
// being prev: collection is on (GOGC=off is the operator's choice of a heap that grows to the
// memory limit), none ran since prev, and the heap holds at least minUnclaimed beyond what is
// alive, and more than what is alive.
func worthCollecting(prev, cur heapLook, minUnclaimed uint64) bool {
	u := cur.unclaimed()
	return cur.collecting && cur.cycles == prev.cycles && u >= minUnclaimed && u > cur.live
}

// reclaimer holds the runtime/metrics samples of its looks, so looking allocates nothing.
type reclaimer struct {
	samples []metrics.Sample
}

func newReclaimer() *reclaimer {
	return &reclaimer{samples: []metrics.Sample{{Name: metricCycles}, {Name: metricLive}, {Name: metricObjects}, {Name: metricFree},
		{Name: metricGOGC}}}
}

func (r *reclaimer) look() heapLook {
	metrics.Read(r.samples)
	return heapLook{
		cycles:     r.samples[0].Value.Uint64(),
		live:       r.samples[1].Value.Uint64(),
		objects:    r.samples[2].Value.Uint64(),
		free:       r.samples[3].Value.Uint64(),
		collecting: int64(r.samples[4].Value.Uint64()) >= 0, // -1 when GOGC=off
	}
}

// step takes one look and collects if it is worth it, reporting whether it did; it returns
// the look to compare the next one with (after its collections, if it made them).
func (r *reclaimer) step(prev heapLook, minUnclaimed uint64) (heapLook, bool) {
	cur := r.look()
	if !worthCollecting(prev, cur, minUnclaimed) {
		return cur, false
	}
	debug.FreeOSMemory() // collects, then returns every free page
	return r.look(), true
}

// Reclaim looks at the heap every interval until ctx ends and collects when the process has
// gone a whole interval without a collection while holding at least ReclaimMinGarbage beyond
// what is alive, and more than what is alive (see ReclaimInterval). The collection runs on
// Reclaim's goroutine, never on a request's; the scavenger then returns the freed memory to
// the operating system. It does nothing while GOGC is off.
func Reclaim(ctx context.Context, interval time.Duration) {
	r := newReclaimer()
	prev := r.look()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			prev, _ = r.step(prev, ReclaimMinGarbage)
		}
	}
}

// StartReclaim runs Reclaim every ReclaimInterval on a goroutine of its own, for a command's
// main: the function it returns stops it and waits for it to end.
//
//	defer gcpolicy.StartReclaim()()
func StartReclaim() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { Reclaim(ctx, ReclaimInterval) })
	return func() {
		cancel()
		wg.Wait()
	}
}
