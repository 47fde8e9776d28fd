package limiter

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/lynkr/lynkr/pkg/config"
)

// Config sets the cluster-wide limits. The zero limits mean unlimited.
type Config struct {
	// RedisURL is the Redis the gateways share (REDIS_URL, e.g. redis://host:6379/0). Empty
	// means this process limits itself alone, in memory.
	RedisURL string
	// MaxInFlight is the most requests in flight across all gateways (LIMITER_MAX_IN_FLIGHT;
	// 0 = unlimited).
	MaxInFlight int
	// Rate is the most requests per second admitted across all gateways (LIMITER_RATE;
	// 0 = unlimited).
	Rate float64
	// Burst is how many requests may arrive at once above the rate (LIMITER_BURST; 0 = one
	// second's worth of Rate, at least 1). In any window of length w, at most Burst + Rate*w
	// requests are admitted.
	Burst int
	// LeaseTTL is how long an in-flight slot outlives a gateway that stops renewing it, a
	// crashed one say (LIMITER_LEASE_TTL, ms). A live gateway renews its leases every
	// LeaseTTL/3.
	LeaseTTL time.Duration
	// KeyPrefix names the Redis keys, {prefix}:inflight and {prefix}:rate; the braces keep
	// both in one Redis Cluster slot (LIMITER_KEY_PREFIX).
	KeyPrefix string
	// FailOpen admits requests while Redis is unreachable, counting them and calling
	// OnRedisError; false refuses them with an error wrapping ErrUnavailable and ErrLimited
	// (LIMITER_FAIL_OPEN).
	FailOpen bool
	// Timeout bounds each Redis call an Acquire makes, after which Redis counts as
	// unreachable (LIMITER_TIMEOUT, ms).
	Timeout time.Duration
	// RetryAfter is what a request refused for the in-flight limit, or for an unreachable
	// Redis, is told to wait; a request refused by the rate is told its exact wait
	// (LIMITER_RETRY_AFTER, ms).
	RetryAfter time.Duration

	// Logger gets a line when Redis becomes unreachable and when it is back, and when leases
	// are lost. Nil discards.
	Logger *slog.Logger
	// OnRedisError, if set, is called for each request decided without Redis because it is
	// unreachable, with the Redis error and whether the request was admitted anyway
	// (FailOpen); a metric counter belongs here. After a failed call the limiter decides
	// without Redis for a second before trying it again, so an outage does not cost every
	// request a Timeout.
	OnRedisError func(err error, admitted bool)
}

// DefaultConfig is the configuration with no variables set: in memory, unlimited.
func DefaultConfig() Config {
	return Config{
		LeaseTTL:   10 * time.Second,
		KeyPrefix:  "lynkr:limiter",
		FailOpen:   true,
		Timeout:    500 * time.Millisecond,
		RetryAfter: time.Second,
	}
}

// ConfigFromEnv reads REDIS_URL and the LIMITER_* variables over the defaults. The error
// names the first bad variable.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	d := DefaultConfig()
	e := config.NewEnv(lookup)
	c := Config{
		RedisURL:    e.String("REDIS_URL", d.RedisURL),
		MaxInFlight: e.Int("LIMITER_MAX_IN_FLIGHT", d.MaxInFlight, 0),
		Rate:        e.Float("LIMITER_RATE", d.Rate, 0, 1e6),
		Burst:       e.Int("LIMITER_BURST", d.Burst, 0),
		LeaseTTL:    e.Millis("LIMITER_LEASE_TTL", d.LeaseTTL),
		KeyPrefix:   e.String("LIMITER_KEY_PREFIX", d.KeyPrefix),
		FailOpen:    e.Bool("LIMITER_FAIL_OPEN", d.FailOpen),
		Timeout:     e.Millis("LIMITER_TIMEOUT", d.Timeout),
		RetryAfter:  e.Millis("LIMITER_RETRY_AFTER", d.RetryAfter),
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks the settings, for a Config built in code as well as from the environment.
func (c Config) Validate() error {
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("LIMITER_MAX_IN_FLIGHT=%d: want an integer >= 0 (0 = unlimited)", c.MaxInFlight)
	case !(c.Rate >= 0 && c.Rate <= 1e6):
		return fmt.Errorf("LIMITER_RATE=%g: want requests per second between 0 (unlimited) and 1e6", c.Rate)
	case c.Burst < 0:
		return fmt.Errorf("LIMITER_BURST=%d: want an integer >= 0 (0 = one second's worth of LIMITER_RATE)", c.Burst)
	case c.LeaseTTL < 100*time.Millisecond || c.LeaseTTL > time.Hour:
		return fmt.Errorf("LIMITER_LEASE_TTL=%s: want between 100 and 3600000 milliseconds", c.LeaseTTL)
	case c.KeyPrefix == "" || strings.ContainsAny(c.KeyPrefix, "{} \t\r\n"):
		return fmt.Errorf("LIMITER_KEY_PREFIX=%q: want a non-empty key prefix without braces or spaces", c.KeyPrefix)
	case c.Timeout <= 0 || c.Timeout > time.Minute:
		return fmt.Errorf("LIMITER_TIMEOUT=%s: want between 1 and 60000 milliseconds", c.Timeout)
	case c.RetryAfter <= 0 || c.RetryAfter > 5*time.Minute:
		return fmt.Errorf("LIMITER_RETRY_AFTER=%s: want between 1 and 300000 milliseconds", c.RetryAfter)
	}
	return nil
}

// burst is Burst, or one second's worth of Rate when Burst is 0.
func (c Config) burst() int64 {
	if c.Burst > 0 {
		return int64(c.Burst)
	}
	return max(1, int64(math.Ceil(c.Rate)))
}

// interval is the time one request uses of the rate, or 0 with no rate limit.
func (c Config) interval() time.Duration {
	if c.Rate <= 0 {
		return 0
	}
	return max(1, time.Duration(float64(time.Second)/c.Rate))
}

func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}
