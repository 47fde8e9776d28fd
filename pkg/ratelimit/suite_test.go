package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/internal/redistest"
	"github.com/lynkr/lynkr/pkg/tenant"
)

func TestLocalBehaviour(t *testing.T) {
	testBehaviour(t, func(t *testing.T) Limiter { return NewLocal() })
}

func TestRedisBehaviour(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	testBehaviour(t, func(t *testing.T) Limiter { return NewRedis(client, "test:"+t.Name()) })
}

// Scopes of the behaviour tests.
var (
	keyA  = tenant.Scope{Kind: tenant.KindKey, Name: "key_a"}
	keyB  = tenant.Scope{Kind: tenant.KindKey, Name: "key_b"}
	teamT = tenant.Scope{Kind: tenant.KindTeam, Name: "t"}
)

// on pairs a scope with its policy, for allow.
type on struct {
	s tenant.Scope
	p tenant.Policy
}

// allow asks lim about one request of tokens and fails the test on error.
func allow(t *testing.T, lim Limiter, tokens int64, ons ...on) Decision {
	t.Helper()
	var scopes []tenant.Scope
	var policies []tenant.Policy
	for _, o := range ons {
		scopes, policies = append(scopes, o.s), append(policies, o.p)
	}
	d, err := lim.Allow(context.Background(), scopes, policies, tokens)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return d
}

// refill is how much a limit of perMinute regains in the time since start: what a test may
// see beyond the exact count, when the machine is slow.
func refilled(start time.Time, perMinute int64) int64 {
	return int64(time.Since(start).Seconds() * float64(perMinute) / 60)
}

// near checks a duration computed at some point since start, when the exact value at start
// was want: it is at most want and at least want minus the time passed (plus a little for
// rounding).
func near(t *testing.T, what string, got, want time.Duration, start time.Time) {
	t.Helper()
	if got > want+time.Millisecond || got < want-time.Since(start)-time.Millisecond {
		t.Errorf("%s = %v, want %v (less at most the %v the test took)", what, got, want, time.Since(start))
	}
}

func wantRefused(t *testing.T, d Decision, scope tenant.Scope, unit string, limit int64) {
	t.Helper()
	if d.Allowed || d.Scope != scope || d.Unit != unit || d.Limit != limit || d.Remaining != 0 {
		t.Fatalf("decision = %+v, want refused by %s %s limit %d with 0 remaining", d, scope, unit, limit)
	}
}

// testBehaviour is what every Limiter does. newLimiter returns a limiter with no state,
// for one subtest.
func testBehaviour(t *testing.T, newLimiter func(t *testing.T) Limiter) {
	t.Run("burst of R then refused", func(t *testing.T) {
		lim, start := newLimiter(t), time.Now()
		const r = 10
		pol := tenant.Policy{RPM: r}
		for i := range r {
			d := allow(t, lim, 0, on{keyA, pol})
			if !d.Allowed || d.Scope != keyA || d.Unit != UnitRequests || d.Limit != r {
				t.Fatalf("request %d: %+v", i+1, d)
			}
			if want := int64(r - 1 - i); d.Remaining < want || d.Remaining > want+refilled(start, r) {
				t.Fatalf("request %d: remaining %d, want %d", i+1, d.Remaining, want)
			}
		}
		d := allow(t, lim, 0, on{keyA, pol})
		if refilled(start, r) == 0 {
			wantRefused(t, d, keyA, UnitRequests, r)
			near(t, "RetryAfter", d.RetryAfter, time.Minute/r, start)
			near(t, "Reset", d.Reset, time.Minute, start)
		}
	})

	t.Run("retry after is when the request passes", func(t *testing.T) {
		lim := newLimiter(t)
		pol := tenant.Policy{RPM: 120} // one every 500ms
		var d Decision
		for range 200 {
			if d = allow(t, lim, 0, on{keyA, pol}); !d.Allowed {
				break
			}
		}
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 500*time.Millisecond {
			t.Fatalf("decision = %+v, want refused for at most 500ms", d)
		}
		time.Sleep(d.RetryAfter + 20*time.Millisecond)
		if d := allow(t, lim, 0, on{keyA, pol}); !d.Allowed {
			t.Fatalf("after RetryAfter: %+v", d)
		}
	})

	t.Run("concurrent requests admit exactly R", func(t *testing.T) {
		lim, start := newLimiter(t), time.Now()
		const r = 20
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					d, err := lim.Allow(context.Background(), []tenant.Scope{keyA}, []tenant.Policy{{RPM: r}}, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := admitted.Load(); n < r || n > r+refilled(start, r) {
			t.Fatalf("admitted %d of 80, want %d", n, r)
		}
	})

	t.Run("team limit shared by its keys", func(t *testing.T) {
		lim, start := newLimiter(t), time.Now()
		team := on{teamT, tenant.Policy{RPM: 4}}
		for i, k := range []tenant.Scope{keyA, keyA, keyB, keyA} {
			d := allow(t, lim, 0, on{k, tenant.Policy{}}, team)
			if !d.Allowed || d.Scope != teamT || d.Limit != 4 {
				t.Fatalf("request %d: %+v, want allowed by the team", i+1, d)
			}
		}
		if refilled(start, 4) == 0 {
			wantRefused(t, allow(t, lim, 0, on{keyB, tenant.Policy{}}, team), teamT, UnitRequests, 4)
			wantRefused(t, allow(t, lim, 0, on{keyA, tenant.Policy{RPM: 100}}, team), teamT, UnitRequests, 4)
		}
	})

	t.Run("narrowest scope first, whatever the order given", func(t *testing.T) {
		lim := newLimiter(t)
		key, team := on{keyA, tenant.Policy{RPM: 1}}, on{teamT, tenant.Policy{RPM: 1}}
		if d := allow(t, lim, 0, team, key); !d.Allowed {
			t.Fatalf("first: %+v", d)
		}
		wantRefused(t, allow(t, lim, 0, team, key), keyA, UnitRequests, 1)
	})

	t.Run("rpm before tpm", func(t *testing.T) {
		lim := newLimiter(t)
		key := on{keyA, tenant.Policy{RPM: 1, TPM: 10}}
		if d := allow(t, lim, 5, key); !d.Allowed {
			t.Fatalf("first: %+v", d)
		}
		wantRefused(t, allow(t, lim, 20, key), keyA, UnitRequests, 1)
	})

	t.Run("tokens per minute", func(t *testing.T) {
		lim, start := newLimiter(t), time.Now()
		key := on{keyA, tenant.Policy{TPM: 1000}}
		d := allow(t, lim, 600, key)
		if !d.Allowed || d.Unit != UnitTokens || d.Limit != 1000 || d.Remaining < 400 || d.Remaining > 400+refilled(start, 1000) {
			t.Fatalf("600 of 1000: %+v", d)
		}
		near(t, "Reset", d.Reset, 36*time.Second, start)
		d = allow(t, lim, 600, key)
		wantRefused(t, d, keyA, UnitTokens, 1000)
		near(t, "RetryAfter", d.RetryAfter, 12*time.Second, start) // 200 tokens short
		if d := allow(t, lim, 400, key); !d.Allowed || d.Remaining > refilled(start, 1000) {
			t.Fatalf("the other 400: %+v", d)
		}
	})

	t.Run("a request bigger than a minute's tokens takes the whole minute", func(t *testing.T) {
		lim, start := newLimiter(t), time.Now()
		key := on{keyA, tenant.Policy{TPM: 10}}
		d := allow(t, lim, 5000, key)
		if !d.Allowed || d.Remaining != 0 {
			t.Fatalf("5000 of 10 on a full minute: %+v, want allowed with 0 remaining", d)
		}
		near(t, "Reset", d.Reset, time.Minute, start)
		d = allow(t, lim, 1, key)
		wantRefused(t, d, keyA, UnitTokens, 10)
		near(t, "RetryAfter", d.RetryAfter, 6*time.Second, start)

		// Not on a minute that is not full.
		start = time.Now()
		key = on{keyB, tenant.Policy{TPM: 10}}
		if d := allow(t, lim, 1, key); !d.Allowed {
			t.Fatalf("1 of 10: %+v", d)
		}
		d = allow(t, lim, 5000, key)
		wantRefused(t, d, keyB, UnitTokens, 10)
		near(t, "RetryAfter", d.RetryAfter, 6*time.Second, start)
	})

	t.Run("policy change takes effect", func(t *testing.T) {
		lim := newLimiter(t)
		for range 5 {
			if d := allow(t, lim, 0, on{keyA, tenant.Policy{RPM: 100}}); !d.Allowed {
				t.Fatalf("at 100 rpm: %+v", d)
			}
		}
		// Lowered to 2: a request or two more (Redis counts the 5 taken as 3s of a
		// minute, Local as 5 of 100 requests), then refused under the new limit.
		var admitted int
		var d Decision
		for ; admitted < 10; admitted++ {
			if d = allow(t, lim, 0, on{keyA, tenant.Policy{RPM: 2}}); !d.Allowed {
				break
			}
		}
		if admitted < 1 || admitted > 2 {
			t.Fatalf("admitted %d after lowering to 2 rpm, want 1 or 2", admitted)
		}
		wantRefused(t, d, keyA, UnitRequests, 2)

		// Raised: an exhausted 1 rpm limit refuses for a minute; at 6000 rpm for 10ms.
		if d := allow(t, lim, 0, on{keyB, tenant.Policy{RPM: 1}}); !d.Allowed {
			t.Fatalf("at 1 rpm: %+v", d)
		}
		if d := allow(t, lim, 0, on{keyB, tenant.Policy{RPM: 1}}); d.Allowed || d.RetryAfter < 50*time.Second {
			t.Fatalf("at 1 rpm: %+v, want refused for about a minute", d)
		}
		d = allow(t, lim, 0, on{keyB, tenant.Policy{RPM: 6000}})
		if d.Limit != 6000 || !d.Allowed && d.RetryAfter > 10*time.Millisecond {
			t.Fatalf("raised to 6000 rpm: %+v, want allowed or refused for at most 10ms", d)
		}
	})

	t.Run("the tightest limit reports when allowed", func(t *testing.T) {
		lim := newLimiter(t)
		d := allow(t, lim, 0, on{keyA, tenant.Policy{RPM: 100}}, on{teamT, tenant.Policy{RPM: 3}})
		if !d.Allowed || d.Scope != teamT || d.Limit != 3 || d.Remaining != 2 {
			t.Fatalf("decision = %+v, want the team's 2 of 3 left", d)
		}
		d = allow(t, lim, 900, on{keyB, tenant.Policy{RPM: 10, TPM: 1000}})
		if !d.Allowed || d.Scope != keyB || d.Unit != UnitTokens || d.Remaining != 100 {
			t.Fatalf("decision = %+v, want the key's 100 of 1000 tokens left", d)
		}
	})

	t.Run("no limits", func(t *testing.T) {
		lim := newLimiter(t)
		for _, c := range [][]on{
			nil,
			{{keyA, tenant.Policy{}}, {teamT, tenant.Policy{DailyTokens: 1}}},
			{{keyA, tenant.Policy{TPM: 10}}}, // no tokens, no cost
		} {
			if d := allow(t, lim, 0, c...); d != (Decision{Allowed: true}) {
				t.Errorf("%v: %+v, want Decision{Allowed: true}", c, d)
			}
		}
	})

	t.Run("scopes and policies must pair", func(t *testing.T) {
		lim := newLimiter(t)
		d, err := lim.Allow(context.Background(), []tenant.Scope{keyA, teamT}, []tenant.Policy{{RPM: 1}}, 0)
		if err == nil || d != (Decision{}) {
			t.Fatalf("Allow = %+v, %v; want an error and no decision", d, err)
		}
	})
}
