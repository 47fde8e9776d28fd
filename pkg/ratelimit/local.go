package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// idleAfter is how long a limit goes unused before Local forgets it. A bucket holds one
// minute's allowance and refills in a minute, so a limit unused for a minute is full
// again, and forgetting it changes nothing.
const idleAfter = time.Minute

// Local enforces the limits within one process, for a gateway without Redis. Each limit
// is an x/time/rate limiter refilling at its per-minute rate with a burst of one minute's
// allowance (the shape of redis_rate.PerMinute); a policy change updates the limiter at
// the next request. Limits unused for a minute are forgotten, so memory follows the
// scopes in use, not every scope ever seen.
//
// Unlike Redis, Local checks every limit before taking from any, so a refused request
// costs nothing.
type Local struct {
	now func() time.Time

	mu     sync.Mutex
	limits map[string]*localLimit // by limit.name()
	swept  time.Time              // when idle limits were last forgotten
}

type localLimit struct {
	lim  *rate.Limiter
	used time.Time
}

// NewLocal returns a limiter keeping its limits in this process.
func NewLocal() *Local {
	return &Local{now: time.Now, limits: make(map[string]*localLimit)}
}

// Allow implements Limiter. It never fails but for mismatched scopes and policies.
func (l *Local) Allow(_ context.Context, scopes []tenant.Scope, policies []tenant.Policy, tokens int64) (Decision, error) {
	ls, err := limits(scopes, policies, tokens)
	if err != nil || len(ls) == 0 {
		return Decision{Allowed: err == nil}, err
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	lims := make([]*rate.Limiter, len(ls))
	for i, x := range ls {
		lims[i] = l.limiter(x, now)
		if have := lims[i].TokensAt(now); have < float64(x.cost) {
			return Decision{
				Scope:      x.scope,
				Unit:       x.unit,
				Limit:      x.max,
				RetryAfter: refill(float64(x.cost)-have, x.max),
				Reset:      refill(float64(x.max)-have, x.max),
			}, nil
		}
	}
	var best Decision
	for i, x := range ls {
		lims[i].AllowN(now, int(x.cost)) // true: checked above, under l.mu
		left := lims[i].TokensAt(now)
		d := Decision{
			Allowed:   true,
			Scope:     x.scope,
			Unit:      x.unit,
			Limit:     x.max,
			Remaining: int64(math.Floor(left)),
			Reset:     refill(float64(x.max)-left, x.max),
		}
		if i == 0 || tighter(d, best) {
			best = d
		}
	}
	return best, nil
}

// limiter returns x's limiter, made full or updated to x's limit. l.mu is held.
func (l *Local) limiter(x limit, now time.Time) *rate.Limiter {
	perSecond := rate.Limit(float64(x.max) / 60)
	ll, ok := l.limits[x.name()]
	if !ok {
		ll = &localLimit{lim: rate.NewLimiter(perSecond, int(x.max))}
		l.limits[x.name()] = ll
	} else if ll.lim.Burst() != int(x.max) {
		ll.lim.SetLimitAt(now, perSecond)
		ll.lim.SetBurstAt(now, int(x.max))
	}
	ll.used = now
	return ll.lim
}

// sweep forgets the limits unused for idleAfter, at most once every idleAfter. l.mu is
// held.
func (l *Local) sweep(now time.Time) {
	if now.Sub(l.swept) < idleAfter {
		return
	}
	l.swept = now
	for name, ll := range l.limits {
		if now.Sub(ll.used) >= idleAfter {
			delete(l.limits, name)
		}
	}
}

// refill is how long a limit of perMinute takes to gain n.
func refill(n float64, perMinute int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(n * float64(time.Minute) / float64(perMinute))
}
