package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// TestCountTokensCannotHurtOthers: a count the upstream fails is asked once, never retried,
// answered with lynkr's estimate, and leaves the provider's breaker closed; and 429s the
// upstream answers a tenant's generations with do not open it either.
func TestCountTokensCannotHurtOthers(t *testing.T) {
	s := start(t, anthropicUpstream, map[string]string{
		"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "2",
		"API_RETRY_INITIAL_DELAY":           "10",
		"API_RETRY_MAX_RETRIES":             "0",
	})
	count := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"count these words"}]}`
	hdr := map[string]string{"Anthropic-Version": "2023-06-01"}
	for i := range 4 {
		s.Fake.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStatus, Status: 529, Path: "count_tokens"})
		before := s.Fake.Calls()
		resp, out := s.post(t, "/v1/messages/count_tokens", count, hdr)
		if resp.StatusCode != http.StatusOK || gjson.GetBytes(out, "input_tokens").Int() <= 0 {
			t.Fatalf("count %d: %d %s, want lynkr's estimate", i, resp.StatusCode, out)
		}
		if calls := s.Fake.Calls() - before; calls != 1 {
			t.Errorf("count %d: %d upstream calls, want 1 (no retry)", i, calls)
		}
	}
	for i := range 4 {
		s.Fake.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStatus, Status: http.StatusTooManyRequests, RetryAfter: "1"})
		resp, out := s.post(t, "/v1/messages", plainMessage, hdr)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("generation %d: %d %s, want the upstream's 429", i, resp.StatusCode, out)
		}
	}
	// Four failed counts and four 429s, past a threshold of two: the breaker is still closed.
	s.Fake.Enqueue(fakeupstream.Reply{Text: "served"})
	resp, out := s.post(t, "/v1/messages", plainMessage, hdr)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), "served") {
		t.Fatalf("after the counts and 429s: %d %s, want the provider to serve", resp.StatusCode, out)
	}
}

// TestCountTokensUnderRateLimits: counting spends no tokens and no budget, but a key's request
// rate limit holds for it, so a client counting in a loop cannot flood the upstream.
func TestCountTokensUnderRateLimits(t *testing.T) {
	s := start(t, anthropicUpstream, authEnv(t.TempDir()))
	secret, _ := newKey(t, s, `{"name":"counter","limits":{"rpm":2}}`)
	count := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"count"}]}`
	hdr := map[string]string{"x-api-key": secret, "Anthropic-Version": "2023-06-01"}
	for i := range 2 {
		if resp, out := s.post(t, "/v1/messages/count_tokens", count, hdr); resp.StatusCode != http.StatusOK {
			t.Fatalf("count %d: %d %s", i, resp.StatusCode, out)
		}
	}
	resp, out := s.post(t, "/v1/messages/count_tokens", count, hdr)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third count in a minute at rpm 2: %d %s", resp.StatusCode, out)
	}
}
