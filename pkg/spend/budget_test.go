package spend

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// check is decide for a request that needs est at the least and at the most, as one holding
// nothing against scopes nobody else holds: the budget rule before any reservation.
func check(scopes []tenant.Scope, policies []tenant.Policy, spent []Spend, est Estimate, now time.Time) error {
	bs, bp := Reservation{Scopes: scopes, Policies: policies}.budgeted()
	bspent := make([]Spend, len(bs))
	for i, s := range bs {
		bspent[i] = spent[slices.Index(scopes, s)]
	}
	_, _, err := decide(bs, bp, bspent, make([]Held, len(bs)), make([]bool, len(bs)), est, est, now)
	return err
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	tomorrow := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	dec1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// used is a scope's spend: day tokens and cost, month tokens and cost.
	used := func(s tenant.Scope, dt int64, dc Micros, mt int64, mc Micros) Spend {
		return Spend{Scope: s, Day: Window{Tokens: dt, Cost: dc}, Month: Window{Tokens: mt, Cost: mc}}
	}
	type over struct {
		scope        tenant.Scope
		period, unit string
		limit, spent float64
		reset        time.Time
	}
	for _, tc := range []struct {
		name     string
		scopes   []tenant.Scope
		policies []tenant.Policy
		spent    []Spend
		est      Estimate
		want     *over // nil: within budget
	}{
		{"no budgets", []tenant.Scope{key}, []tenant.Policy{{RPM: 1}}, []Spend{used(key, 1e9, USD(1e3), 1e9, USD(1e3))}, Estimate{100, 100}, nil},
		{"no scopes", nil, nil, nil, Estimate{100, 100}, nil},

		{"daily tokens: lands on the limit", []tenant.Scope{team}, []tenant.Policy{{DailyTokens: 100}}, []Spend{used(team, 90, 0, 90, 0)}, Estimate{Tokens: 10}, nil},
		{"daily tokens: would pass", []tenant.Scope{team}, []tenant.Policy{{DailyTokens: 100}}, []Spend{used(team, 90, 0, 90, 0)}, Estimate{Tokens: 11},
			&over{team, "daily", "tokens", 100, 90, tomorrow}},
		{"daily tokens: reached", []tenant.Scope{team}, []tenant.Policy{{DailyTokens: 100}}, []Spend{used(team, 100, 0, 100, 0)}, Estimate{},
			&over{team, "daily", "tokens", 100, 100, tomorrow}},
		{"daily tokens: past", []tenant.Scope{team}, []tenant.Policy{{DailyTokens: 100}}, []Spend{used(team, 150, 0, 150, 0)}, Estimate{Tokens: 1},
			&over{team, "daily", "tokens", 100, 150, tomorrow}},

		{"monthly tokens: lands on the limit", []tenant.Scope{team}, []tenant.Policy{{MonthlyTokens: 1000}}, []Spend{used(team, 0, 0, 999, 0)}, Estimate{Tokens: 1}, nil},
		{"monthly tokens: would pass", []tenant.Scope{team}, []tenant.Policy{{MonthlyTokens: 1000}}, []Spend{used(team, 0, 0, 999, 0)}, Estimate{Tokens: 2},
			&over{team, "monthly", "tokens", 1000, 999, dec1}},
		{"monthly tokens: reached", []tenant.Scope{team}, []tenant.Policy{{MonthlyTokens: 1000}}, []Spend{used(team, 0, 0, 1000, 0)}, Estimate{},
			&over{team, "monthly", "tokens", 1000, 1000, dec1}},

		{"daily cost: lands on the limit", []tenant.Scope{team}, []tenant.Policy{{DailyCostUSD: 10}}, []Spend{used(team, 0, USD(9.5), 0, 0)}, Estimate{Cost: USD(0.5)}, nil},
		{"daily cost: would pass by a micro", []tenant.Scope{team}, []tenant.Policy{{DailyCostUSD: 10}}, []Spend{used(team, 0, USD(9.5), 0, 0)}, Estimate{Cost: USD(0.5) + 1},
			&over{team, "daily", "cost", 10, 9.5, tomorrow}},
		{"daily cost: reached, unpriced request", []tenant.Scope{team}, []tenant.Policy{{DailyCostUSD: 10}}, []Spend{used(team, 0, USD(10), 0, 0)}, Estimate{Tokens: 5},
			&over{team, "daily", "cost", 10, 10, tomorrow}},

		{"monthly cost: within", []tenant.Scope{team}, []tenant.Policy{{MonthlyCostUSD: 100}}, []Spend{used(team, 0, 0, 0, USD(99.99))}, Estimate{Cost: USD(0.01)}, nil},
		{"monthly cost: would pass", []tenant.Scope{team}, []tenant.Policy{{MonthlyCostUSD: 100}}, []Spend{used(team, 0, 0, 0, USD(99.99))}, Estimate{Cost: USD(0.02)},
			&over{team, "monthly", "cost", 100, 99.99, dec1}},
		{"tiny cost budget", []tenant.Scope{team}, []tenant.Policy{{MonthlyCostUSD: 1e-9}}, []Spend{used(team, 0, 0, 0, 1)}, Estimate{},
			&over{team, "monthly", "cost", 1e-6, 1e-6, dec1}},

		{"narrowest scope first", []tenant.Scope{org, team, key},
			[]tenant.Policy{{DailyTokens: 1}, {DailyTokens: 1}, {MonthlyTokens: 1}},
			[]Spend{used(org, 5, 0, 5, 0), used(team, 5, 0, 5, 0), used(key, 5, 0, 5, 0)}, Estimate{},
			&over{key, "monthly", "tokens", 1, 5, dec1}},
		{"wider scope when the narrower is within", []tenant.Scope{key, team, org},
			[]tenant.Policy{{DailyTokens: 100}, {}, {MonthlyCostUSD: 1}},
			[]Spend{used(key, 5, 0, 5, 0), used(team, 5, 0, 5, 0), used(org, 5, USD(1), 5, USD(1))}, Estimate{},
			&over{org, "monthly", "cost", 1, 1, dec1}},
		{"daily before monthly", []tenant.Scope{team},
			[]tenant.Policy{{MonthlyTokens: 10, DailyCostUSD: 1}},
			[]Spend{used(team, 20, USD(2), 20, USD(2))}, Estimate{},
			&over{team, "daily", "cost", 1, 2, tomorrow}},
	} {
		err := check(tc.scopes, tc.policies, tc.spent, tc.est, now)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var e *OverBudgetError
		if !errors.As(err, &e) || !errors.Is(err, ErrOverBudget) {
			t.Errorf("%s: error %v, want an *OverBudgetError", tc.name, err)
			continue
		}
		got := over{e.Scope, e.Period, e.Unit, e.Limit, e.Spent, e.ResetAt}
		if got != *tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, *tc.want)
		}
	}
}

func TestCheckResetsAtNewYear(t *testing.T) {
	now := time.Date(2026, 12, 31, 23, 0, 0, 0, time.FixedZone("-05", -5*3600)) // Jan 1, 04:00 UTC
	err := check([]tenant.Scope{team}, []tenant.Policy{{DailyTokens: 1, MonthlyTokens: 1}},
		[]Spend{{Day: Window{}, Month: Window{Tokens: 1}}}, Estimate{}, now)
	var e *OverBudgetError
	if !errors.As(err, &e) || !e.ResetAt.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("error %v, want a monthly budget resetting on 2027-02-01", err)
	}
	err = check([]tenant.Scope{team}, []tenant.Policy{{DailyTokens: 1}},
		[]Spend{{Day: Window{Tokens: 1}}}, Estimate{}, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC))
	if !errors.As(err, &e) || !e.ResetAt.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("error %v, want a daily budget resetting on 2027-01-01", err)
	}
}

// TestFitHolds: what requests under way hold counts as spent; a request the budgets have
// room for at the most holds its most, one they have room for at the least only is the
// scope's tail and holds the rest, and while a tail runs no other request can be one.
func TestFitHolds(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	tomorrow := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tokens100 := tenant.Policy{DailyTokens: 100}
	spent := func(tokens int64, cost Micros) Spend {
		return Spend{Day: Window{Tokens: tokens, Cost: cost}, Month: Window{Tokens: tokens, Cost: cost}}
	}
	for _, tc := range []struct {
		name        string
		policy      tenant.Policy
		spent       Spend
		held        Held
		tail        bool
		least, most Estimate
		hold        Held
		isTail      bool
		refused     *OverBudgetError // the figures of the refusal; nil: admitted
		transient   bool
	}{
		{name: "room for most", policy: tokens100, spent: spent(20, 0), held: Held{Tokens: 30},
			least: Estimate{Tokens: 10}, most: Estimate{Tokens: 50, Cost: 7}, hold: Held{Tokens: 50, Cost: 7}},
		{name: "room for least only: the tail holds the rest", policy: tokens100, spent: spent(20, 0), held: Held{Tokens: 50},
			least: Estimate{Tokens: 10}, most: Estimate{Tokens: 50, Cost: 7}, hold: Held{Tokens: 30, Cost: 7}, isTail: true},
		{name: "room for least only, a tail under way", policy: tokens100, spent: spent(20, 0), held: Held{Tokens: 50}, tail: true,
			least: Estimate{Tokens: 10}, most: Estimate{Tokens: 50},
			refused: &OverBudgetError{Limit: 100, Spent: 20, Held: 50, Estimate: 10, Most: 50}, transient: true},
		{name: "a tail under way, room for most", policy: tokens100, spent: spent(20, 0), held: Held{Tokens: 30}, tail: true,
			least: Estimate{Tokens: 10}, most: Estimate{Tokens: 50}, hold: Held{Tokens: 50}},
		{name: "holds leave no room for least", policy: tokens100, spent: spent(20, 0), held: Held{Tokens: 75},
			least: Estimate{Tokens: 10}, most: Estimate{Tokens: 50},
			refused: &OverBudgetError{Limit: 100, Spent: 20, Held: 75, Estimate: 10, Most: 50}, transient: true},
		{name: "holds fill the budget", policy: tokens100, spent: spent(0, 0), held: Held{Tokens: 100},
			refused: &OverBudgetError{Limit: 100, Held: 100}, transient: true},
		{name: "spent leaves no room for least", policy: tokens100, spent: spent(95, 0), held: Held{Tokens: 1},
			least: Estimate{Tokens: 10}, most: Estimate{Tokens: 50},
			refused: &OverBudgetError{Limit: 100, Spent: 95, Held: 1, Estimate: 10, Most: 50}},
		{name: "the tail takes the least of two units' rests", policy: tenant.Policy{DailyTokens: 100, MonthlyCostUSD: 1},
			spent: spent(50, USD(0.9)), least: Estimate{Tokens: 10, Cost: USD(0.01)}, most: Estimate{Tokens: 80, Cost: USD(0.5)},
			hold: Held{Tokens: 50, Cost: USD(0.1)}, isTail: true},
		{name: "cost room for most, token room for least", policy: tenant.Policy{DailyTokens: 100, MonthlyCostUSD: 1},
			spent: spent(50, 0), least: Estimate{Tokens: 10, Cost: USD(0.01)}, most: Estimate{Tokens: 80, Cost: USD(0.5)},
			hold: Held{Tokens: 50, Cost: USD(0.5)}, isTail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hold, isTail, err := fit(team, tc.policy, tc.spent, tc.held, tc.tail, tc.least, tc.most, now)
			if tc.refused == nil {
				if err != nil || hold != tc.hold || isTail != tc.isTail {
					t.Fatalf("fit = %+v, tail %v, %v; want %+v, tail %v", hold, isTail, err, tc.hold, tc.isTail)
				}
				return
			}
			var e *OverBudgetError
			if !errors.As(err, &e) {
				t.Fatalf("fit = %+v, %v; want refused", hold, err)
			}
			want := *tc.refused
			want.Scope, want.Period, want.Unit, want.ResetAt = team, PeriodDaily, UnitTokens, tomorrow
			if *e != want || e.Transient() != tc.transient {
				t.Errorf("refusal %+v (transient %v), want %+v (transient %v)", *e, e.Transient(), want, tc.transient)
			}
		})
	}
}

func TestReservationValidate(t *testing.T) {
	ok := Reservation{RequestID: "r", Scopes: []tenant.Scope{team}, Policies: []tenant.Policy{{}}, Least: Estimate{1, 1}, Most: Estimate{2, 2}, TTL: time.Second}
	if err := ok.validate(); err != nil {
		t.Fatalf("validate(%+v) = %v", ok, err)
	}
	for name, change := range map[string]func(r *Reservation){
		"no id":              func(r *Reservation) { r.RequestID = "" },
		"policies mismatch":  func(r *Reservation) { r.Policies = nil },
		"negative least":     func(r *Reservation) { r.Least.Tokens = -1 },
		"most under least":   func(r *Reservation) { r.Most.Cost = 0 },
		"no TTL":             func(r *Reservation) { r.TTL = 0 },
		"scope without name": func(r *Reservation) { r.Scopes = []tenant.Scope{{Kind: tenant.KindTeam}} },
	} {
		r := ok
		change(&r)
		if err := r.validate(); err == nil {
			t.Errorf("%s: validate(%+v) = nil, want an error", name, r)
		}
	}
}

func TestOverBudgetMessage(t *testing.T) {
	reset := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		e    OverBudgetError
		want string
	}{
		{OverBudgetError{Scope: team, Period: "daily", Unit: "tokens", Limit: 10000, Spent: 10234, ResetAt: reset},
			`team "platform" is over its daily token budget: 10234 of 10000 tokens used; it resets at 2026-11-27T00:00:00Z`},
		{OverBudgetError{Scope: team, Period: "monthly", Unit: "cost", Limit: 10, Spent: 12.31, ResetAt: reset},
			`team "platform" is over its monthly cost budget: $12.31 of $10.00 used; it resets at 2026-11-27T00:00:00Z`},
		{OverBudgetError{Scope: key, Period: "daily", Unit: "tokens", Limit: 10000, Spent: 9990, Estimate: 50, ResetAt: reset},
			`key "key_a" would pass its daily token budget: 9990 of 10000 tokens used and this request needs about 50; it resets at 2026-11-27T00:00:00Z`},
		{OverBudgetError{Scope: org, Period: "daily", Unit: "cost", Limit: 5, Spent: 4.99, Estimate: 0.25, ResetAt: reset},
			`org "acme" would pass its daily cost budget: $4.99 of $5.00 used and this request needs about $0.25; it resets at 2026-11-27T00:00:00Z`},
		{OverBudgetError{Scope: team, Period: "daily", Unit: "tokens", Limit: 300, Spent: 250, Held: 40, Estimate: 10, Most: 40, ResetAt: reset},
			`team "platform" cannot start this request until requests under way end: its daily token budget has 250 of 300 tokens used and 40 held by them, and this request needs 10 to 40`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error()\n%s\nwant\n%s", got, tc.want)
		}
	}
}
