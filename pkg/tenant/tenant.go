// Package tenant is who a request belongs to: the virtual API keys the gateway accepts, the
// team, customer and org a key belongs to, and the limits and budgets set for each of them.
// Keys are kept hashed, in Redis when the gateways share one, else in a local file.
package tenant

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Kind is what a scope is: a key, or a group of keys.
type Kind string

// The kinds of scope. A key belongs to at most one team, customer and org.
const (
	KindKey      Kind = "key"
	KindTeam     Kind = "team"
	KindCustomer Kind = "customer"
	KindOrg      Kind = "org"
)

// Kinds lists every kind, narrowest first.
var Kinds = []Kind{KindKey, KindTeam, KindCustomer, KindOrg}

// Rank orders kinds narrowest first: a key before its team, customer and org; an unknown
// kind last.
func (k Kind) Rank() int {
	if i := slices.Index(Kinds, k); i >= 0 {
		return i
	}
	return len(Kinds)
}

// ParseKind reads a kind's name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown scope kind %q: want key, team, customer or org", s)
}

// Scope is one thing limits, budgets and spend apply to: a key by its id, or a team,
// customer or org by its name.
type Scope struct {
	Kind Kind
	Name string
}

func (s Scope) String() string { return string(s.Kind) + ":" + s.Name }

// Policy is the limits and budgets of one scope. Zero fields set nothing.
type Policy struct {
	// RPM is the most requests a minute, across every gateway.
	RPM int64 `json:"rpm,omitempty"`
	// TPM is the most tokens a minute, counted from each request's estimated input.
	TPM int64 `json:"tpm,omitempty"`
	// DailyTokens and MonthlyTokens cap the tokens (input and output) used per UTC day and
	// calendar month.
	DailyTokens   int64 `json:"daily_tokens,omitempty"`
	MonthlyTokens int64 `json:"monthly_tokens,omitempty"`
	// DailyCostUSD and MonthlyCostUSD cap the cost, priced from the model's price table.
	DailyCostUSD   float64 `json:"daily_cost_usd,omitempty"`
	MonthlyCostUSD float64 `json:"monthly_cost_usd,omitempty"`
	// MaxConcurrent is the most requests under way at once in each gateway: what one tenant
	// may take of the gateway's active-request slots, which every tenant shares.
	MaxConcurrent int64 `json:"max_concurrent,omitempty"`
}

// IsZero reports whether the policy sets nothing.
func (p Policy) IsZero() bool { return p == Policy{} }

// Limited reports whether the policy sets a rate limit.
func (p Policy) Limited() bool { return p.RPM > 0 || p.TPM > 0 }

// Budgeted reports whether the policy sets a budget.
func (p Policy) Budgeted() bool {
	return p.DailyTokens > 0 || p.MonthlyTokens > 0 || p.DailyCostUSD > 0 || p.MonthlyCostUSD > 0
}

// Validate lists what is wrong with the policy.
func (p Policy) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"rpm", float64(p.RPM)}, {"tpm", float64(p.TPM)},
		{"daily_tokens", float64(p.DailyTokens)}, {"monthly_tokens", float64(p.MonthlyTokens)},
		{"daily_cost_usd", p.DailyCostUSD}, {"monthly_cost_usd", p.MonthlyCostUSD},
		{"max_concurrent", float64(p.MaxConcurrent)},
	} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("%s: want a number ≥ 0 (0 sets no limit), got %v", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// Key is a virtual API key. Its secret is shown once, when it is made; only its hash is kept.
type Key struct {
	// ID names the key in the admin API, in spend and in logs: "key_" and 20 letters or digits.
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Team     string `json:"team,omitempty"`
	Customer string `json:"customer,omitempty"`
	Org      string `json:"org,omitempty"`
	// Prefix is the start of the secret, so people can tell their keys apart.
	Prefix string `json:"prefix"`
	// Hash is the SHA-256 of the secret in hex. It never leaves the store's JSON: the admin
	// API does not show it.
	Hash string `json:"-"`
	// NoCache keeps the key's requests out of the response cache, both ways.
	NoCache bool `json:"no_cache,omitempty"`
	// Policy is the key's own limits and budgets.
	Policy    Policy     `json:"limits"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return k.RevokedAt != nil }

// CheckName says what is wrong with the name of a team, customer, org or key ("" if nothing):
// at most 128 bytes, no control characters and no ':', which separates a scope's kind and
// name in the stores.
func CheckName(name string) string {
	switch {
	case name == "":
		return "want a name"
	case len(name) > 128:
		return "at most 128 bytes"
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == ':' }) >= 0:
		return "no control characters or ':'"
	}
	return ""
}

// Errors of the stores.
var (
	ErrNotFound = errors.New("tenant: not found")
	ErrExists   = errors.New("tenant: already exists")
)
