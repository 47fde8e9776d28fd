package spend

import (
	"errors"
	"fmt"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// Estimate is what a request is expected to cost before it runs.
type Estimate struct {
	Tokens int64
	Cost   Micros
}

// ErrOverBudget matches every *OverBudgetError.
var ErrOverBudget = errors.New("spend: over budget")

// The periods and units of a budget, as OverBudgetError names them.
const (
	PeriodDaily   = "daily"
	PeriodMonthly = "monthly"
	UnitTokens    = "tokens"
	UnitCost      = "cost"
)

// OverBudgetError says which budget a request would pass.
type OverBudgetError struct {
	Scope tenant.Scope
	// Period is PeriodDaily or PeriodMonthly; Unit is UnitTokens or UnitCost.
	Period, Unit string
	// Limit, Spent, Held, Estimate and Most are tokens, or dollars for a cost budget: the
	// budget; what the scope spent in the period so far; what its requests under way hold of
	// it; what the request needs at the least (its input) and may use at the most.
	Limit, Spent, Held, Estimate, Most float64
	// ResetAt is when the period ends: the next UTC midnight, or the first of next month.
	ResetAt time.Time
}

func (e *OverBudgetError) Error() string {
	unit, used, amount := "token", " tokens used", func(v float64) string { return fmt.Sprintf("%.0f", v) }
	if e.Unit == UnitCost {
		unit, used, amount = "cost", " used", func(v float64) string { return fmt.Sprintf("$%.2f", v) }
	}
	if e.Transient() {
		return fmt.Sprintf("%s %q cannot start this request until requests under way end: its %s %s budget has %s of %s%s and %s held by them, "+
			"and this request needs %s to %s", e.Scope.Kind, e.Scope.Name, e.Period, unit, amount(e.Spent), amount(e.Limit), used,
			amount(e.Held), amount(e.Estimate), amount(e.Most))
	}
	state, need := "is over", ""
	if e.Spent < e.Limit {
		state, need = "would pass", " and this request needs about "+amount(e.Estimate)
	}
	return fmt.Sprintf("%s %q %s its %s %s budget: %s of %s%s%s; it resets at %s",
		e.Scope.Kind, e.Scope.Name, state, e.Period, unit, amount(e.Spent), amount(e.Limit), used, need,
		e.ResetAt.Format(time.RFC3339))
}

// Transient reports whether the request is refused only for what requests under way hold:
// the budget itself has room for it, and will again once they end.
func (e *OverBudgetError) Transient() bool { return e.Spent < e.Limit && e.Spent+e.Estimate <= e.Limit }

// Is reports whether target is ErrOverBudget.
func (e *OverBudgetError) Is(target error) bool { return target == ErrOverBudget }

// budget is one of a scope's four budgets as a reservation meets it. A limit of 0 is none.
type budget struct {
	period, unit string
	limit        int64
	spent, held  int64
	least, most  int64
	reset        time.Time
}

// room is what the budget has left for a new hold.
func (b budget) room() int64 { return b.limit - b.spent - b.held }

// budgetsOf are a scope's budgets in the order they are checked and named: daily tokens,
// daily cost, monthly tokens, monthly cost. The Redis script reads them in the same order.
func budgetsOf(p tenant.Policy, s Spend, h Held, least, most Estimate, now time.Time) [4]budget {
	nextDay := dayStart(now).AddDate(0, 0, 1)
	nextMonth := monthStart(now).AddDate(0, 1, 0)
	return [4]budget{
		{PeriodDaily, UnitTokens, p.DailyTokens, s.Day.Tokens, h.Tokens, least.Tokens, most.Tokens, nextDay},
		{PeriodDaily, UnitCost, costLimit(p.DailyCostUSD), int64(s.Day.Cost), int64(h.Cost), int64(least.Cost), int64(most.Cost), nextDay},
		{PeriodMonthly, UnitTokens, p.MonthlyTokens, s.Month.Tokens, h.Tokens, least.Tokens, most.Tokens, nextMonth},
		{PeriodMonthly, UnitCost, costLimit(p.MonthlyCostUSD), int64(s.Month.Cost), int64(h.Cost), int64(least.Cost), int64(most.Cost), nextMonth},
	}
}

// limits are the four budgets' limits, in budgetsOf's order.
func limits(p tenant.Policy) [4]int64 {
	return [4]int64{p.DailyTokens, costLimit(p.DailyCostUSD), p.MonthlyTokens, costLimit(p.MonthlyCostUSD)}
}

// refusal is the error of a request that b cannot take.
func (b budget) refusal(s tenant.Scope) *OverBudgetError {
	e := &OverBudgetError{Scope: s, Period: b.period, Unit: b.unit, ResetAt: b.reset,
		Limit: float64(b.limit), Spent: float64(b.spent), Held: float64(b.held), Estimate: float64(b.least), Most: float64(b.most)}
	if b.unit == UnitCost {
		e.Limit, e.Spent, e.Held = Micros(b.limit).USD(), Micros(b.spent).USD(), Micros(b.held).USD()
		e.Estimate, e.Most = Micros(b.least).USD(), Micros(b.most).USD()
	}
	return e
}

// fit decides whether a request that needs least and may use most fits a scope's budgets,
// given what the scope spent and what its requests under way hold (tail: one of them holds
// the rest of a budget). This is the rule every ledger applies, the Redis script included:
//
//   - Every budget must have room for least: a scope that spent its budget, or whose spend
//     and holds leave less than the request's input, is refused.
//   - Where every budget has room for most, the request holds most.
//   - Else it is the scope's tail: it holds what is left (at least least), and no other
//     request may be the tail until it ends. So at most one request per scope can use more
//     than it holds, and a budget is passed by at most one request's use beyond the rest.
//
// It returns what the request holds and whether it is the tail, or the *OverBudgetError of
// the first budget that refuses it.
func fit(s tenant.Scope, p tenant.Policy, spent Spend, held Held, tail bool, least, most Estimate, now time.Time) (Held, bool, error) {
	bs := budgetsOf(p, spent, held, least, most, now)
	room := [2]int64{-1, -1} // tokens, cost; -1: no budget of that unit
	short := -1              // the first budget without room for most
	for i, b := range bs {
		if b.limit <= 0 {
			continue
		}
		r := b.room()
		if r <= 0 || r < b.least {
			return Held{}, false, b.refusal(s)
		}
		if u := i % 2; room[u] < 0 || r < room[u] {
			room[u] = r
		}
		if short < 0 && r < b.most {
			short = i
		}
	}
	h := Held{Tokens: most.Tokens, Cost: most.Cost}
	if short < 0 {
		return h, false, nil
	}
	if tail {
		return Held{}, false, bs[short].refusal(s)
	}
	if room[0] >= 0 {
		h.Tokens = min(h.Tokens, room[0])
	}
	if room[1] >= 0 {
		h.Cost = min(h.Cost, Micros(room[1]))
	}
	return h, true, nil
}

// decide runs fit over a reservation's budgeted scopes, in order (see Reservation.budgeted):
// what each would hold and whether it is the tail there, or the first refusal. spent, held
// and tails are the scopes' figures, in their order.
func decide(scopes []tenant.Scope, policies []tenant.Policy, spent []Spend, held []Held, tails []bool, least, most Estimate, at time.Time) ([]Held, []bool, error) {
	holds, tail := make([]Held, len(scopes)), make([]bool, len(scopes))
	for i, s := range scopes {
		var err error
		if holds[i], tail[i], err = fit(s, policies[i], spent[i], held[i], tails[i], least, most, at); err != nil {
			return nil, nil, err
		}
	}
	return holds, tail, nil
}

// costLimit is a cost budget in micros; a budget below half a micro is one micro, not none.
func costLimit(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return max(1, int64(USD(usd)))
}
