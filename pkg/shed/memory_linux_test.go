package shed

import (
	"syscall"
	"testing"
)

// The memory signal trips when the process's resident memory grows past the threshold and
// recovers when it shrinks. The growth is an anonymous mapping outside the Go heap, touched
// page by page, so that unmapping it gives the memory back at once (the race detector does
// not shadow it either).
func TestMemoryRecovers(t *testing.T) {
	probe := newShed(t, quiet()).Snapshot().Memory
	if probe.Error != "" || probe.LimitBytes <= 0 {
		t.Fatalf("cannot read this process's memory: %+v", probe)
	}
	const grow = 256 << 20
	c := quiet()
	c.MemoryThreshold = float64(probe.UsedBytes+grow/2) / float64(probe.LimitBytes)
	s := newShed(t, c)
	admitted(t, s)

	mem, err := syscall.Mmap(-1, 0, grow, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	unmapped := false
	t.Cleanup(func() {
		if !unmapped {
			_ = syscall.Munmap(mem)
		}
	})
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	s.Refresh()
	oe := overloaded(t, s.Begin(), ReasonMemory)
	t.Logf("tripped: %s", oe.Detail)

	if err := syscall.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	unmapped = true
	s.Refresh()
	admitted(t, s)
}
