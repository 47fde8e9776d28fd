package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/retry"
)

func TestConfigFromEnv(t *testing.T) {
	c, err := retry.ConfigFromEnv(config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c != retry.DefaultConfig() {
		t.Errorf("defaults = %+v, want %+v", c, retry.DefaultConfig())
	}
	if c.MaxRetries != 3 || c.InitialDelay != time.Second || c.MaxDelay != 30*time.Second || c.BudgetRatio != 0.1 || c.BudgetMinPerSec != 1 {
		t.Errorf("defaults = %+v, want Lynkr's 3, 1s, 30s, 0.1, 1", c)
	}

	c, err = retry.ConfigFromEnv(config.Map(map[string]string{
		"API_RETRY_MAX_RETRIES":        "0",
		"API_RETRY_INITIAL_DELAY":      "250",
		"API_RETRY_MAX_DELAY":          "5000",
		"API_RETRY_BUDGET_RATIO":       "0.2",
		"API_RETRY_BUDGET_MIN_PER_SEC": "5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := retry.Config{MaxRetries: 0, InitialDelay: 250 * time.Millisecond, MaxDelay: 5 * time.Second, BudgetRatio: 0.2, BudgetMinPerSec: 5}
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}

	for _, tc := range []struct{ name, value string }{
		{"API_RETRY_MAX_RETRIES", "-1"},
		{"API_RETRY_MAX_RETRIES", "many"},
		{"API_RETRY_MAX_RETRIES", "101"},
		{"API_RETRY_INITIAL_DELAY", "0"},
		{"API_RETRY_INITIAL_DELAY", "soon"},
		{"API_RETRY_MAX_DELAY", "10"},
		{"API_RETRY_BUDGET_RATIO", "-0.1"},
		{"API_RETRY_BUDGET_MIN_PER_SEC", "x"},
	} {
		_, err := retry.ConfigFromEnv(config.Map(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", tc.name, tc.value, err)
		}
	}
}

// upstream is an httptest server answering each call with the next of statuses (the last
// one repeats), and remembering when each call came.
type upstream struct {
	*httptest.Server
	mu         sync.Mutex
	statuses   []int
	retryAfter string
	calls      []time.Time
}

func newUpstream(t *testing.T, retryAfter string, statuses ...int) *upstream {
	u := &upstream{statuses: statuses, retryAfter: retryAfter}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		n := len(u.calls)
		u.calls = append(u.calls, time.Now())
		status := u.statuses[min(n, len(u.statuses)-1)]
		u.mu.Unlock()
		if status == http.StatusTooManyRequests && u.retryAfter != "" {
			w.Header().Set("Retry-After", u.retryAfter)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":{"message":"status `+http.StatusText(status)+`"}}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) times() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.calls...)
}

// call is one upstream call as a worker makes it: an error status becomes an *apierror.Error
// with the answer's Retry-After.
func (u *upstream) call(ctx context.Context, _ int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL, strings.NewReader("{}"))
	if err != nil {
		return err
	}
	resp, err := u.Client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		e := apierror.FromUpstream("test", resp.StatusCode, body)
		e.RetryAfter = retry.ParseRetryAfter(resp.Header, time.Now())
		return e
	}
	return nil
}

func newPolicy(t *testing.T, cfg retry.Config, opts retry.Options) *retry.Policy {
	t.Helper()
	p, err := retry.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fastConfig() retry.Config {
	c := retry.DefaultConfig()
	c.InitialDelay = 40 * time.Millisecond
	c.MaxDelay = time.Second
	return c
}

func gaps(ts []time.Time) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(ts); i++ {
		g = append(g, ts[i].Sub(ts[i-1]))
	}
	return g
}

// answers is an upstream, as a worker sees it without the network: each call gets the next
// of statuses (the last one repeats) as the error a worker builds of the answer, with its
// Retry-After; it remembers when each call came. In a synctest bubble no time passes during a
// call, so the gaps between calls are exactly the waits of the policy.
type answers struct {
	statuses   []int
	retryAfter string
	calls      []time.Time
}

func (a *answers) call(context.Context, int) error {
	status := a.statuses[min(len(a.calls), len(a.statuses)-1)]
	a.calls = append(a.calls, time.Now())
	if status < 400 {
		return nil
	}
	h := http.Header{}
	if status == http.StatusTooManyRequests && a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	e := apierror.FromUpstream("test", status, []byte(`{"error":{"message":"status `+http.StatusText(status)+`"}}`))
	e.RetryAfter = retry.ParseRetryAfter(h, time.Now())
	return e
}

func TestDoRetriesServerErrorsWithJitteredBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &answers{statuses: []int{500, 500, 200}}
		var delays []time.Duration
		p := newPolicy(t, fastConfig(), retry.Options{OnRetry: func(_ context.Context, attempt int, d time.Duration, err error) {
			if attempt != len(delays)+1 {
				t.Errorf("OnRetry attempt %d, want %d", attempt, len(delays)+1)
			}
			if apierror.As(err).Status != 500 {
				t.Errorf("OnRetry err = %v, want the 500", err)
			}
			delays = append(delays, d)
		}})
		if err := p.Do(context.Background(), u.call); err != nil {
			t.Fatalf("Do = %v, want success on the third call", err)
		}
		if len(u.calls) != 3 || len(delays) != 2 {
			t.Fatalf("%d calls, %d retries; want 3 and 2", len(u.calls), len(delays))
		}
		base := fastConfig().InitialDelay
		for i, g := range gaps(u.calls) {
			lo, hi := base/2, base*3/2 // ±50% of 40ms, then of 80ms
			if delays[i] < lo || delays[i] >= hi {
				t.Errorf("backoff %d = %v, want in [%v, %v)", i+1, delays[i], lo, hi)
			}
			if g != delays[i] {
				t.Errorf("gap %d = %v, want the backoff %v", i+1, g, delays[i])
			}
			base *= 2
		}
	})
}

func TestBackoffGrowsWithinItsBand(t *testing.T) {
	cfg := retry.DefaultConfig()
	cfg.InitialDelay = time.Millisecond
	cfg.MaxDelay = 6 * time.Millisecond
	cfg.MaxRetries = 5
	for _, tc := range []struct {
		name string
		rnd  float64
		want []time.Duration
	}{
		// 1, 2, 4, 8, 16 ms: the lower edge of each band, then the cap.
		{"low", 0, []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond}},
		{"middle", 0.5, []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 6 * time.Millisecond}},
		// just under the upper edge: 1.5, 3, 6 ms; jitter never lifts a backoff past the cap.
		{"high", 0.999999, []time.Duration{1499998 * time.Nanosecond, 2999997 * time.Nanosecond, 5999994 * time.Nanosecond, 6 * time.Millisecond, 6 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []time.Duration
			p := newPolicy(t, cfg, retry.Options{
				Rand:    func() float64 { return tc.rnd },
				OnRetry: func(_ context.Context, _ int, d time.Duration, _ error) { got = append(got, d) },
			})
			calls := 0
			err := p.Do(context.Background(), func(context.Context, int) error {
				calls++
				return apierror.New(503, "overloaded")
			})
			if apierror.As(err).Status != 503 || calls != 6 {
				t.Fatalf("Do = %v after %d calls; want the 503 after 6", err, calls)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("backoffs %v, want %v", got, tc.want)
			}
			for i := range got {
				if d := got[i] - tc.want[i]; d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("backoffs %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}

func TestDoDoesNotRetryRequestErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 413, 422, 501} {
		u := newUpstream(t, "", status, 200)
		p := newPolicy(t, fastConfig(), retry.Options{})
		err := p.Do(context.Background(), u.call)
		if got := apierror.As(err).Status; got != status {
			t.Errorf("status %d: Do = %v, want that error", status, err)
		}
		if n := len(u.times()); n != 1 {
			t.Errorf("status %d: %d calls, want 1", status, n)
		}
	}
}

func TestDoHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &answers{statuses: []int{429, 200}, retryAfter: "2"}
		cfg := fastConfig()
		cfg.InitialDelay = 10 * time.Millisecond
		var delay time.Duration
		p := newPolicy(t, cfg, retry.Options{OnRetry: func(_ context.Context, _ int, d time.Duration, _ error) { delay = d }})
		if err := p.Do(context.Background(), u.call); err != nil {
			t.Fatal(err)
		}
		if len(u.calls) != 2 {
			t.Fatalf("%d calls, want 2", len(u.calls))
		}
		if g := u.calls[1].Sub(u.calls[0]); g != 2*time.Second {
			t.Errorf("second call %v after the first, want the Retry-After of 2s", g)
		}
		if delay != 2*time.Second {
			t.Errorf("OnRetry delay = %v, want 2s", delay)
		}
	})
}

func TestDoStopsBeforeTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		initial    time.Duration
	}{
		{"retry-after past the deadline", "5", 10 * time.Millisecond},
		{"backoff past the deadline", "", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := &answers{statuses: []int{429, 200}, retryAfter: tc.retryAfter}
				cfg := fastConfig()
				cfg.InitialDelay, cfg.MaxDelay = tc.initial, 10*time.Second
				var why []retry.GiveUp
				p := newPolicy(t, cfg, retry.Options{
					Rand:     func() float64 { return 0.5 }, // no jitter: the backoff is the initial delay
					OnGiveUp: func(_ context.Context, _ int, g retry.GiveUp, _ error) { why = append(why, g) },
				})
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				start := time.Now()
				err := p.Do(ctx, u.call)
				if apierror.As(err).Status != 429 {
					t.Errorf("Do = %v, want the 429", err)
				}
				if el := time.Since(start); el != 0 {
					t.Errorf("Do took %v; it should give up at once, not wait for the deadline", el)
				}
				if n := len(u.calls); n != 1 {
					t.Errorf("%d calls, want 1", n)
				}
				if len(why) != 1 || why[0] != retry.GaveUpDeadline {
					t.Errorf("gave up for %v, want [deadline]", why)
				}
			})
		})
	}
}

// A wait that ends exactly at the deadline is not taken either: the retry would have no time.
func TestDoStopsAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &answers{statuses: []int{429, 200}, retryAfter: "1"}
		p := newPolicy(t, fastConfig(), retry.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Do(ctx, u.call); apierror.As(err).Status != 429 || len(u.calls) != 1 {
			t.Errorf("Do = %v after %d calls, want the 429 after 1", err, len(u.calls))
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second+time.Nanosecond)
		defer cancel()
		u = &answers{statuses: []int{429, 200}, retryAfter: "1"}
		if err := p.Do(ctx, u.call); err != nil || len(u.calls) != 2 {
			t.Errorf("with a nanosecond to spare: Do = %v after %d calls, want success after 2", err, len(u.calls))
		}
	})
}

func TestDoReturnsWhenContextEndsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig()
		cfg.InitialDelay, cfg.MaxDelay = 10*time.Second, 10*time.Second
		p := newPolicy(t, cfg, retry.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		calls := 0
		start := time.Now()
		err := p.Do(ctx, func(context.Context, int) error {
			calls++
			return apierror.New(502, "bad gateway")
		})
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("Do = %v after %d calls, want context.Canceled after 1", err, calls)
		}
		if el := time.Since(start); el != 50*time.Millisecond {
			t.Errorf("Do took %v, want to return when its context ended, after 50ms", el)
		}
	})
}

func TestFinalErrorsStop(t *testing.T) {
	p := newPolicy(t, fastConfig(), retry.Options{})
	upstream := apierror.New(500, "stream cut")
	calls := 0
	err := p.Do(context.Background(), func(context.Context, int) error {
		calls++
		return retry.Final(upstream)
	})
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae != upstream || !retry.IsFinal(err) || err.Error() != upstream.Error() {
		t.Errorf("Do = %v, want the upstream error, still marked final", err)
	}
	if retry.Final(nil) != nil {
		t.Error("Final(nil) != nil")
	}
}

func TestMaxRetries(t *testing.T) {
	for _, max := range []int{0, 1, 3} {
		cfg := fastConfig()
		cfg.MaxRetries, cfg.InitialDelay = max, time.Millisecond
		var why []retry.GiveUp
		p := newPolicy(t, cfg, retry.Options{OnGiveUp: func(_ context.Context, _ int, g retry.GiveUp, _ error) { why = append(why, g) }})
		var attempts []int
		err := p.Do(context.Background(), func(_ context.Context, attempt int) error {
			attempts = append(attempts, attempt)
			return apierror.New(500, "attempt %d", attempt)
		})
		if len(attempts) != max+1 || attempts[len(attempts)-1] != max+1 {
			t.Errorf("MaxRetries=%d: attempts %v, want 1..%d", max, attempts, max+1)
		}
		if want := apierror.New(500, "attempt %d", max+1).Error(); err == nil || err.Error() != want {
			t.Errorf("MaxRetries=%d: Do = %v, want the last error %q", max, err, want)
		}
		if len(why) != 1 || why[0] != retry.GaveUpMaxRetries {
			t.Errorf("MaxRetries=%d: gave up for %v, want [max_retries]", max, why)
		}
	}
}

func TestSuccessIsNotRetried(t *testing.T) {
	p := newPolicy(t, fastConfig(), retry.Options{})
	calls := 0
	if err := p.Do(context.Background(), func(context.Context, int) error { calls++; return nil }); err != nil || calls != 1 {
		t.Errorf("Do = %v after %d calls, want nil after 1", err, calls)
	}
}

// frozen is a clock that moves only when told.
type frozen struct{ ns atomic.Int64 }

func (c *frozen) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *frozen) add(d time.Duration) { c.ns.Add(int64(d)) }
func newFrozen() *frozen {
	c := &frozen{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func failing(context.Context, int) error { return apierror.New(503, "down") }

func TestBudgetStopsRetriesUnderABurstOfFailures(t *testing.T) {
	cfg := fastConfig()
	cfg.InitialDelay = time.Millisecond
	clock := newFrozen()
	var retries, budgetStops atomic.Int64
	p := newPolicy(t, cfg, retry.Options{
		Now:     clock.now,
		OnRetry: func(context.Context, int, time.Duration, error) { retries.Add(1) },
		OnGiveUp: func(_ context.Context, _ int, g retry.GiveUp, _ error) {
			if g == retry.GaveUpBudget {
				budgetStops.Add(1)
			}
		},
	})
	const n = 200
	var calls atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := p.Do(context.Background(), func(ctx context.Context, a int) error {
				calls.Add(1)
				return failing(ctx, a)
			})
			if apierror.As(err).Status != 503 {
				t.Errorf("Do = %v, want the 503", err)
			}
		})
	}
	wg.Wait()
	// The bucket starts with 10 tokens and 200 first attempts add 20; the clock stands still.
	if r := retries.Load(); r > 30 || r < 10 {
		t.Errorf("%d retries for %d failing calls, want 10..30 (not %d)", r, n, n*cfg.MaxRetries)
	}
	if c := calls.Load(); c != n+retries.Load() {
		t.Errorf("%d calls, want %d first attempts + %d retries", c, n, retries.Load())
	}
	if budgetStops.Load() == 0 {
		t.Error("no call gave up for the budget")
	}

	// The minimum rate refills the bucket as time passes: 1 retry a second.
	if left := p.Budget().Tokens(); left >= 1 {
		t.Fatalf("%g tokens left after the burst, want less than 1", left)
	}
	retries.Store(0)
	clock.add(3 * time.Second)
	for range 3 {
		_ = p.Do(context.Background(), failing)
	}
	if r := retries.Load(); r != 3 && r != 4 { // 3 tokens + what was left + 3 deposits of 0.1
		t.Errorf("%d retries after 3 s, want 3 or 4", r)
	}
}

func TestBudget(t *testing.T) {
	clock := newFrozen()
	b := retry.NewBudget(0.1, 1, clock.now)
	for range 10 {
		if !b.Withdraw() {
			t.Fatal("a new budget is not full")
		}
	}
	if b.Withdraw() {
		t.Fatal("withdrew an 11th token from a bucket of 10")
	}
	for range 9 {
		b.Deposit()
	}
	if b.Withdraw() {
		t.Fatal("9 deposits of 0.1 made a whole token")
	}
	b.Deposit()
	if !b.Withdraw() {
		t.Fatal("10 deposits of 0.1 did not make a token")
	}
	clock.add(time.Hour)
	if got := b.Tokens(); got != 10 {
		t.Errorf("after an hour: %g tokens, want the capacity 10", got)
	}

	none := retry.NewBudget(0, 0, clock.now)
	for range 10 {
		none.Withdraw()
	}
	none.Deposit()
	clock.add(time.Hour)
	if none.Withdraw() {
		t.Error("a budget with ratio 0 and no minimum rate refilled")
	}
}

func BenchmarkDo(b *testing.B) {
	p, err := retry.New(retry.DefaultConfig(), retry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ok := func(context.Context, int) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Do(ctx, ok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRetryable(b *testing.B) {
	err := fmt.Errorf("call: %w", apierror.New(503, "overloaded"))
	b.ReportAllocs()
	for b.Loop() {
		if !retry.Retryable(err) {
			b.Fatal("not retryable")
		}
	}
}
