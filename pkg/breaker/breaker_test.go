package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/retry"
)

func TestConfigFromEnv(t *testing.T) {
	c, err := breaker.ConfigFromEnv(config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := (breaker.Config{FailureThreshold: 5, SuccessThreshold: 2, Timeout: time.Minute}); c != want || c != breaker.DefaultConfig() {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
	c, err = breaker.ConfigFromEnv(config.Map(map[string]string{
		"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "3",
		"CIRCUIT_BREAKER_SUCCESS_THRESHOLD": "1",
		"CIRCUIT_BREAKER_TIMEOUT":           "15000",
	}))
	if want := (breaker.Config{FailureThreshold: 3, SuccessThreshold: 1, Timeout: 15 * time.Second}); err != nil || c != want {
		t.Errorf("config = %+v, %v; want %+v", c, err, want)
	}
	for _, tc := range []struct{ name, value string }{
		{"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0"},
		{"CIRCUIT_BREAKER_FAILURE_THRESHOLD", "five"},
		{"CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "-1"},
		{"CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "99999999"},
		{"CIRCUIT_BREAKER_TIMEOUT", "0"},
		{"CIRCUIT_BREAKER_TIMEOUT", "later"},
	} {
		_, err := breaker.ConfigFromEnv(config.Map(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", tc.name, tc.value, err)
		}
	}
}

// changes records the state changes of breakers.
type changes struct {
	mu  sync.Mutex
	all []breaker.Change
}

func (c *changes) add(ch breaker.Change) {
	c.mu.Lock()
	c.all = append(c.all, ch)
	c.mu.Unlock()
}

func (c *changes) path() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for _, ch := range c.all {
		if len(s) == 0 {
			s = append(s, ch.From.String())
		}
		s = append(s, ch.To.String())
	}
	return strings.Join(s, ">")
}

// call runs one allowed call with the given outcome.
func call(t *testing.T, b *breaker.Breaker, o breaker.Outcome) {
	t.Helper()
	done, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	done(o)
}

// In a synctest bubble the clock stands still while the test runs: times are exact.
func TestOpensAfterConsecutiveFaults(t *testing.T) {
	synctest.Test(t, testOpensAfterConsecutiveFaults)
}

func testOpensAfterConsecutiveFaults(t *testing.T) {
	var ch changes
	b := breaker.New("openai", breaker.Config{FailureThreshold: 5, SuccessThreshold: 2, Timeout: time.Minute}, ch.add)

	for range 4 {
		call(t, b, breaker.Fault)
	}
	call(t, b, breaker.Success) // a success breaks the run
	for range 4 {
		call(t, b, breaker.Fault)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Fatalf("state after 4 faults, a success and 4 faults = %v, want closed", s)
	}
	call(t, b, breaker.Neutral) // a request's own error neither breaks the run nor adds to it
	if s := b.State(); s != breaker.StateClosed {
		t.Fatalf("state after a neutral outcome = %v, want closed", s)
	}
	opened := time.Now()
	call(t, b, breaker.Fault)
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state after 5 faults in a row (a neutral among them) = %v, want open", s)
	}

	_, err := b.Allow()
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Allow of an open breaker = %v, want ErrOpen", err)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Provider != "openai" || oe.State != breaker.StateOpen || oe.By != "" {
		t.Fatalf("Allow error = %#v, want an *OpenError of openai, open", err)
	}
	if !oe.Until.Equal(opened.Add(time.Minute)) {
		t.Errorf("Until = %v, want a minute after the fifth fault (%v)", oe.Until, opened)
	}
	if ra := oe.RetryAfter(opened); ra != time.Minute {
		t.Errorf("RetryAfter = %v, want a minute", ra)
	}
	time.Sleep(time.Minute - 1500*time.Millisecond)
	if ra := oe.RetryAfter(time.Now()); ra != 2*time.Second {
		t.Errorf("RetryAfter 1.5s before the end = %v, want 2s, rounded up", ra)
	}
	if p := ch.path(); p != "closed>open" {
		t.Errorf("changes %s, want closed>open", p)
	}
	ch.mu.Lock()
	if c := ch.all[0]; c.Provider != "openai" || !c.Until.Equal(oe.Until) {
		t.Errorf("change %+v, want openai's, until %v", c, oe.Until)
	}
	ch.mu.Unlock()
}

func TestNeutralOutcomesNeverOpen(t *testing.T) {
	b := breaker.New("openai", breaker.Config{FailureThreshold: 2, SuccessThreshold: 1, Timeout: time.Minute}, nil)
	for range 100 {
		call(t, b, breaker.Neutral)
	}
	if s := b.State(); s != breaker.StateClosed {
		t.Errorf("state after 100 neutral outcomes = %v, want closed", s)
	}
}

// tripAndWait opens b with cfg.FailureThreshold faults and waits for its timeout to pass: b
// stays open to the end of the timeout and is half-open just after. It runs in a synctest
// bubble, where sleeping moves the clock and takes no time.
func tripAndWait(t *testing.T, b *breaker.Breaker, cfg breaker.Config) {
	t.Helper()
	for range cfg.FailureThreshold {
		call(t, b, breaker.Fault)
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state = %v, want open", s)
	}
	time.Sleep(cfg.Timeout)
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state at the end of the timeout = %v, want still open", s)
	}
	time.Sleep(time.Nanosecond)
	if s := b.State(); s != breaker.StateHalfOpen {
		t.Fatalf("state after the timeout = %v, want half_open", s)
	}
}

func TestHalfOpenNeutralOutcomesDoNotClose(t *testing.T) {
	synctest.Test(t, testHalfOpenNeutralOutcomesDoNotClose)
}

func testHalfOpenNeutralOutcomesDoNotClose(t *testing.T) {
	cfg := breaker.Config{FailureThreshold: 3, SuccessThreshold: 2, Timeout: time.Minute} // a real timeout: waiting it out takes no time
	var ch changes
	b := breaker.New("anthropic", cfg, ch.add)
	tripAndWait(t, b, cfg)

	// Two probe slots.
	p1, err1 := b.Allow()
	p2, err2 := b.Allow()
	if err1 != nil || err2 != nil {
		t.Fatalf("half-open refused a probe: %v, %v", err1, err2)
	}
	_, err := b.Allow()
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.State != breaker.StateHalfOpen || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("third call while both probes are in flight: %v, want ErrOpen (half-open)", err)
	}
	if !oe.Until.After(time.Now()) {
		t.Errorf("Until %v of a busy half-open breaker is not ahead", oe.Until)
	}

	// A neutral probe frees its slot and does not count as a success.
	p1(breaker.Neutral)
	p3, err := b.Allow()
	if err != nil {
		t.Fatalf("a neutral outcome did not free its probe slot: %v", err)
	}
	p2(breaker.Neutral)
	p3(breaker.Neutral)
	for range 5 {
		call(t, b, breaker.Neutral)
	}
	if s := b.State(); s != breaker.StateHalfOpen {
		t.Fatalf("state after only neutral probes = %v, want still half_open", s)
	}

	call(t, b, breaker.Success)
	if s := b.State(); s != breaker.StateHalfOpen {
		t.Fatalf("state after one success = %v, want half_open until the second", s)
	}
	call(t, b, breaker.Neutral) // between the two successes: still in a row
	call(t, b, breaker.Success)
	if s := b.State(); s != breaker.StateClosed {
		t.Fatalf("state after two successes = %v, want closed", s)
	}
	if p := ch.path(); p != "closed>open>half_open>closed" {
		t.Errorf("changes %s, want closed>open>half_open>closed", p)
	}
}

func TestHalfOpenFaultReopens(t *testing.T) {
	synctest.Test(t, testHalfOpenFaultReopens)
}

func testHalfOpenFaultReopens(t *testing.T) {
	cfg := breaker.Config{FailureThreshold: 1, SuccessThreshold: 2, Timeout: time.Minute}
	var ch changes
	b := breaker.New("bedrock", cfg, ch.add)
	tripAndWait(t, b, cfg)
	call(t, b, breaker.Success)
	reopened := time.Now()
	call(t, b, breaker.Fault)
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state after a failed probe = %v, want open", s)
	}
	var oe *breaker.OpenError
	if _, err := b.Allow(); !errors.As(err, &oe) || !oe.Until.Equal(reopened.Add(cfg.Timeout)) {
		t.Fatalf("Allow = %v, want open for another timeout from %v", err, reopened)
	}
	if p := ch.path(); p != "closed>open>half_open>open" {
		t.Errorf("changes %s, want closed>open>half_open>open", p)
	}
}

func TestOutcomeOfACallThatOutlivedItsState(t *testing.T) {
	cfg := breaker.Config{FailureThreshold: 2, SuccessThreshold: 1, Timeout: time.Minute}
	b := breaker.New("openai", cfg, nil)
	stream, err := b.Allow() // a long stream starts while the breaker is closed
	if err != nil {
		t.Fatal(err)
	}
	call(t, b, breaker.Fault)
	call(t, b, breaker.Fault)
	stream(breaker.Success) // and ends after the breaker opened: it says nothing of now
	if s := b.State(); s != breaker.StateOpen {
		t.Errorf("state = %v, want still open", s)
	}
}

func TestOutcomeOf(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := http.Get("http://" + addr)
	if refused == nil {
		t.Fatal("a call to a closed port succeeded")
	}
	for _, tc := range []struct {
		name string
		err  error
		want breaker.Outcome
	}{
		{"success", nil, breaker.Success},
		{"500", apierror.New(500, "x"), breaker.Fault},
		{"503 wrapped", fmt.Errorf("call: %w", apierror.New(503, "x")), breaker.Fault},
		{"529", apierror.New(529, "x"), breaker.Fault},
		{"429", apierror.New(429, "x"), breaker.Neutral},
		{"408", apierror.New(408, "x"), breaker.Fault},
		{"timeout", context.DeadlineExceeded, breaker.Fault},
		{"connection refused", refused, breaker.Fault},
		{"stream cut after the first byte", retry.Final(apierror.New(502, "x")), breaker.Fault},
		{"400", apierror.Invalid([]string{"messages: required"}), breaker.Neutral},
		{"401", apierror.New(401, "x"), breaker.Neutral},
		{"404 endpoint", apierror.New(404, "x"), breaker.Neutral},
		{"413", apierror.New(413, "x"), breaker.Neutral},
		{"501 endpoint", apierror.New(501, "x"), breaker.Neutral},
		{"client went away", fmt.Errorf("read: %w", context.Canceled), breaker.Neutral},
		{"final client cancel", retry.Final(context.Canceled), breaker.Neutral},
	} {
		if got := breaker.OutcomeOf(tc.err); got != tc.want {
			t.Errorf("%s: OutcomeOf(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	for status, want := range map[int]breaker.Outcome{200: breaker.Success, 400: breaker.Neutral, 404: breaker.Neutral, 429: breaker.Neutral, 500: breaker.Fault, 501: breaker.Neutral, 503: breaker.Fault} {
		if got := breaker.OutcomeOfStatus(status); got != want {
			t.Errorf("OutcomeOfStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestSet(t *testing.T) {
	var ch changes
	s := breaker.NewSet(breaker.Config{FailureThreshold: 1, SuccessThreshold: 1, Timeout: time.Minute}, breaker.Options{OnStateChange: ch.add})
	if first, again := s.Breaker("openai"), s.Breaker("openai"); first != again {
		t.Fatal("two breakers for one provider")
	}
	if st := s.State("never-called"); st != breaker.StateClosed {
		t.Errorf("state of an unknown provider = %v, want closed", st)
	}
	done, err := s.Allow("ollama")
	if err != nil {
		t.Fatal(err)
	}
	done(breaker.Fault)
	if _, err := s.Allow("ollama"); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Allow after a fault = %v, want ErrOpen", err)
	}
	if _, err := s.Allow("openai"); err != nil {
		t.Errorf("one provider's breaker closed another's: %v", err)
	}
	want := map[string]breaker.State{"openai": breaker.StateClosed, "ollama": breaker.StateOpen}
	if got := s.States(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("States = %v, want %v", got, want)
	}
	if got := s.Providers(); strings.Join(got, ",") != "ollama,openai" {
		t.Errorf("Providers = %v", got)
	}
	if p := ch.path(); p != "closed>open" {
		t.Errorf("changes %s, want closed>open (ollama's)", p)
	}
}

func TestStateText(t *testing.T) {
	for _, s := range []breaker.State{breaker.StateClosed, breaker.StateHalfOpen, breaker.StateOpen} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back breaker.State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v → %s → %v, %v", s, b, back, err)
		}
	}
	var s breaker.State
	if err := s.UnmarshalText([]byte("half-open")); err == nil {
		t.Error("read half-open, want only half_open")
	}
}

func BenchmarkAllow(b *testing.B) {
	br := breaker.New("openai", breaker.DefaultConfig(), nil)
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(breaker.Success)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	s := breaker.NewSet(breaker.DefaultConfig(), breaker.Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := s.Allow("openai")
			if err != nil {
				b.Error(err)
				return
			}
			done(breaker.Success)
		}
	})
}

func BenchmarkAllowOpen(b *testing.B) {
	br := breaker.New("openai", breaker.Config{FailureThreshold: 1, SuccessThreshold: 1, Timeout: time.Hour}, nil)
	done, _ := br.Allow()
	done(breaker.Fault)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(); err == nil {
			b.Fatal("allowed")
		}
	}
}
