// Package retry is the one retry loop around a call to an upstream provider, on
// github.com/sethvargo/go-retry, with Lynkr's settings (API_RETRY_*).
//
// A failed attempt is tried again only if Retryable says so (5xx, 429, 408, timeouts,
// connection errors; never other 4xx, nor an error marked Final because the answer already
// started to reach the client), after an exponential backoff with ±50% jitter capped at
// MaxDelay (1s±0.5s, 2s±1s, 4s±2s, …), or after the provider's Retry-After if that is longer.
// It is not tried again if the wait would pass the context's deadline, or if the provider's
// retry budget is spent: each Policy has a Budget, so retries cannot multiply an outage.
//
// Build one Policy per provider; they share nothing.
package retry

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	goretry "github.com/sethvargo/go-retry"

	"github.com/lynkr/lynkr/pkg/config"
)

// Jitter is the spread of each backoff: ±50% of it.
const Jitter = 0.5

// Config holds the retry settings, the same for every provider.
type Config struct {
	// MaxRetries is how many times a call is tried again after its first attempt
	// (API_RETRY_MAX_RETRIES, default 3); 0 turns retries off.
	MaxRetries int
	// InitialDelay is the backoff before the first retry, doubled for each further one
	// (API_RETRY_INITIAL_DELAY, ms, default 1000).
	InitialDelay time.Duration
	// MaxDelay caps a backoff, jitter included (API_RETRY_MAX_DELAY, ms, default 30000). A
	// provider's Retry-After may ask for longer and is honoured.
	MaxDelay time.Duration
	// BudgetRatio is the share of first attempts that may be retried once a provider's
	// budget is spent (API_RETRY_BUDGET_RATIO, default 0.1).
	BudgetRatio float64
	// BudgetMinPerSec is how many retries a second a provider may have whatever its traffic
	// (API_RETRY_BUDGET_MIN_PER_SEC, default 1).
	BudgetMinPerSec float64
}

// DefaultConfig is Lynkr's default: 3 retries, 1 s doubling up to 30 s, 10% budget, 1/s.
func DefaultConfig() Config {
	return Config{
		MaxRetries:      3,
		InitialDelay:    time.Second,
		MaxDelay:        30 * time.Second,
		BudgetRatio:     0.1,
		BudgetMinPerSec: 1,
	}
}

// Bounds of the settings.
const (
	maxRetriesLimit = 100
	maxBudgetRatio  = 100
	maxBudgetPerSec = 1e6
)

// ConfigFromEnv reads the API_RETRY_* variables.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	e := config.NewEnv(lookup)
	d := DefaultConfig()
	c := Config{
		MaxRetries:      e.Int("API_RETRY_MAX_RETRIES", d.MaxRetries, 0),
		InitialDelay:    e.Millis("API_RETRY_INITIAL_DELAY", d.InitialDelay),
		MaxDelay:        e.Millis("API_RETRY_MAX_DELAY", d.MaxDelay),
		BudgetRatio:     e.Float("API_RETRY_BUDGET_RATIO", d.BudgetRatio, 0, maxBudgetRatio),
		BudgetMinPerSec: e.Float("API_RETRY_BUDGET_MIN_PER_SEC", d.BudgetMinPerSec, 0, maxBudgetPerSec),
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.MaxRetries < 0 || c.MaxRetries > maxRetriesLimit:
		return fmt.Errorf("API_RETRY_MAX_RETRIES=%d: want an integer between 0 and %d", c.MaxRetries, maxRetriesLimit)
	case c.InitialDelay <= 0:
		return fmt.Errorf("API_RETRY_INITIAL_DELAY=%d: want a positive number of milliseconds", c.InitialDelay.Milliseconds())
	case c.MaxDelay < c.InitialDelay:
		return fmt.Errorf("API_RETRY_MAX_DELAY=%d: want at least API_RETRY_INITIAL_DELAY (%d ms)", c.MaxDelay.Milliseconds(), c.InitialDelay.Milliseconds())
	case !(c.BudgetRatio >= 0 && c.BudgetRatio <= maxBudgetRatio):
		return fmt.Errorf("API_RETRY_BUDGET_RATIO=%g: want a number between 0 and %d", c.BudgetRatio, maxBudgetRatio)
	case !(c.BudgetMinPerSec >= 0 && c.BudgetMinPerSec <= maxBudgetPerSec):
		return fmt.Errorf("API_RETRY_BUDGET_MIN_PER_SEC=%g: want a number between 0 and %g", c.BudgetMinPerSec, float64(maxBudgetPerSec))
	}
	return nil
}

// GiveUp is why a retryable error was not retried.
type GiveUp uint8

const (
	// GaveUpMaxRetries: MaxRetries retries were made already.
	GaveUpMaxRetries GiveUp = iota
	// GaveUpDeadline: the wait would have passed the context's deadline.
	GaveUpDeadline
	// GaveUpBudget: the provider's retry budget was spent.
	GaveUpBudget
)

func (g GiveUp) String() string {
	switch g {
	case GaveUpMaxRetries:
		return "max_retries"
	case GaveUpDeadline:
		return "deadline"
	case GaveUpBudget:
		return "budget"
	}
	return fmt.Sprintf("giveup(%d)", uint8(g))
}

// Options are a Policy's hooks and, for tests, its sources of time and chance.
type Options struct {
	// OnRetry, if not nil, is called before each retry: ctx is Do's, attempt is the attempt
	// that failed with err (1 for the first), delay the wait before the next one.
	OnRetry func(ctx context.Context, attempt int, delay time.Duration, err error)
	// OnGiveUp, if not nil, is called when a retryable error is returned without a retry.
	OnGiveUp func(ctx context.Context, attempt int, why GiveUp, err error)
	// Now is the budget's clock (nil: time.Now). Deadlines are always compared with time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) that places each backoff in its jitter band
	// (nil: math/rand/v2).
	Rand func() float64
}

// Policy retries the calls to one provider. It is safe for concurrent use.
type Policy struct {
	cfg    Config
	opts   Options
	budget *Budget
}

// New returns the policy of one provider, with a full budget. cfg must be valid.
func New(cfg Config, opts Options) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	return &Policy{cfg: cfg, opts: opts, budget: NewBudget(cfg.BudgetRatio, cfg.BudgetMinPerSec, opts.Now)}, nil
}

// Budget is the policy's retry budget.
func (p *Policy) Budget() *Budget { return p.budget }

// Do calls fn, attempt 1 first, until it succeeds, fails in a way that is not Retryable, or
// may not be retried (MaxRetries, the deadline of ctx, the budget). It returns fn's last
// error as fn returned it, or the cause of ctx if ctx ended while Do was waiting.
func (p *Policy) Do(ctx context.Context, fn func(ctx context.Context, attempt int) error) error {
	p.budget.Deposit()
	var (
		attempt int
		last    error
	)
	next := p.backoff(ctx, &attempt, &last)
	return goretry.Do(ctx, next, func(ctx context.Context) error {
		attempt++
		last = fn(ctx, attempt)
		if Retryable(last) {
			return goretry.RetryableError(last)
		}
		return last
	})
}

// backoff is the wait before each retry. go-retry calls it, on Do's goroutine, right after
// an attempt failed with a retryable error, so it reads that attempt's number and error.
func (p *Policy) backoff(ctx context.Context, attempt *int, last *error) goretry.Backoff {
	var b goretry.Backoff = goretry.NewExponential(p.cfg.InitialDelay)
	b = withJitter(b, p.opts.Rand)
	b = goretry.WithCappedDuration(p.cfg.MaxDelay, b)
	b = goretry.WithMaxRetries(uint64(p.cfg.MaxRetries), b)
	return goretry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := b.Next()
		if stop {
			return p.giveUp(ctx, *attempt, GaveUpMaxRetries, *last)
		}
		d = max(d, RetryAfter(*last))
		if deadline, ok := ctx.Deadline(); ok && !time.Now().Add(d).Before(deadline) {
			return p.giveUp(ctx, *attempt, GaveUpDeadline, *last)
		}
		if !p.budget.Withdraw() {
			return p.giveUp(ctx, *attempt, GaveUpBudget, *last)
		}
		if p.opts.OnRetry != nil {
			p.opts.OnRetry(ctx, *attempt, d, *last)
		}
		return d, false
	})
}

func (p *Policy) giveUp(ctx context.Context, attempt int, why GiveUp, err error) (time.Duration, bool) {
	if p.opts.OnGiveUp != nil {
		p.opts.OnGiveUp(ctx, attempt, why, err)
	}
	return 0, true
}

// withJitter spreads each backoff d uniformly over [d-Jitter·d, d+Jitter·d).
func withJitter(next goretry.Backoff, rnd func() float64) goretry.Backoff {
	var floor time.Duration
	return goretry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := next.Next()
		if stop {
			return 0, true
		}
		// go-retry's doubling wraps around past 2^63 ns; a backoff never shrinks.
		d = max(d, floor)
		floor = d
		v := float64(d) * (1 + Jitter*(2*rnd()-1))
		if v >= math.MaxInt64 {
			return math.MaxInt64, false
		}
		return time.Duration(v), false
	})
}
