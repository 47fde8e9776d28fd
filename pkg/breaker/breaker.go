// Package breaker is lynkr's circuit breaker: one per provider, a thin layer over
// github.com/sony/gobreaker/v2 with Lynkr's settings (CIRCUIT_BREAKER_*).
//
// A breaker is closed while the provider answers. FailureThreshold consecutive provider faults
// open it: calls then fail fast with an error wrapping ErrOpen that says when the breaker will
// let a probe through. After Timeout it is half-open: up to SuccessThreshold probes go through,
// and that many successes in a row close it again, while one fault opens it for another
// Timeout.
//
// Calls are reported in two steps, because a streamed answer ends long after it starts:
//
//	done, err := b.Allow()
//	if err != nil {
//		return err // errors.Is(err, breaker.ErrOpen); *OpenError carries Until
//	}
//	err = call()
//	done(breaker.OutcomeOf(err))
//
// Only provider faults count against a breaker. A call that failed through no fault of the
// provider (the request was invalid, the client went away) is Neutral: neither a failure nor a
// success, so in half-open it frees its probe slot without closing the breaker.
//
// State changes can be shared through a JetStream key-value bucket (Bucket): a Publisher
// writes them, a Board watches them, so gateways stop queueing work for a provider that any
// worker found down and other workers fail fast too.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/retry"
)

// Config holds a breaker's settings, the same for every provider.
type Config struct {
	// FailureThreshold is how many provider faults in a row open the breaker
	// (CIRCUIT_BREAKER_FAILURE_THRESHOLD, default 5).
	FailureThreshold int
	// SuccessThreshold is how many successes in a row close a half-open breaker
	// (CIRCUIT_BREAKER_SUCCESS_THRESHOLD, default 2). It is also how many probes a half-open
	// breaker lets through at once: gobreaker ties the two together.
	SuccessThreshold int
	// Timeout is how long the breaker stays open before it lets probes through
	// (CIRCUIT_BREAKER_TIMEOUT, ms, default 60000).
	Timeout time.Duration
}

// DefaultConfig is Lynkr's default: 5 faults open, 2 successes close, 60 s open.
func DefaultConfig() Config {
	return Config{FailureThreshold: 5, SuccessThreshold: 2, Timeout: 60 * time.Second}
}

// ConfigFromEnv reads the CIRCUIT_BREAKER_* variables.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	e := config.NewEnv(lookup)
	d := DefaultConfig()
	c := Config{
		FailureThreshold: e.Int("CIRCUIT_BREAKER_FAILURE_THRESHOLD", d.FailureThreshold, 1),
		SuccessThreshold: e.Int("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", d.SuccessThreshold, 1),
		Timeout:          e.Millis("CIRCUIT_BREAKER_TIMEOUT", d.Timeout),
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// maxThreshold keeps thresholds within gobreaker's uint32 counters.
const maxThreshold = 1 << 20

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.FailureThreshold < 1 || c.FailureThreshold > maxThreshold:
		return fmt.Errorf("CIRCUIT_BREAKER_FAILURE_THRESHOLD=%d: want an integer between 1 and %d", c.FailureThreshold, maxThreshold)
	case c.SuccessThreshold < 1 || c.SuccessThreshold > maxThreshold:
		return fmt.Errorf("CIRCUIT_BREAKER_SUCCESS_THRESHOLD=%d: want an integer between 1 and %d", c.SuccessThreshold, maxThreshold)
	case c.Timeout <= 0:
		return fmt.Errorf("CIRCUIT_BREAKER_TIMEOUT=%d: want a positive number of milliseconds", c.Timeout.Milliseconds())
	}
	return nil
}

// State is a breaker's state.
type State uint8

// States, as they are written to the shared bucket.
const (
	StateClosed State = iota
	StateHalfOpen
	StateOpen
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half_open"
	case StateOpen:
		return "open"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) {
	if s > StateOpen {
		return nil, fmt.Errorf("breaker state %d: unknown", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "closed":
		*s = StateClosed
	case "half_open":
		*s = StateHalfOpen
	case "open":
		*s = StateOpen
	default:
		return fmt.Errorf("breaker state %q: want closed, half_open or open", b)
	}
	return nil
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	}
	return StateClosed
}

// Outcome is how a call that a breaker allowed ended. The zero value is Neutral.
type Outcome uint8

const (
	// Neutral: the call failed through no fault of the provider (a 4xx caused by the request,
	// an endpoint the provider lacks, a client that went away). It counts neither way.
	Neutral Outcome = iota
	// Success: the provider answered.
	Success
	// Fault: the provider failed (5xx, 429, 408, a timeout, a connection error). It counts
	// against the breaker.
	Fault
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Fault:
		return "fault"
	}
	return "neutral"
}

// The errors an Outcome is reported to gobreaker as.
var (
	errFault   = errors.New("provider fault")
	errNeutral = errors.New("not the provider's fault")
)

func (o Outcome) err() error {
	switch o {
	case Success:
		return nil
	case Fault:
		return errFault
	}
	return errNeutral
}

// OutcomeOf classifies the error of a call to a provider:
//
//   - nil is Success;
//   - a client that went away (context.Canceled) is Neutral;
//   - an *apierror.Error is a Fault when its status is one the provider may recover from
//     (retry.TransientStatus: 5xx but 501, 429, 408), else Neutral (the request's fault, or an
//     endpoint the provider lacks);
//   - anything else (timeouts, connection errors, broken streams, unknown errors) is a Fault.
//
// 429 counts as a fault: the provider is refusing our traffic. In lynkr the workers of a
// provider share its account and quota, so a run of 429s means every request sent now will be
// refused too; opening the breaker stops wasting quota (some providers lengthen the penalty
// while calls keep coming) and sends requests to a fallback provider instead. A few scattered
// 429s do not open it: only FailureThreshold faults in a row do.
//
// An error marked retry.Final (the stream already reached the client) is classified by what
// it wraps: a stream cut by the provider is still its fault.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, context.Canceled) {
		return Neutral
	}
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return OutcomeOfStatus(ae.Status)
	}
	return Fault
}

// OutcomeOfStatus classifies an HTTP status the provider answered with. A 429 is neutral:
// it says "slow down" to the traffic that caused it — often one tenant's — not that the
// provider is down, and a breaker it opened would refuse every tenant. It is still retried
// after its Retry-After.
func OutcomeOfStatus(status int) Outcome {
	switch {
	case status < http.StatusBadRequest:
		return Success
	case status == http.StatusTooManyRequests:
		return Neutral
	case retry.TransientStatus(status):
		return Fault
	}
	return Neutral
}

// ErrOpen is wrapped by the error of a call that a breaker refused.
var ErrOpen = errors.New("circuit breaker open")

// halfOpenWait is the Until of a call refused because a half-open breaker's probes are all in
// flight: their outcome decides, and a probe usually takes about this long.
const halfOpenWait = time.Second

// OpenError is the error of a refused call: errors.Is(err, ErrOpen).
type OpenError struct {
	// Provider is the breaker's provider.
	Provider string
	// State is StateOpen, or StateHalfOpen when every probe slot is taken.
	State State
	// Until is when the breaker lets the next probe through: a client's Retry-After.
	Until time.Time
	// By is the instance that found the provider down, when the refusal comes from the shared
	// Board rather than this process's own breaker.
	By string
}

func (e *OpenError) Error() string {
	msg := "provider " + e.Provider + ": " + ErrOpen.Error()
	if e.State == StateHalfOpen {
		msg += " (half-open, probes in flight)"
	}
	if e.By != "" {
		msg += " (found down by " + e.By + ")"
	}
	return msg + " until " + e.Until.UTC().Format(time.RFC3339)
}

// Unwrap makes errors.Is(err, ErrOpen) hold.
func (e *OpenError) Unwrap() error { return ErrOpen }

// RetryAfter is how long a client should wait from now, in whole seconds as Retry-After
// counts them, rounded up and at least one.
func (e *OpenError) RetryAfter(now time.Time) time.Duration {
	d := e.Until.Sub(now)
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// Breaker is the circuit breaker of one provider. It is safe for concurrent use.
type Breaker struct {
	provider string
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	cfg      Config
	// until is when the current open period ends, in Unix nanoseconds; written under
	// gobreaker's lock when the breaker opens.
	until    atomic.Int64
	board    *Board
	instance string
	onChange func(Change)
}

// Change is a breaker's change of state.
type Change struct {
	Provider string
	From, To State
	// At is when the state changed.
	At time.Time
	// Until is when an open breaker will let probes through; zero for other states.
	Until time.Time
}

// New returns the breaker of a provider; cfg must have passed Validate. onChange, if not nil,
// is called on every change of state, with the breaker's lock held: it must be quick and must
// not call the breaker.
func New(provider string, cfg Config, onChange func(Change)) *Breaker {
	return newBreaker(provider, cfg, Options{OnStateChange: onChange})
}

func newBreaker(provider string, cfg Config, opts Options) *Breaker {
	b := &Breaker{provider: provider, cfg: cfg, board: opts.Board, instance: opts.Instance, onChange: opts.OnStateChange}
	threshold := uint32(cfg.FailureThreshold)
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        provider,
		MaxRequests: uint32(cfg.SuccessThreshold),
		Timeout:     cfg.Timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		// Neutral outcomes are excluded: not counted, and their half-open probe slot is freed.
		// Counting them as successes would let a run of 400s close a breaker whose provider
		// is still down; as failures, a client sending bad requests could open it.
		IsExcluded:    func(err error) bool { return err == errNeutral },
		IsSuccessful:  func(err error) bool { return err == nil },
		OnStateChange: b.changed,
	})
	return b
}

// changed runs under gobreaker's lock.
func (b *Breaker) changed(_ string, from, to gobreaker.State) {
	now := time.Now()
	c := Change{Provider: b.provider, From: fromGobreaker(from), To: fromGobreaker(to), At: now}
	if c.To == StateOpen {
		c.Until = now.Add(b.cfg.Timeout)
		b.until.Store(c.Until.UnixNano())
	}
	if b.onChange != nil {
		b.onChange(c)
	}
}

// Provider is the breaker's provider.
func (b *Breaker) Provider() string { return b.provider }

// State is the breaker's state now. An open breaker whose timeout has passed reads as
// half-open.
func (b *Breaker) State() State { return fromGobreaker(b.cb.State()) }

// Allow asks whether a call may go to the provider. If so, done must be called exactly once
// with the call's outcome when the call has ended (for a stream: when the stream has ended).
// If not, err wraps ErrOpen and is an *OpenError.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	if b.board != nil {
		if e, open := b.board.entry(b.provider); open && e.By != b.instance {
			return nil, &OpenError{Provider: b.provider, State: StateOpen, Until: e.Until, By: e.By}
		}
	}
	report, err := b.cb.Allow()
	if err != nil {
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, &OpenError{Provider: b.provider, State: StateHalfOpen, Until: time.Now().Add(halfOpenWait)}
		}
		return nil, &OpenError{Provider: b.provider, State: StateOpen, Until: time.Unix(0, b.until.Load())}
	}
	return func(o Outcome) { report(o.err()) }, nil
}
