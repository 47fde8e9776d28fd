// Package spend is what each tenant spent and the budgets that cap it: the prices of models,
// a ledger of the tokens and dollars each scope used per UTC day and calendar month (in
// Redis when the gateways share one, else in a local bbolt file), and the reservations that
// hold a request's estimate against the budgets while it runs, refusing a request the budgets
// cannot afford, bursts included.
package spend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// DedupeWindow is how long a ledger remembers a charged request id: a charge repeated
// within it is not counted again.
const DedupeWindow = 35 * 24 * time.Hour

// How long a ledger keeps a day's and a month's window after its last charge.
const (
	dayRetention   = 40 * 24 * time.Hour
	monthRetention = 400 * 24 * time.Hour
)

// Charge is one request's usage, charged to each of its scopes.
type Charge struct {
	// RequestID identifies the request: a ledger charges it once.
	RequestID string
	// Scopes are the scopes the request counts against, each once.
	Scopes []tenant.Scope
	Tokens int64
	Cost   Micros
	// At places the charge in a day and a month; zero means now.
	At time.Time
}

func (c Charge) validate() error {
	switch {
	case c.RequestID == "":
		return errors.New("spend: a charge has no request id")
	case c.Tokens < 0 || c.Cost < 0:
		return fmt.Errorf("spend: charge %q: negative tokens (%d) or cost (%d µ$)", c.RequestID, c.Tokens, c.Cost)
	}
	for _, s := range c.Scopes {
		if s.Kind == "" || s.Name == "" {
			return fmt.Errorf("spend: charge %q: scope %q lacks a kind or a name", c.RequestID, s)
		}
	}
	return nil
}

// at is the UTC time the charge belongs to.
func (c Charge) at(now time.Time) time.Time {
	if c.At.IsZero() {
		return now.UTC()
	}
	return c.At.UTC()
}

// Window is what a scope spent in one day or month.
type Window struct {
	// Start is the window's first instant: a UTC midnight, or the first of a month.
	Start    time.Time
	Tokens   int64
	Cost     Micros
	Requests int64
}

// windowJSON is a Window as JSON, its cost in dollars.
type windowJSON struct {
	Start    time.Time `json:"start"`
	Tokens   int64     `json:"tokens"`
	CostUSD  float64   `json:"cost_usd"`
	Requests int64     `json:"requests"`
}

// MarshalJSON writes {"start":…,"tokens":…,"cost_usd":…,"requests":…}.
func (w Window) MarshalJSON() ([]byte, error) {
	return json.Marshal(windowJSON{w.Start, w.Tokens, w.Cost.USD(), w.Requests})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (w *Window) UnmarshalJSON(b []byte) error {
	var j windowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*w = Window{Start: j.Start, Tokens: j.Tokens, Cost: USD(j.CostUSD), Requests: j.Requests}
	return nil
}

// Spend is what a scope spent in a day and in the month around it, and what its requests
// under way hold of its budgets.
type Spend struct {
	Scope      tenant.Scope
	Day, Month Window
	Held       Held
}

// MarshalJSON writes {"kind":…,"name":…,"day":{…},"month":{…},"held":{…}}.
func (s Spend) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind  tenant.Kind `json:"kind"`
		Name  string      `json:"name"`
		Day   Window      `json:"day"`
		Month Window      `json:"month"`
		Held  Held        `json:"held"`
	}{s.Scope.Kind, s.Scope.Name, s.Day, s.Month, s.Held})
}

// Ledger records what each scope spent.
type Ledger interface {
	// Charge records each charge once per request id, ever (within DedupeWindow): a charge
	// whose request id was already charged, by this call or an earlier one, is skipped. It
	// returns how many were newly charged. Each charge is all or nothing: its id is marked
	// charged and every scope's day and month counted, or none of it. In the same step it
	// ends whatever the request's Reservation holds of those scopes, charged anew or not.
	Charge(ctx context.Context, charges []Charge) (int, error)
	// Reserve holds what r may use against its scopes' budgets, by the rule of fit, checked
	// and held in one step against every other Reserve and Charge of the ledger: however many
	// gateways reserve at once, the holds of a scope never pass what its budgets have left
	// but by the one tail request fit allows. A request refused gets the *OverBudgetError of
	// the first budget that refuses it (narrowest scope first, daily before monthly) and holds
	// nothing. The budgets are those of at's UTC day and month; the holds count in whatever
	// day they run. A request that holds already, or was charged, is admitted again as it is.
	Reserve(ctx context.Context, r Reservation, at time.Time) error
	// Release ends the hold of a request on scopes without charging it, as l says: at once,
	// or later unless its charge ends it first. A request that holds nothing is no error.
	Release(ctx context.Context, requestID string, scopes []tenant.Scope, l Lapse) error
	// Spent is what each scope spent in the UTC day and calendar month of at, and what it
	// holds now, in the scopes' order; a scope that spent nothing has zero windows.
	Spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]Spend, error)
	// Close releases what the ledger holds; the caller keeps the client or database.
	Close() error
}

// dayStart and monthStart are the starts of t's UTC day and month.
func dayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// The names of a day's and a month's window in keys.
const (
	dayLayout   = "2006-01-02"
	monthLayout = "2006-01"
)

// emptySpend is a scope's spend before any charge: zero windows starting at at's day and
// month.
func emptySpend(s tenant.Scope, at time.Time) Spend {
	return Spend{Scope: s, Day: Window{Start: dayStart(at)}, Month: Window{Start: monthStart(at)}}
}

func validateAll(charges []Charge) error {
	for _, c := range charges {
		if err := c.validate(); err != nil {
			return err
		}
	}
	return nil
}
