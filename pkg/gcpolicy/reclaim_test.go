package gcpolicy

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestWorthCollecting(t *testing.T) {
	const mib = 1 << 20
	quiet := heapLook{cycles: 7, live: 10 * mib, objects: 200 * mib, collecting: true}
	for _, tc := range []struct {
		name     string
		prev     heapLook
		cur      heapLook
		collects bool
	}{
		{"quiet with garbage", quiet, quiet, true},
		{"quiet with free memory not returned", quiet, heapLook{cycles: 7, live: 10 * mib, objects: 11 * mib, free: 150 * mib, collecting: true}, true},
		{"a collection ran since", quiet, heapLook{cycles: 8, live: 10 * mib, objects: 200 * mib, collecting: true}, false},
		{"too little to claim", quiet, heapLook{cycles: 7, live: 10 * mib, objects: 40 * mib, free: 20 * mib, collecting: true}, false},
		{"less to claim than is alive", quiet, heapLook{cycles: 7, live: 300 * mib, objects: 500 * mib, collecting: true}, false},
		{"GOGC=off", quiet, heapLook{cycles: 7, live: 10 * mib, objects: 200 * mib}, false},
		{"live above the objects (a collection is under way)", quiet, heapLook{cycles: 7, live: 100 * mib, objects: 90 * mib, collecting: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := worthCollecting(tc.prev, tc.cur, ReclaimMinGarbage); got != tc.collects {
				t.Errorf("worthCollecting = %t, want %t", got, tc.collects)
			}
		})
	}
}

// leaveGarbage allocates n bytes and drops them, with collection off meanwhile so that they
// are still garbage when it returns, and GOGC back at gogc.
func leaveGarbage(n, gogc int) {
	debug.SetGCPercent(-1)
	var keep [][]byte
	for range n >> 20 {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
	}
	runtime.KeepAlive(keep)
	debug.SetGCPercent(gogc)
}

func released() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A quiet process holding a burst's garbage collects it, and the scavenger then returns the
// memory to the operating system.
func TestReclaimCollectsAfterABurstAndTheMemoryGoesBack(t *testing.T) {
	restore(t)
	debug.SetMemoryLimit(-1)
	runtime.GC()
	r := newReclaimer()
	leaveGarbage(256<<20, GCPercent)
	before, start := r.look(), released()
	if before.unclaimed() < 200<<20 {
		t.Fatalf("the burst left %d MiB unclaimed, want about 256", before.unclaimed()>>20)
	}
	after, collected := r.step(before, ReclaimMinGarbage)
	if !collected || after.cycles == before.cycles {
		t.Fatalf("step did not collect %d MiB of garbage", before.unclaimed()>>20)
	}
	if after.objects > before.objects-200<<20 {
		t.Errorf("heap objects %d MiB after the collection, %d MiB before", after.objects>>20, before.objects>>20)
	}
	deadline := time.Now().Add(20 * time.Second)
	for released() < start+128<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d MiB returned to the OS within 20s of the collections, want at least 128", (released()-start)>>20)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Nothing is forced while GOGC is off, nor when the runtime collected on its own since the
// last look.
func TestReclaimLeavesTheCollectorAlone(t *testing.T) {
	restore(t)
	debug.SetMemoryLimit(-1)
	r := newReclaimer()

	leaveGarbage(128<<20, -1)
	off := r.look()
	if next, collected := r.step(off, ReclaimMinGarbage); collected || next.cycles != off.cycles {
		t.Errorf("collected with GOGC=off")
	}

	debug.SetGCPercent(GCPercent)
	prev := r.look()
	runtime.GC()
	leaveGarbage(128<<20, GCPercent)
	if _, collected := r.step(prev, ReclaimMinGarbage); collected {
		t.Errorf("collected although the runtime had collected since the last look")
	}
}

func TestStartReclaimStops(t *testing.T) {
	stop := StartReclaim()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reclaimer did not stop")
	}
}
