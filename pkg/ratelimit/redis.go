package ratelimit

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// DefaultRedisPrefix starts the names of the limits' Redis keys.
const DefaultRedisPrefix = "lynkr:ratelimit"

// Redis enforces the limits across every gateway sharing one Redis, with GCRA
// (redis_rate): each limit is one Redis key holding its theoretical arrival time, so a
// limit costs one script call per request and one small key per limited scope, which
// expires once the limit is fully replenished. A policy change takes effect at the next
// request: the limit is passed with each call, not stored. An exhausted limit that is
// raised stays empty and refills at the new rate, as Local's does.
//
// Each limit is checked and taken in one call, one limit after another, so a request
// refused by a later limit has already taken its share of the earlier ones (redis_rate
// cannot check a limit without taking from it): a key's request refused by its team's
// limit still counts against the key's own limit. Checking narrowest first puts that cost
// on the request's own key and the groups narrower than the refusing limit's scope, never
// on a broader one shared with more keys.
type Redis struct {
	rl     *redis_rate.Limiter
	prefix string
}

// NewRedis returns a limiter keeping its limits in Redis under prefix (DefaultRedisPrefix
// when empty). Each limit's key is redis_rate's "rate:" then "<prefix>:<kind>:<name>:rpm"
// or ":tpm". The caller keeps and closes client. On Redis Cluster the keys of one request
// are in different slots, which redis_rate does not mind: each call touches one key.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{rl: redis_rate.NewLimiter(client), prefix: prefix}
}

// Allow implements Limiter. A Redis error is returned wrapped, with the zero Decision.
func (r *Redis) Allow(ctx context.Context, scopes []tenant.Scope, policies []tenant.Policy, tokens int64) (Decision, error) {
	ls, err := limits(scopes, policies, tokens)
	if err != nil || len(ls) == 0 {
		return Decision{Allowed: err == nil}, err
	}
	var best Decision
	for i, l := range ls {
		res, err := r.rl.AllowN(ctx, r.prefix+":"+l.name(), redis_rate.PerMinute(int(l.max)), int(l.cost))
		if err != nil {
			return Decision{}, fmt.Errorf("ratelimit: %w", err)
		}
		d := Decision{
			Allowed:   res.Allowed > 0,
			Scope:     l.scope,
			Unit:      l.unit,
			Limit:     l.max,
			Remaining: int64(res.Remaining),
			Reset:     max(res.ResetAfter, 0),
		}
		if !d.Allowed {
			d.Remaining, d.RetryAfter = 0, max(res.RetryAfter, 0)
			return d, nil
		}
		if i == 0 || tighter(d, best) {
			best = d
		}
	}
	return best, nil
}
