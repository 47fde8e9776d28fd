package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

const retryBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`

// gaps returns the time between consecutive upstream calls.
func gaps(calls []fakeupstream.Request) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(calls); i++ {
		out = append(out, calls[i].Time.Sub(calls[i-1].Time))
	}
	return out
}

func TestServerErrorsAreRetriedWithGrowingJitteredGaps(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"API_RETRY_INITIAL_DELAY": "200", "API_RETRY_MAX_DELAY": "5000"})
	var firstGaps []time.Duration
	for run := range 3 {
		s.Fake.Reset()
		s.Fake.SetDefault(fakeupstream.Reply{Text: "finally"})
		s.Fake.FailNext(2, fakeupstream.Fault{Status: http.StatusInternalServerError})
		resp, body := s.post(t, "/v1/chat/completions", retryBody, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "finally") {
			t.Fatalf("run %d: %d %s, want the third call's 200", run, resp.StatusCode, body)
		}
		calls := s.upstreamCalls()
		if len(calls) != 3 {
			t.Fatalf("run %d: upstream saw %d calls, want 3", run, len(calls))
		}
		g := gaps(calls)
		// Backoff 200 ms then 400 ms, each ±50%: the lower bounds are exact, the upper ones leave
		// room for a machine busy with other tests.
		if g[0] < 100*time.Millisecond || g[0] > 900*time.Millisecond || g[1] < 200*time.Millisecond || g[1] > 1300*time.Millisecond {
			t.Fatalf("run %d: gaps %v, want about 200 ms then 400 ms (±50%%)", run, g)
		}
		firstGaps = append(firstGaps, g[0])
		t.Logf("run %d: gaps between calls %v", run, g)
	}
	if firstGaps[0].Round(time.Millisecond) == firstGaps[1].Round(time.Millisecond) && firstGaps[1].Round(time.Millisecond) == firstGaps[2].Round(time.Millisecond) {
		t.Errorf("the first gap was %v in all three runs: no jitter", firstGaps[0])
	}
}

func TestClientErrorIsPassedOnAfterOneCall(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"API_RETRY_INITIAL_DELAY": "100"})
	s.Fake.FailNext(1, fakeupstream.Fault{Status: http.StatusBadRequest, Message: "messages: too long"})
	resp, body := s.post(t, "/v1/chat/completions", retryBody, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "messages: too long") {
		t.Fatalf("%d %s, want the upstream's 400", resp.StatusCode, body)
	}
	time.Sleep(300 * time.Millisecond) // a retry, if there were one, would have happened by now
	if n := len(s.upstreamCalls()); n != 1 {
		t.Fatalf("upstream saw %d calls, want 1", n)
	}
}

func TestRateLimitIsRetriedAfterRetryAfter(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"API_RETRY_INITIAL_DELAY": "100"})
	s.Fake.FailNext(1, fakeupstream.Fault{Status: http.StatusTooManyRequests, RetryAfter: "2"})
	resp, body := s.post(t, "/v1/chat/completions", retryBody, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s, want 200 after the retry", resp.StatusCode, body)
	}
	calls := s.upstreamCalls()
	if len(calls) != 2 {
		t.Fatalf("upstream saw %d calls, want 2", len(calls))
	}
	if g := gaps(calls)[0]; g < 2*time.Second {
		t.Fatalf("retried after %v, before the upstream's Retry-After of 2 s", g)
	}
}

func TestBreakerOpensFailsFastProbesAndCloses(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{
		"API_RETRY_MAX_RETRIES":   "0", // one call per request, so five requests are five failures
		"CIRCUIT_BREAKER_TIMEOUT": "1500",
	})
	s.Fake.FailNext(5, fakeupstream.Fault{Status: http.StatusInternalServerError})
	for i := range 5 {
		if resp, body := s.post(t, "/v1/chat/completions", retryBody, nil); resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("request %d: %d %s, want the upstream's 500", i+1, resp.StatusCode, body)
		}
	}
	opened := time.Now()
	for i := range 5 {
		start := time.Now()
		resp, body := s.post(t, "/v1/chat/completions", retryBody, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "circuit breaker") {
			t.Fatalf("request %d while open: %d %s, want 503 with Retry-After", i+6, resp.StatusCode, body)
		}
		t.Logf("refused while open in %v", time.Since(start))
	}
	if n := len(s.upstreamCalls()); n != 5 {
		t.Fatalf("the upstream saw %d calls; an open breaker must not touch it", n)
	}
	time.Sleep(1500*time.Millisecond - time.Since(opened) + 100*time.Millisecond)
	// Half-open: one probe at a time goes through; two successes close the breaker.
	for i := range 2 {
		if resp, body := s.post(t, "/v1/chat/completions", retryBody, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("probe %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	if n := len(s.upstreamCalls()); n != 7 {
		t.Fatalf("upstream saw %d calls after two probes, want 7", n)
	}
	for i := range 5 {
		if resp, body := s.post(t, "/v1/chat/completions", retryBody, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d after closing: %d %s", i+1, resp.StatusCode, body)
		}
	}
}

func TestFallbackProviderAnswersDuringAnOutage(t *testing.T) {
	fallback := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "from the fallback"}))
	t.Cleanup(fallback.Close)
	s := start(t, openAIUpstream, map[string]string{
		"API_RETRY_MAX_RETRIES": "0",
		"FALLBACK_PROVIDER":     "anthropic",
		"ANTHROPIC_API_KEY":     "sk-ant-test",
		"ANTHROPIC_ENDPOINT":    fallback.URL() + "/v1/messages",
	})
	s.Fake.FailRate(100, 1, fakeupstream.Fault{Status: http.StatusServiceUnavailable})
	fromFallback := 0
	for i := range 12 {
		resp, body := s.post(t, "/v1/chat/completions", retryBody, nil)
		switch {
		case resp.StatusCode == http.StatusOK && strings.Contains(string(body), "from the fallback"):
			fromFallback++
		case i < 5 && resp.StatusCode == http.StatusServiceUnavailable:
			// the failures that open the breaker
		default:
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	if fromFallback < 7 {
		t.Fatalf("only %d of 12 requests were answered by the fallback", fromFallback)
	}
	if n := len(s.upstreamCalls()); n != 5 {
		t.Fatalf("the failing provider saw %d calls, want the 5 that opened its breaker", n)
	}
}
