package spend

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// reservation is a request of id against team's policy p that needs least tokens and may use
// most.
func reservation(id string, p tenant.Policy, least, most int64) Reservation {
	return Reservation{RequestID: id, Scopes: []tenant.Scope{key, team}, Policies: []tenant.Policy{{}, p},
		Least: Estimate{Tokens: least}, Most: Estimate{Tokens: most}, TTL: time.Minute}
}

// reserve reserves r now and returns the refusal, nil when admitted; any other error fails.
func reserve(t *testing.T, l Ledger, r Reservation) *OverBudgetError {
	t.Helper()
	err := l.Reserve(t.Context(), r, time.Now())
	var e *OverBudgetError
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("Reserve(%s): %v", r.RequestID, err)
	}
	return e
}

// held is what team holds now, as Spent says.
func held(t *testing.T, l Ledger) Held {
	t.Helper()
	return spent(t, l, time.Now(), team)[0].Held
}

// waitFor polls cond until it holds, failing the test past a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testReservations is the conformance suite of Reserve and Release, and of Charge ending
// holds, that every Ledger passes. open returns a new, empty ledger for each subtest.
func testReservations(t *testing.T, open func(t *testing.T) Ledger) {
	budget := tenant.Policy{DailyTokens: 100}

	t.Run("HoldsUntilCharged", func(t *testing.T) {
		l := open(t)
		if e := reserve(t, l, reservation("a", budget, 10, 60)); e != nil {
			t.Fatalf("refused: %v", e)
		}
		if h := held(t, l); h != (Held{Tokens: 60}) {
			t.Fatalf("team holds %+v, want 60 tokens", h)
		}
		// The key has no budget: it holds nothing.
		if h := spent(t, l, time.Now(), key)[0].Held; h != (Held{}) {
			t.Errorf("key holds %+v, want nothing", h)
		}
		// 40 left: room for the least of another request, not its most. It is the tail.
		if e := reserve(t, l, reservation("b", budget, 10, 60)); e != nil {
			t.Fatalf("the tail refused: %v", e)
		}
		if h := held(t, l); h != (Held{Tokens: 100}) {
			t.Fatalf("team holds %+v, want all 100 tokens", h)
		}
		e := reserve(t, l, reservation("c", budget, 1, 1))
		if e == nil || !e.Transient() || e.Held != 100 || e.Spent != 0 {
			t.Fatalf("with the budget held: %+v, want refused while the holds last", e)
		}
		// a used 25 of its 60: spent 25, held 40 by b, 35 left.
		charge(t, l, 1, Charge{RequestID: "a", Scopes: []tenant.Scope{key, team}, Tokens: 25})
		s := spent(t, l, time.Now(), team)[0]
		if s.Day.Tokens != 25 || s.Held != (Held{Tokens: 40}) {
			t.Fatalf("after a's charge: spent %d, held %+v; want 25 and 40", s.Day.Tokens, s.Held)
		}
		// Another tail cannot start while b is one, though there is room for its least.
		e = reserve(t, l, reservation("d", budget, 10, 60))
		if e == nil || !e.Transient() || e.Spent != 25 || e.Held != 40 || e.Estimate != 10 || e.Most != 60 {
			t.Fatalf("a second tail: %+v, want refused while the first runs", e)
		}
		if e := reserve(t, l, reservation("e", budget, 10, 35)); e != nil {
			t.Fatalf("a request within what is left: %v", e)
		}
		// b used more than it held: the budget is passed by its excess, and no more.
		charge(t, l, 2,
			Charge{RequestID: "b", Scopes: []tenant.Scope{key, team}, Tokens: 60},
			Charge{RequestID: "e", Scopes: []tenant.Scope{key, team}, Tokens: 35})
		s = spent(t, l, time.Now(), team)[0]
		if s.Day.Tokens != 120 || s.Held != (Held{}) {
			t.Fatalf("after every charge: spent %d, held %+v; want 120 and nothing", s.Day.Tokens, s.Held)
		}
		e = reserve(t, l, reservation("f", budget, 0, 0))
		if e == nil || e.Transient() || e.Spent != 120 || e.Held != 0 || !e.ResetAt.Equal(dayStart(time.Now()).AddDate(0, 0, 1)) {
			t.Fatalf("over the budget: %+v, want refused until tomorrow", e)
		}
	})

	t.Run("RefusalsNameTheFirstBudget", func(t *testing.T) {
		l := open(t)
		p := tenant.Policy{DailyTokens: 1000, MonthlyTokens: 50, DailyCostUSD: 1}
		charge(t, l, 1, Charge{RequestID: "old", Scopes: []tenant.Scope{team}, Tokens: 45, Cost: USD(0.5)})
		r := reservation("r", p, 10, 10)
		r.Least.Cost, r.Most.Cost = USD(0.1), USD(0.1)
		e := reserve(t, l, r)
		now := time.Now()
		want := OverBudgetError{Scope: team, Period: PeriodMonthly, Unit: UnitTokens, Limit: 50, Spent: 45, Estimate: 10, Most: 10,
			ResetAt: monthStart(now).AddDate(0, 1, 0)}
		if e == nil || *e != want {
			t.Fatalf("refusal %+v, want %+v", e, want)
		}
		r.Least.Tokens, r.Most.Tokens, r.Least.Cost, r.Most.Cost = 5, 5, USD(0.6), USD(0.6)
		e = reserve(t, l, r)
		want = OverBudgetError{Scope: team, Period: PeriodDaily, Unit: UnitCost, Limit: 1, Spent: 0.5, Estimate: 0.6, Most: 0.6,
			ResetAt: dayStart(now).AddDate(0, 0, 1)}
		if e == nil || *e != want {
			t.Fatalf("refusal %+v, want %+v", e, want)
		}
		// The key's own budget is narrower than the team's: it is named first.
		r = reservation("k", p, 10, 10)
		r.Policies[0] = tenant.Policy{DailyTokens: 5}
		if e := reserve(t, l, r); e == nil || e.Scope != key || e.Limit != 5 {
			t.Fatalf("refusal %+v, want the key's", e)
		}
	})

	t.Run("ReleaseEndsOrLapses", func(t *testing.T) {
		l := open(t)
		if e := reserve(t, l, reservation("a", budget, 60, 60)); e != nil {
			t.Fatal(e)
		}
		if e := reserve(t, l, reservation("b", budget, 60, 60)); e == nil {
			t.Fatal("b admitted while a holds 60 of 100")
		}
		if err := l.Release(t.Context(), "a", []tenant.Scope{key, team}, Lapse{}); err != nil {
			t.Fatal(err)
		}
		if h := held(t, l); h != (Held{}) {
			t.Fatalf("after the release: held %+v", h)
		}
		if e := reserve(t, l, reservation("b", budget, 60, 60)); e != nil {
			t.Fatalf("b after a's release: %v", e)
		}
		// Released to lapse later, b still holds until then; a charge in between ends it.
		if err := l.Release(t.Context(), "b", []tenant.Scope{key, team}, Lapse{After: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if e := reserve(t, l, reservation("c", budget, 60, 60)); e == nil {
			t.Fatal("c admitted while b's hold lapses")
		}
		charge(t, l, 1, Charge{RequestID: "b", Scopes: []tenant.Scope{key, team}, Tokens: 30})
		if h := held(t, l); h != (Held{}) {
			t.Fatalf("after b's charge: held %+v", h)
		}
		// A release after the charge, or of a request that held nothing, is no error.
		for _, id := range []string{"b", "never"} {
			if err := l.Release(t.Context(), id, []tenant.Scope{key, team}, Lapse{}); err != nil {
				t.Errorf("Release(%s): %v", id, err)
			}
		}
		if e := reserve(t, l, reservation("d", budget, 80, 80)); e == nil {
			t.Fatal("d admitted: 30 spent, 80 would pass 100")
		}
		// Released to lapse soon, c's hold ends by itself.
		if e := reserve(t, l, reservation("c", budget, 50, 50)); e != nil {
			t.Fatal(e)
		}
		if err := l.Release(t.Context(), "c", []tenant.Scope{key, team}, Lapse{After: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "c's hold to lapse", func() bool { return reserve(t, l, reservation("e", budget, 50, 50)) == nil })
	})

	// A request that reports what it used before its charge comes holds only that: the
	// rest is free at once, and it is no longer the tail.
	t.Run("ReleaseShrinksToTheUse", func(t *testing.T) {
		l := open(t)
		r := reservation("tail", budget, 10, 150)
		r.Most.Cost = 9
		if e := reserve(t, l, r); e != nil {
			t.Fatal(e)
		}
		if e := reserve(t, l, reservation("b", budget, 0, 0)); e == nil {
			t.Fatal("b admitted while the tail holds the whole budget")
		}
		used := Held{Tokens: 30, Cost: 20} // more cost than held: the hold never grows
		if err := l.Release(t.Context(), "tail", []tenant.Scope{key, team}, Lapse{After: time.Minute, Used: &used}); err != nil {
			t.Fatal(err)
		}
		if h := held(t, l); h != (Held{Tokens: 30, Cost: 9}) {
			t.Fatalf("held %+v after the use was reported, want 30 tokens and the 9 µ$ held", h)
		}
		// 70 left, and no tail: another request may be one.
		if e := reserve(t, l, reservation("next", budget, 10, 150)); e != nil {
			t.Fatalf("a tail after the first reported its use: %v", e)
		}
		charge(t, l, 1, Charge{RequestID: "tail", Scopes: []tenant.Scope{key, team}, Tokens: 30, Cost: 20})
		if h := held(t, l); h != (Held{Tokens: 70}) {
			t.Fatalf("held %+v after the charge, want next's 70", h)
		}
	})

	t.Run("HoldsLapseAfterTheirTTL", func(t *testing.T) {
		l := open(t)
		r := reservation("crashed", budget, 100, 100)
		r.TTL = 300 * time.Millisecond // the gateway that holds it died
		if e := reserve(t, l, r); e != nil {
			t.Fatal(e)
		}
		waitFor(t, "the dead request's hold to lapse", func() bool { return reserve(t, l, reservation("next", budget, 100, 100)) == nil })
		if h := held(t, l); h != (Held{Tokens: 100}) {
			t.Errorf("held %+v, want next's 100 only", h)
		}
	})

	t.Run("OneHoldPerRequest", func(t *testing.T) {
		l := open(t)
		for range 3 { // a reservation sent again, as after a lost answer
			if e := reserve(t, l, reservation("a", budget, 40, 40)); e != nil {
				t.Fatal(e)
			}
		}
		if h := held(t, l); h != (Held{Tokens: 40}) {
			t.Fatalf("held %+v, want 40 once", h)
		}
		// A request charged already holds nothing more.
		charge(t, l, 1, Charge{RequestID: "a", Scopes: []tenant.Scope{key, team}, Tokens: 40})
		if e := reserve(t, l, reservation("a", budget, 40, 40)); e != nil {
			t.Fatal(e)
		}
		if h := held(t, l); h != (Held{}) {
			t.Fatalf("held %+v after reserving a charged request, want nothing", h)
		}
		// Its usage reported twice ends any hold all the same and is charged once.
		charge(t, l, 0, Charge{RequestID: "a", Scopes: []tenant.Scope{key, team}, Tokens: 40})
		if s := spent(t, l, time.Now(), team)[0]; s.Day.Tokens != 40 {
			t.Errorf("spent %d, want 40", s.Day.Tokens)
		}
	})

	t.Run("NoBudgetHoldsNothing", func(t *testing.T) {
		l := open(t)
		r := reservation("a", tenant.Policy{RPM: 5}, 1e9, 1e9)
		if e := reserve(t, l, r); e != nil {
			t.Fatal(e)
		}
		if h := held(t, l); h != (Held{}) {
			t.Fatalf("held %+v without a budget", h)
		}
		if err := l.Reserve(t.Context(), Reservation{RequestID: "bad", TTL: time.Second, Most: Estimate{Tokens: -1}}, time.Now()); err == nil {
			t.Error("a reservation with most under least was taken")
		}
	})

	// Many goroutines reserve at once against a budget that fits exactly ten requests at
	// their most, or ten and a half: ten hold, plus one tail in the second.
	t.Run("ConcurrentReservations", func(t *testing.T) {
		for _, tc := range []struct {
			limit int64
			want  int64
		}{{1000, 10}, {1050, 11}} {
			l := open(t)
			p := tenant.Policy{DailyTokens: tc.limit}
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for i := range 64 {
				wg.Go(func() {
					err := l.Reserve(t.Context(), reservation(fmt.Sprintf("r%d", i), p, 40, 100), time.Now())
					switch {
					case err == nil:
						admitted.Add(1)
					case !errors.Is(err, ErrOverBudget):
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := admitted.Load(); n != tc.want {
				t.Errorf("budget %d: %d of 64 admitted, want %d", tc.limit, n, tc.want)
			}
			if h := held(t, l); h.Tokens != tc.limit {
				t.Errorf("budget %d: %d held, want all of it", tc.limit, h.Tokens)
			}
		}
	})

	// Clients that retry while holds are under way, charged a random use up to their most:
	// however they interleave, the budget is passed by at most one request's most.
	t.Run("ConcurrentSpendPassesByOneRequestAtMost", func(t *testing.T) {
		l := open(t)
		const limit, most = 1000, 60
		p := tenant.Policy{DailyTokens: limit}
		var seq atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					id := fmt.Sprintf("r%d", seq.Add(1))
					err := l.Reserve(t.Context(), reservation(id, p, 10, most), time.Now())
					var e *OverBudgetError
					switch {
					case errors.As(err, &e) && e.Transient():
						time.Sleep(time.Millisecond) // the holds under way end soon
						continue
					case err != nil:
						if e == nil {
							t.Error(err)
						}
						return
					}
					use := 10 + rand.Int64N(most-10+1)
					if _, err := l.Charge(t.Context(), []Charge{{RequestID: id, Scopes: []tenant.Scope{key, team}, Tokens: use}}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		s := spent(t, l, time.Now(), team)[0]
		if s.Day.Tokens > limit+most || s.Day.Tokens+10 < limit && s.Held == (Held{}) {
			t.Errorf("spent %d of %d (%d requests): want within one request's %d of it", s.Day.Tokens, limit, s.Day.Requests, most)
		}
		if s.Held != (Held{}) {
			t.Errorf("held %+v after every charge", s.Held)
		}
		t.Logf("spent %d of %d in %d requests", s.Day.Tokens, limit, s.Day.Requests)
	})
}
