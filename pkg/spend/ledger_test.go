package spend

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

var (
	key      = tenant.Scope{Kind: tenant.KindKey, Name: "key_a"}
	team     = tenant.Scope{Kind: tenant.KindTeam, Name: "platform"}
	org      = tenant.Scope{Kind: tenant.KindOrg, Name: "acme"}
	nobody   = tenant.Scope{Kind: tenant.KindTeam, Name: "nobody"}
	jan31    = time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC)
	feb1     = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	feb1Noon = time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	feb2     = time.Date(2026, 2, 2, 8, 0, 0, 0, time.UTC)
)

func charge(t *testing.T, l Ledger, want int, charges ...Charge) {
	t.Helper()
	n, err := l.Charge(t.Context(), charges)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Charge charged %d, want %d", n, want)
	}
}

func spent(t *testing.T, l Ledger, at time.Time, scopes ...tenant.Scope) []Spend {
	t.Helper()
	s, err := l.Spent(t.Context(), scopes, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != len(scopes) {
		t.Fatalf("Spent returned %d spends for %d scopes", len(s), len(scopes))
	}
	return s
}

// checkWindow compares a window's counts: tokens, cost, requests.
func checkWindow(t *testing.T, what string, w Window, start time.Time, tokens int64, cost Micros, requests int64) {
	t.Helper()
	if !w.Start.Equal(start) || w.Tokens != tokens || w.Cost != cost || w.Requests != requests {
		t.Errorf("%s = %+v, want start %v, %d tokens, %d µ$, %d requests", what, w, start, tokens, cost, requests)
	}
}

// testLedger is the conformance suite every Ledger passes. open returns a new, empty
// ledger for each subtest.
func testLedger(t *testing.T, open func(t *testing.T) Ledger) {
	t.Run("ChargesEachIDOnce", func(t *testing.T) {
		l := open(t)
		a := Charge{RequestID: "req-a", Scopes: []tenant.Scope{key, team}, Tokens: 100, Cost: 30, At: feb1Noon}
		b := Charge{RequestID: "req-b", Scopes: []tenant.Scope{key}, Tokens: 10, Cost: 3, At: feb1Noon}
		charge(t, l, 1, a, a)    // the same id twice in one batch
		charge(t, l, 1, a, b, b) // and in a later one
		a.Tokens, a.At = 999, feb2
		charge(t, l, 0, a) // whatever else the repeat says
		s := spent(t, l, feb1Noon, key, team)
		checkWindow(t, "key day", s[0].Day, feb1, 110, 33, 2)
		checkWindow(t, "key month", s[0].Month, feb1, 110, 33, 2)
		checkWindow(t, "team day", s[1].Day, feb1, 100, 30, 1)
		checkWindow(t, "team month", s[1].Month, feb1, 100, 30, 1)
		if s[0].Scope != key || s[1].Scope != team {
			t.Errorf("scopes %v, %v; want the asked order", s[0].Scope, s[1].Scope)
		}
	})

	t.Run("WindowsRollOver", func(t *testing.T) {
		l := open(t)
		plus5 := time.FixedZone("+05", 5*3600)
		charge(t, l, 4,
			Charge{RequestID: "jan", Scopes: []tenant.Scope{team}, Tokens: 1, Cost: 1, At: jan31},
			Charge{RequestID: "feb-midnight", Scopes: []tenant.Scope{team}, Tokens: 10, Cost: 10, At: feb1},
			// 04:00 on Feb 2 at +05:00 is 23:00 on Feb 1 in UTC.
			Charge{RequestID: "feb-late", Scopes: []tenant.Scope{team}, Tokens: 100, Cost: 100, At: time.Date(2026, 2, 2, 4, 0, 0, 0, plus5)},
			Charge{RequestID: "feb-2", Scopes: []tenant.Scope{team}, Tokens: 1000, Cost: 1000, At: feb2},
		)
		jan1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s := spent(t, l, jan31, team)[0]
		checkWindow(t, "Jan 31", s.Day, jan31.Truncate(24*time.Hour), 1, 1, 1)
		checkWindow(t, "January", s.Month, jan1, 1, 1, 1)
		s = spent(t, l, feb1Noon, team)[0]
		checkWindow(t, "Feb 1", s.Day, feb1, 110, 110, 2)
		checkWindow(t, "February", s.Month, feb1, 1110, 1110, 3)
		s = spent(t, l, feb2.In(plus5), team)[0] // asked in another zone: the UTC day
		checkWindow(t, "Feb 2", s.Day, feb2.Truncate(24*time.Hour), 1000, 1000, 1)
		s = spent(t, l, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), team)[0]
		checkWindow(t, "March", s.Month, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 0, 0, 0)
	})

	t.Run("UnknownScopeSpentNothing", func(t *testing.T) {
		l := open(t)
		charge(t, l, 1, Charge{RequestID: "r", Scopes: []tenant.Scope{team}, Tokens: 5, At: feb1Noon})
		s := spent(t, l, feb1Noon, nobody, tenant.Scope{Kind: tenant.KindKey, Name: "platform"})
		for _, sp := range s {
			checkWindow(t, sp.Scope.String()+" day", sp.Day, feb1, 0, 0, 0)
			checkWindow(t, sp.Scope.String()+" month", sp.Month, feb1, 0, 0, 0)
		}
		if s, err := l.Spent(t.Context(), nil, feb1); err != nil || len(s) != 0 {
			t.Errorf("Spent of no scopes = %v, %v", s, err)
		}
	})

	t.Run("ConcurrentChargesOfOneID", func(t *testing.T) {
		l := open(t)
		var wg sync.WaitGroup
		counts := make(chan int, 8)
		for range 8 {
			wg.Go(func() {
				n, err := l.Charge(t.Context(), []Charge{{RequestID: "same", Scopes: []tenant.Scope{key, team, org}, Tokens: 7, Cost: 2, At: feb1Noon}})
				if err != nil {
					t.Error(err)
				}
				counts <- n
			})
		}
		wg.Wait()
		close(counts)
		total := 0
		for n := range counts {
			total += n
		}
		if total != 1 {
			t.Fatalf("charged %d times, want once", total)
		}
		for _, s := range spent(t, l, feb1Noon, key, team, org) {
			checkWindow(t, s.Scope.String(), s.Month, feb1, 7, 2, 1)
		}
	})

	t.Run("RefusesBadChargesWhole", func(t *testing.T) {
		l := open(t)
		good := Charge{RequestID: "good", Scopes: []tenant.Scope{team}, Tokens: 5, At: feb1Noon}
		for _, bad := range []Charge{
			{Scopes: []tenant.Scope{team}, Tokens: 5},
			{RequestID: "neg", Scopes: []tenant.Scope{team}, Tokens: -1},
			{RequestID: "neg-cost", Cost: -1},
			{RequestID: "no-name", Scopes: []tenant.Scope{{Kind: tenant.KindTeam}}},
		} {
			if n, err := l.Charge(t.Context(), []Charge{good, bad}); err == nil || n != 0 {
				t.Errorf("Charge(%+v) = %d, %v; want an error", bad, n, err)
			}
		}
		checkWindow(t, "team", spent(t, l, feb1Noon, team)[0].Day, feb1, 0, 0, 0)
		charge(t, l, 0)                                            // nothing
		charge(t, l, 1, Charge{RequestID: "no-scopes", Tokens: 5}) // remembered, counted nowhere
		charge(t, l, 0, Charge{RequestID: "no-scopes", Scopes: []tenant.Scope{team}, Tokens: 5})
	})

	t.Run("ZeroAtIsNow", func(t *testing.T) {
		l := open(t)
		before := time.Now()
		charge(t, l, 1, Charge{RequestID: "now", Scopes: []tenant.Scope{team}, Tokens: 3})
		after := time.Now()
		if monthStart(before) == monthStart(after) { // not across a month's end
			checkWindow(t, "this month", spent(t, l, after, team)[0].Month, monthStart(after), 3, 0, 1)
		}
	})
}

func TestWindowJSON(t *testing.T) {
	s := Spend{Scope: team, Day: Window{Start: feb1, Tokens: 10, Cost: USD(12.31), Requests: 2}, Month: Window{Start: feb1}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"team","name":"platform",` +
		`"day":{"start":"2026-02-01T00:00:00Z","tokens":10,"cost_usd":12.31,"requests":2},` +
		`"month":{"start":"2026-02-01T00:00:00Z","tokens":0,"cost_usd":0,"requests":0},"held":{"tokens":0,"cost_usd":0}}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var w Window
	if err := json.Unmarshal([]byte(`{"start":"2026-02-01T00:00:00Z","tokens":10,"cost_usd":12.31,"requests":2}`), &w); err != nil || w != s.Day {
		t.Errorf("Unmarshal = %+v, %v; want %+v", w, err, s.Day)
	}
}
