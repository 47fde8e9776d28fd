package spend

import (
	"errors"
	"fmt"
	"slices"
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
	// Limit, Spent and Estimate are tokens, or dollars for a cost budget: the budget, what
	// the scope spent in the period so far, and what the request was expected to use.
	Limit, Spent, Estimate float64
	// ResetAt is when the period ends: the next UTC midnight, or the first of next month.
	ResetAt time.Time
}

func (e *OverBudgetError) Error() string {
	unit, used, amount := "token", " tokens used", func(v float64) string { return fmt.Sprintf("%.0f", v) }
	if e.Unit == UnitCost {
		unit, used, amount = "cost", " used", func(v float64) string { return fmt.Sprintf("$%.2f", v) }
	}
	state, need := "is over", ""
	if e.Spent < e.Limit {
		state, need = "would pass", " and this request needs about "+amount(e.Estimate)
	}
	return fmt.Sprintf("%s %q %s its %s %s budget: %s of %s%s%s; it resets at %s",
		e.Scope.Kind, e.Scope.Name, state, e.Period, unit, amount(e.Spent), amount(e.Limit), used, need,
		e.ResetAt.Format(time.RFC3339))
}

// Is reports whether target is ErrOverBudget.
func (e *OverBudgetError) Is(target error) bool { return target == ErrOverBudget }

// Check refuses a request whose scope would pass a budget: one it has reached already, or
// one that spent + est would pass (landing exactly on the limit is allowed). policies[i]
// and spent[i] belong to scopes[i], spent from the UTC day and month of now. It returns the
// first *OverBudgetError, narrowest scope first and daily before monthly, or nil when the
// request is within every budget.
func Check(scopes []tenant.Scope, policies []tenant.Policy, spent []Spend, est Estimate, now time.Time) error {
	if len(policies) != len(scopes) || len(spent) != len(scopes) {
		return fmt.Errorf("spend: check: %d scopes, %d policies and %d spends, want as many", len(scopes), len(policies), len(spent))
	}
	now = now.UTC()
	nextDay := dayStart(now).AddDate(0, 0, 1)
	nextMonth := monthStart(now).AddDate(0, 1, 0)
	order := make([]int, len(scopes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return scopes[a].Kind.Rank() - scopes[b].Kind.Rank() })
	for _, i := range order {
		p, s := policies[i], spent[i]
		for _, b := range []struct {
			period, unit string
			limit        int64
			spent, est   int64
			reset        time.Time
		}{
			{PeriodDaily, UnitTokens, p.DailyTokens, s.Day.Tokens, est.Tokens, nextDay},
			{PeriodDaily, UnitCost, costLimit(p.DailyCostUSD), int64(s.Day.Cost), int64(est.Cost), nextDay},
			{PeriodMonthly, UnitTokens, p.MonthlyTokens, s.Month.Tokens, est.Tokens, nextMonth},
			{PeriodMonthly, UnitCost, costLimit(p.MonthlyCostUSD), int64(s.Month.Cost), int64(est.Cost), nextMonth},
		} {
			if b.limit <= 0 || (b.spent < b.limit && b.spent+b.est <= b.limit) {
				continue
			}
			e := &OverBudgetError{Scope: scopes[i], Period: b.period, Unit: b.unit, ResetAt: b.reset,
				Limit: float64(b.limit), Spent: float64(b.spent), Estimate: float64(b.est)}
			if b.unit == UnitCost {
				e.Limit, e.Spent, e.Estimate = Micros(b.limit).USD(), Micros(b.spent).USD(), Micros(b.est).USD()
			}
			return e
		}
	}
	return nil
}

// costLimit is a cost budget in micros; a budget below half a micro is one micro, not none.
func costLimit(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return max(1, int64(USD(usd)))
}
