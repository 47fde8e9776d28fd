// Package ratelimit enforces the requests-per-minute (RPM) and tokens-per-minute (TPM)
// limits of keys, teams, customers and orgs: across every gateway through Redis (Redis),
// or within one process when there is no Redis (Local).
//
// Each limit is a bucket holding one minute's allowance that refills evenly over the
// minute: R requests per minute admit a burst of R, then one request every 60s/R. Redis
// keeps the buckets with GCRA (github.com/go-redis/redis_rate, redis_rate.PerMinute);
// Local with golang.org/x/time/rate limiters of the same shape.
//
// A request costs one request from every RPM limit and its tokens from every TPM limit.
// A request with more tokens than a whole minute's TPM costs the whole minute instead: it
// passes when that bucket is full and leaves it empty, so no request is refused forever.
// A request with no tokens costs nothing from TPM limits.
package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// Units of a limit, as in Decision.Unit.
const (
	UnitRequests = "requests"
	UnitTokens   = "tokens"
)

// Decision is the outcome for one request.
type Decision struct {
	Allowed bool
	// Scope is the scope whose limit decided: the refusing one, or when allowed the
	// tightest one (the least left, as a share of its limit).
	Scope tenant.Scope
	Unit  string // UnitRequests or UnitTokens
	Limit int64  // per minute; 0 when no scope is limited
	// Remaining is what the limit has left after this request; 0 when refused.
	Remaining int64
	// RetryAfter is, when refused, how long until the request would be allowed.
	RetryAfter time.Duration
	// Reset is how long until the limit is fully replenished.
	Reset time.Duration
}

// Limiter takes requests and tokens from per-minute allowances.
type Limiter interface {
	// Allow takes one request and tokens from the per-minute allowances of every scope
	// whose policy sets RPM or TPM (policies[i] belongs to scopes[i]). It checks each
	// scope's RPM then TPM, narrowest scope first (key, team, customer, org), and refuses
	// at the first limit passed. Scopes without limits cost nothing: when no scope is
	// limited, Allow returns Decision{Allowed: true} (Limit 0) without calling Redis.
	//
	// On error the decision is the zero Decision: the caller decides whether to admit.
	Allow(ctx context.Context, scopes []tenant.Scope, policies []tenant.Policy, tokens int64) (Decision, error)
}

var (
	_ Limiter = (*Redis)(nil)
	_ Limiter = (*Local)(nil)
)

// limit is one per-minute limit a request is checked against.
type limit struct {
	scope tenant.Scope
	unit  string
	max   int64 // per minute
	cost  int64 // 1 request, or the tokens capped at max
}

// name identifies the limit among every scope's: "<kind>:<name>:rpm" or ":tpm".
func (l limit) name() string {
	suffix := ":rpm"
	if l.unit == UnitTokens {
		suffix = ":tpm"
	}
	return string(l.scope.Kind) + ":" + l.scope.Name + suffix
}

// limits lists the limits a request is checked against, in the order they are checked:
// narrowest scope first, each scope's RPM before its TPM.
func limits(scopes []tenant.Scope, policies []tenant.Policy, tokens int64) ([]limit, error) {
	if len(scopes) != len(policies) {
		return nil, fmt.Errorf("ratelimit: %d scopes but %d policies", len(scopes), len(policies))
	}
	var ls []limit
	for i, s := range scopes {
		p := policies[i]
		if p.RPM > 0 {
			ls = append(ls, limit{scope: s, unit: UnitRequests, max: p.RPM, cost: 1})
		}
		if p.TPM > 0 && tokens > 0 {
			ls = append(ls, limit{scope: s, unit: UnitTokens, max: p.TPM, cost: min(tokens, p.TPM)})
		}
	}
	slices.SortStableFunc(ls, func(a, b limit) int { return a.scope.Kind.Rank() - b.scope.Kind.Rank() })
	return ls, nil
}

// tighter reports whether a has less left than b, as a share of its limit.
func tighter(a, b Decision) bool {
	return float64(a.Remaining)/float64(a.Limit) < float64(b.Remaining)/float64(b.Limit)
}

// Headers sets the rate limit headers of the IETF draft (draft-ietf-httpapi-ratelimit-headers)
// for d: RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds, rounded up), and
// when refused Retry-After (seconds, rounded up, at least 1). It sets nothing when no limit
// decided (d.Limit is 0).
func (d Decision) Headers(h http.Header) {
	if d.Limit <= 0 {
		return
	}
	h.Set("RateLimit-Limit", strconv.FormatInt(d.Limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(max(d.Remaining, 0), 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(seconds(d.Reset), 10))
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(seconds(d.RetryAfter), 1), 10))
	}
}

// seconds is d in whole seconds, rounded up; 0 for d ≤ 0.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
