// Package limiter is the limit the gateways share: at most MaxInFlight requests in flight and
// at most Rate requests per second across every gateway instance.
//
// With REDIS_URL the state lives in Redis and every check-and-take is one Lua script run
// against Redis's own clock. An in-flight slot is a lease, a member of a sorted set scored by
// its expiry: the gateway holding it renews it every LeaseTTL/3 and releases it when the
// request ends, and a crashed gateway's slots come back once their leases expire. The rate is
// a GCRA token bucket (one timestamp). Without REDIS_URL the same limits hold for the process
// alone, with atomics.
package limiter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/config"
)

// Limiter admits requests within the cluster's limits.
type Limiter interface {
	// Acquire takes one in-flight slot (and one unit of rate). It returns ErrLimited
	// (wrapped in a *LimitedError, with RetryAfter) when the cluster is at its limit.
	Acquire(ctx context.Context) (Lease, error)
	// Close stops renewing leases and gives back the ones still held.
	Close() error
}

// Pinger is a limiter that depends on a server, which readiness checks ask.
type Pinger interface {
	Ping(ctx context.Context) error
}

// RedisUser is a limiter that talks to Redis, whose client other parts of the gateway (the
// response cache) share rather than open a second pool to the same server. The limiter owns
// the client: it is closed with the limiter.
type RedisUser interface {
	Client() redis.UniversalClient
}

// Lease is one admitted request's in-flight slot.
type Lease interface {
	// Release gives the slot back. It is idempotent: calls after the first do nothing.
	Release()
}

var (
	// ErrLimited is wrapped by every refusal; errors.As gives the *LimitedError.
	ErrLimited = errors.New("limited")
	// ErrUnavailable is wrapped, with the Redis error, by the refusal of a limiter that
	// fails closed while Redis is unreachable.
	ErrUnavailable = errors.New("redis unavailable")
	// ErrClosed is returned by Acquire after Close.
	ErrClosed = errors.New("limiter: closed")
)

// The reasons a request is refused.
const (
	ReasonInFlight    = "in_flight"
	ReasonRate        = "rate"
	ReasonUnavailable = "unavailable"
)

// LimitedError is a refusal: why, and how long to wait before trying again.
type LimitedError struct {
	// RetryAfter is the wait to send in the Retry-After header; always positive.
	RetryAfter time.Duration
	// Reason is ReasonInFlight, ReasonRate or ReasonUnavailable.
	Reason string
	// Limit describes the limit that refused, for logs.
	Limit string
	// Err is the cause of a ReasonUnavailable refusal (it wraps ErrUnavailable).
	Err error
}

func (e *LimitedError) Error() string {
	msg := "limiter: " + e.Limit
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; retry after " + e.RetryAfter.String()
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// Unwrap gives the cause of an unavailable refusal.
func (e *LimitedError) Unwrap() error { return e.Err }

// RetryAfter is the wait a refusal asks for, and false when err is not a refusal.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitedError
	if errors.As(err, &le) {
		return le.RetryAfter, true
	}
	return 0, false
}

// Stats counts what a limiter decided since it started.
type Stats struct {
	Admitted uint64 `json:"admitted"`
	// Limited counts refusals for the in-flight limit or the rate.
	Limited uint64 `json:"limited"`
	// FailedOpen counts requests admitted because Redis was unreachable; FailedClosed those
	// refused for it.
	FailedOpen   uint64 `json:"failed_open"`
	FailedClosed uint64 `json:"failed_closed"`
	// LeasesLost counts held leases found expired at renewal (a partition longer than the
	// lease TTL); their requests ran on outside the limit.
	LeasesLost uint64 `json:"leases_lost"`
	// Held is the in-flight slots this process holds now.
	Held int64 `json:"held"`
}

// New returns a Redis limiter when cfg names a Redis, else a local one. The Redis limiter
// owns the client it makes and closes it on Close. An unreachable Redis is not an error here:
// the limiter fails open or closed as configured until Redis answers.
func New(ctx context.Context, cfg Config) (Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RedisURL == "" {
		return NewLocal(cfg)
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// The URL may hold a password: name the variable, not its value, which url.Parse's
		// errors quote.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.ContextTimeoutEnabled = true // Timeout bounds every call, dial included
	opt.DialerRetries = 1            // within that bound, a refused dial is not worth repeating
	client := redis.NewClient(opt)
	l, err := newRedis(client, cfg, true)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		l.log.Warn("limiter: Redis is not reachable at start", "addr", opt.Addr, "err", err, "fail_open", cfg.FailOpen)
	}
	return l, nil
}

// FromEnv reads the configuration with lookup and builds the limiter it names.
func FromEnv(ctx context.Context, lookup config.Lookup) (Limiter, error) {
	cfg, err := ConfigFromEnv(lookup)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// noLease is the lease of a request no in-flight limit counts.
type noLease struct{}

func (noLease) Release() {}
