package gcpolicy

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"

	"github.com/lynkr/lynkr/pkg/config"
)

// restore puts the process's collector settings back after a test changed them. The tests of
// this package are not parallel: the settings are process-wide.
func restore(t *testing.T) {
	gogc := debug.SetGCPercent(100)
	debug.SetGCPercent(gogc)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(gogc)
		debug.SetMemoryLimit(limit)
	})
}

func limitOf(n int64, from string) func() (int64, string, error) {
	return func() (int64, string, error) { return n, from, nil }
}

func TestApplySetsGrowthAndAShareOfTheLimit(t *testing.T) {
	restore(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	s := Apply(config.Map(nil), limitOf(1<<30, "cgroup"))

	if got := debug.SetGCPercent(-1); got != GCPercent {
		t.Errorf("GC percent = %d, want %d", got, GCPercent)
	}
	gib := float64(1 << 30)
	want := int64(LimitFraction * gib)
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("memory limit = %d, want %d (70%% of 1 GiB)", got, want)
	}
	if s != (Settings{GCPercent: GCPercent, GCPercentFrom: "lynkr", MemoryLimit: want, MemoryLimitFrom: "70% of the cgroup limit"}) {
		t.Errorf("settings = %+v", s)
	}
}

// GOGC and GOMEMLIMIT are the operator's: the runtime applied them, Apply keeps them and
// reports them.
func TestApplyLeavesGoSettingsAlone(t *testing.T) {
	restore(t)
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(300 << 20)
	s := Apply(config.Map(map[string]string{"GOGC": "150", "GOMEMLIMIT": "300MiB"}), limitOf(1<<30, "cgroup"))

	if got := debug.SetGCPercent(-1); got != 150 {
		t.Errorf("GC percent = %d, want GOGC's 150", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("memory limit = %d, want GOMEMLIMIT's", got)
	}
	if s != (Settings{GCPercent: 150, GCPercentFrom: "GOGC", MemoryLimit: 300 << 20, MemoryLimitFrom: "GOMEMLIMIT"}) {
		t.Errorf("settings = %+v", s)
	}
}

// GOGC=off turns collection off; Apply reports it and does not turn it back on.
func TestApplyKeepsCollectionOff(t *testing.T) {
	restore(t)
	debug.SetGCPercent(-1)
	s := Apply(config.Map(map[string]string{"GOGC": "off"}), limitOf(1<<30, "ram"))
	if got := debug.SetGCPercent(-1); got != -1 || s.GCPercent != -1 {
		t.Errorf("GC percent = %d, reported %d, want -1 (off)", got, s.GCPercent)
	}
	if s.MemoryLimitFrom != "70% of the ram limit" {
		t.Errorf("memory limit from %q", s.MemoryLimitFrom)
	}
}

// Without a known memory limit there is no cap, and the growth still applies.
func TestApplyWithoutAMemoryLimit(t *testing.T) {
	restore(t)
	debug.SetMemoryLimit(math.MaxInt64)
	s := Apply(config.Map(nil), func() (int64, string, error) { return 0, "", errors.New("no /proc here") })
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 || s.MemoryLimit != math.MaxInt64 {
		t.Errorf("memory limit = %d, reported %d, want none", got, s.MemoryLimit)
	}
	if s.GCPercent != GCPercent {
		t.Errorf("GC percent = %d, want %d", s.GCPercent, GCPercent)
	}
	if args := s.LogArgs(); args[5] != "none" {
		t.Errorf("log args = %v, want no memory limit", args)
	}
}
