package ratelimit

import (
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// fakeClock is a Local's clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeLocal() (*Local, *fakeClock) {
	c := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLocal()
	l.now = c.now
	return l, c
}

// With its clock stopped, Local's arithmetic is exact.
func TestLocalExact(t *testing.T) {
	l, clock := newFakeLocal()
	key := on{keyA, tenant.Policy{RPM: 6, TPM: 600}}
	for i := range 6 {
		if d := allow(t, l, 10, key); !d.Allowed || d.Unit != UnitRequests || d.Remaining != int64(5-i) ||
			d.Reset != time.Duration(i+1)*10*time.Second {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d := allow(t, l, 10, key)
	if want := (Decision{Scope: keyA, Unit: UnitRequests, Limit: 6, RetryAfter: 10 * time.Second, Reset: time.Minute}); d != want {
		t.Fatalf("refused = %+v, want %+v", d, want)
	}
	clock.advance(10*time.Second - time.Nanosecond)
	if d := allow(t, l, 10, key); d.Allowed || d.RetryAfter != time.Nanosecond {
		t.Fatalf("1ns early: %+v", d)
	}
	clock.advance(time.Nanosecond)
	if d := allow(t, l, 10, key); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after RetryAfter: %+v", d)
	}
	// Tokens: 60 of 600 taken, 10s refilled 100 (up to the 600), 10 taken: 590 left. A
	// request over the minute's tokens needs all 600, in 1s.
	if d := allow(t, l, 10_000, on{keyA, tenant.Policy{TPM: 600}}); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("a minute's tokens on a part-empty minute: %+v", d)
	}
	clock.advance(time.Second)
	if d := allow(t, l, 10_000, on{keyA, tenant.Policy{TPM: 600}}); !d.Allowed || d.Remaining != 0 || d.Reset != time.Minute {
		t.Fatalf("a minute's tokens on a full minute: %+v", d)
	}
}

// Local checks every limit before taking from any: a request refused by its team's limit
// costs its key nothing.
func TestLocalRefusedCostsNothing(t *testing.T) {
	l, _ := newFakeLocal()
	key, team := on{keyA, tenant.Policy{RPM: 5, TPM: 100}}, on{teamT, tenant.Policy{RPM: 1}}
	allow(t, l, 10, key, team)
	for range 3 {
		wantRefused(t, allow(t, l, 10, key, team), teamT, UnitRequests, 1)
	}
	if d := allow(t, l, 0, key); d.Remaining != 3 {
		t.Fatalf("key's requests remaining = %d, want 3", d.Remaining)
	}
	if d := allow(t, l, 10, on{keyA, tenant.Policy{TPM: 100}}); d.Remaining != 80 {
		t.Fatalf("key's tokens remaining = %d, want 80", d.Remaining)
	}
}

// A limit unused for a minute is full again, so Local forgets it.
func TestLocalForgetsIdleLimits(t *testing.T) {
	l, clock := newFakeLocal()
	spent := on{keyA, tenant.Policy{RPM: 1}}
	allow(t, l, 0, spent)
	allow(t, l, 0, on{keyB, tenant.Policy{RPM: 1, TPM: 10}})
	clock.advance(30 * time.Second)
	allow(t, l, 0, on{teamT, tenant.Policy{RPM: 1}})
	if n := len(l.limits); n != 3 {
		t.Fatalf("%d limits kept, want 3", n)
	}
	clock.advance(40 * time.Second) // the keys' idle 70s, the team's 40s
	allow(t, l, 0, on{tenant.Scope{Kind: tenant.KindOrg, Name: "o"}, tenant.Policy{RPM: 1}})
	if _, ok := l.limits["team:t:rpm"]; len(l.limits) != 2 || !ok {
		t.Fatalf("limits kept = %v, want the team's and the org's", l.limits)
	}
	if d := allow(t, l, 0, spent); !d.Allowed {
		t.Fatalf("forgotten limit: %+v, want a full one", d)
	}
}

// A policy change updates the limiter in place.
func TestLocalPolicyChange(t *testing.T) {
	l, _ := newFakeLocal()
	for range 5 {
		allow(t, l, 0, on{keyA, tenant.Policy{RPM: 100}})
	}
	// 95 left, cut to the new burst of 2.
	for i := range 2 {
		if d := allow(t, l, 0, on{keyA, tenant.Policy{RPM: 2}}); !d.Allowed || d.Limit != 2 || d.Remaining != int64(1-i) {
			t.Fatalf("request %d at 2 rpm: %+v", i+1, d)
		}
	}
	d := allow(t, l, 0, on{keyA, tenant.Policy{RPM: 2}})
	wantRefused(t, d, keyA, UnitRequests, 2)
	if d.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s", d.RetryAfter)
	}
	// Raised: nothing left, refilling at 6000 a minute.
	if d := allow(t, l, 0, on{keyA, tenant.Policy{RPM: 6000}}); d.Allowed || d.RetryAfter != 10*time.Millisecond {
		t.Fatalf("raised to 6000 rpm: %+v, want refused for 10ms", d)
	}
	if n := len(l.limits); n != 1 {
		t.Fatalf("%d limits, want the one updated", n)
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := NewLocal()
	scopes := []tenant.Scope{keyA, teamT}
	policies := []tenant.Policy{{RPM: 1 << 40, TPM: 1 << 50}, {RPM: 1 << 40}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(b.Context(), scopes, policies, 100); err != nil {
			b.Fatal(err)
		}
	}
}
