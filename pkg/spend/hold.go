package spend

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// Reservation is a request's claim on its scopes' budgets while it runs. Admitted, it holds
// what the request may use against every budget of its scopes, so that requests running at
// the same time cannot together spend what the budgets do not have: a burst is refused once
// the holds fill the budget, not after the charges arrive. The charge of the request's usage
// ends its hold in the same step that counts the usage (no moment counts both or neither); a
// release ends it without a charge; a hold that nothing ends lapses after TTL, so the holds of
// a gateway that died free themselves.
type Reservation struct {
	// RequestID is the request's id: its charge and its release name it.
	RequestID string
	// Scopes are the scopes the request counts against; Policies[i] is Scopes[i]'s.
	Scopes   []tenant.Scope
	Policies []tenant.Policy
	// Least is what the request needs at the least, its input estimated on the high side; Most
	// is what it may use at the most, its input and all the output it may ask for. A request
	// holds Most, or the rest of a budget that has room for Least but not Most (see fit).
	Least, Most Estimate
	// TTL is how long the hold lasts if neither a charge nor a release ends it: a bit past the
	// request's deadline.
	TTL time.Duration
}

func (r Reservation) validate() error {
	switch {
	case r.RequestID == "":
		return errors.New("spend: a reservation has no request id")
	case len(r.Policies) != len(r.Scopes):
		return fmt.Errorf("spend: reservation %q: %d scopes and %d policies, want as many", r.RequestID, len(r.Scopes), len(r.Policies))
	case r.Least.Tokens < 0 || r.Least.Cost < 0 || r.Most.Tokens < r.Least.Tokens || r.Most.Cost < r.Least.Cost:
		return fmt.Errorf("spend: reservation %q: want 0 ≤ least ≤ most, got least %+v, most %+v", r.RequestID, r.Least, r.Most)
	case r.TTL <= 0:
		return fmt.Errorf("spend: reservation %q: want a positive TTL, got %s", r.RequestID, r.TTL)
	}
	for _, s := range r.Scopes {
		if s.Kind == "" || s.Name == "" {
			return fmt.Errorf("spend: reservation %q: scope %q lacks a kind or a name", r.RequestID, s)
		}
	}
	return nil
}

// budgeted are the scopes of r with a budget, narrowest first, with their policies: only
// they hold anything.
func (r Reservation) budgeted() ([]tenant.Scope, []tenant.Policy) {
	var scopes []tenant.Scope
	var policies []tenant.Policy
	for _, k := range tenant.Kinds {
		for i, s := range r.Scopes {
			if s.Kind == k && r.Policies[i].Budgeted() {
				scopes, policies = append(scopes, s), append(policies, r.Policies[i])
			}
		}
	}
	return scopes, policies
}

// Lapse is how Release ends a request's hold.
type Lapse struct {
	// After is how long the hold lasts yet, unless the request's charge ends it first; 0 ends
	// it at once.
	After time.Duration
	// Used, if set, is what the request reported it used, which its charge will count: the
	// hold shrinks to it (it never grows), so that the rest is free before the charge comes,
	// and the request is no longer its scopes' tail, since it cannot use more.
	Used *Held
}

// Held is what a scope's requests under way hold of its budgets.
type Held struct {
	Tokens int64
	Cost   Micros
}

// MarshalJSON writes {"tokens":…,"cost_usd":…}.
func (h Held) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Tokens  int64   `json:"tokens"`
		CostUSD float64 `json:"cost_usd"`
	}{h.Tokens, h.Cost.USD()})
}

// localHolds keeps the holds of a ledger that lives in one process, by scope. Its owner
// guards it with the lock under which it also reads and charges spend.
type localHolds map[tenant.Scope]*scopeHolds

// scopeHolds are one scope's holds: their sum, each request's, and the tail (see fit).
type scopeHolds struct {
	total Held
	tail  string
	byID  map[string]localHold
}

type localHold struct {
	Held
	expires time.Time
}

// of returns the scope's holds, after dropping those past their time.
func (l localHolds) of(s tenant.Scope, now time.Time) *scopeHolds {
	for id, h := range l[s].all() {
		if !now.Before(h.expires) {
			l.drop(s, id)
		}
	}
	sh := l[s]
	if sh == nil {
		sh = &scopeHolds{byID: map[string]localHold{}}
		l[s] = sh
	}
	return sh
}

func (sh *scopeHolds) all() map[string]localHold {
	if sh == nil {
		return nil
	}
	return sh.byID
}

// tidy forgets the scopes that hold nothing.
func (l localHolds) tidy(scopes []tenant.Scope) {
	for _, s := range scopes {
		if sh := l[s]; sh != nil && len(sh.byID) == 0 {
			delete(l, s)
		}
	}
}

// holds reports whether the request holds anything of the scope.
func (l localHolds) holds(s tenant.Scope, id string) bool {
	_, ok := l[s].get(id)
	return ok
}

func (sh *scopeHolds) get(id string) (localHold, bool) {
	if sh == nil {
		return localHold{}, false
	}
	h, ok := sh.byID[id]
	return h, ok
}

// put adds the request's hold.
func (l localHolds) put(s tenant.Scope, id string, h Held, tail bool, expires time.Time) {
	sh := l[s]
	sh.byID[id] = localHold{Held: h, expires: expires}
	sh.total.Tokens += h.Tokens
	sh.total.Cost += h.Cost
	if tail {
		sh.tail = id
	}
}

// drop ends the request's hold, if it has one.
func (l localHolds) drop(s tenant.Scope, id string) {
	sh := l[s]
	h, ok := sh.get(id)
	if !ok {
		return
	}
	delete(sh.byID, id)
	sh.total.Tokens -= h.Tokens
	sh.total.Cost -= h.Cost
	if sh.tail == id {
		sh.tail = ""
	}
	if len(sh.byID) == 0 {
		delete(l, s)
	}
}

// lapse makes the request's hold end at expires, unless it ends sooner, holding no more
// than used meanwhile if used is set.
func (l localHolds) lapse(s tenant.Scope, id string, expires time.Time, used *Held) {
	sh := l[s]
	h, ok := sh.get(id)
	if !ok {
		return
	}
	if expires.Before(h.expires) {
		h.expires = expires
	}
	if used != nil {
		kept := Held{Tokens: min(h.Tokens, max(used.Tokens, 0)), Cost: min(h.Cost, max(used.Cost, 0))}
		sh.total.Tokens -= h.Tokens - kept.Tokens
		sh.total.Cost -= h.Cost - kept.Cost
		h.Held = kept
		if sh.tail == id {
			sh.tail = ""
		}
	}
	sh.byID[id] = h
}

// total is what the scope's requests hold at now, those past their time left out.
func (l localHolds) total(s tenant.Scope, now time.Time) Held {
	var t Held
	for _, h := range l[s].all() {
		if now.Before(h.expires) {
			t.Tokens += h.Tokens
			t.Cost += h.Cost
		}
	}
	return t
}
