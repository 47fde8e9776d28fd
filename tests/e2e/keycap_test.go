package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// keyCall is one request's outcome, for goroutines other than the test's.
type keyCall struct {
	status int
	header http.Header
	body   string
	err    error
}

func callWithKey(s *stack, path, key, body string) keyCall {
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		return keyCall{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", key)
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return keyCall{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return keyCall{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// waitInFlight waits until the upstream holds n calls at once.
func waitInFlight(t *testing.T, fake *fakeupstream.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fake.InFlight() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the upstream holds %d calls, not %d", fake.InFlight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// One key running slow requests cannot take the gateway's active-request slots from the
// others: past KEY_MAX_CONCURRENT of its requests under way, the next gets a 429 in its own
// format with Retry-After, and another key is still answered. Without the cap, the same key
// fills every slot and the other key is shed with a 503 — the finding.
func TestOneKeyCannotTakeEveryActiveSlot(t *testing.T) {
	const slots, greedyAtOnce = 8, 10
	for _, tc := range []struct {
		name     string
		keyCap   string
		capped   bool  // the cap, not the slots, stops the greedy key
		inFlight int64 // the greedy key's requests the upstream holds at once
		otherGot int
	}{
		{name: "capped", keyCap: "3", capped: true, inFlight: 3, otherGot: http.StatusOK},
		{name: "uncapped", keyCap: "0", inFlight: slots, otherGot: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "slow answer", HeaderDelay: 1500 * time.Millisecond}))
			t.Cleanup(fake.Close)
			env := authEnv(t.TempDir())
			env["LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD"] = fmt.Sprint(slots)
			env["KEY_MAX_CONCURRENT"] = tc.keyCap
			s := startLynkr(t, anthropicUpstream, fake.URL(), env)
			greedy, _ := newKey(t, s, `{"name":"greedy","limits":{"rpm":1000}}`)
			other, _ := newKey(t, s, `{"name":"other"}`)

			results := make(chan keyCall, greedyAtOnce)
			var wg sync.WaitGroup
			for i := range greedyAtOnce {
				wg.Go(func() {
					results <- callWithKey(s, "/v1/messages", greedy,
						fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hold a slot %d"}]}`, i))
				})
			}
			// While the greedy key's admitted requests wait on the upstream, another key asks.
			waitInFlight(t, fake, tc.inFlight)
			got := callWithKey(s, "/v1/messages", other, `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"me too"}]}`)
			wg.Wait()
			close(results)
			if got.err != nil || got.status != tc.otherGot {
				t.Errorf("the other key while the greedy one runs: %d %s (%v), want %d", got.status, got.body, got.err, tc.otherGot)
			}

			answered, capped := 0, 0
			for r := range results {
				switch {
				case r.err != nil:
					t.Error(r.err)
				case r.status == http.StatusOK:
					answered++
				case tc.capped && r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "1" &&
					strings.Contains(r.body, `"type":"rate_limit_error"`) && strings.Contains(r.body, "requests under way on this gateway") &&
					strings.Contains(r.body, "(KEY_MAX_CONCURRENT)"):
					capped++
				case !tc.capped && r.status == http.StatusServiceUnavailable:
				default:
					t.Errorf("greedy request: %d %v %s", r.status, r.header, r.body)
				}
			}
			if tc.capped && (answered != 3 || capped != greedyAtOnce-3) {
				t.Errorf("%d answered and %d capped of %d at once, want 3 answered and the rest capped", answered, capped, greedyAtOnce)
			}
			t.Logf("KEY_MAX_CONCURRENT=%s: greedy key %d answered, %d capped; other key %d", tc.keyCap, answered, capped, got.status)
		})
	}
}

// A key's own max_concurrent overrides the default, up or down, and count_tokens counts
// under it too; a request that ended gives its place back.
func TestAKeysMaxConcurrent(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "slow answer", HeaderDelay: time.Second}))
	t.Cleanup(fake.Close)
	env := authEnv(t.TempDir())
	env["KEY_MAX_CONCURRENT"] = "5"
	s := startLynkr(t, anthropicUpstream, fake.URL(), env)
	one, _ := newKey(t, s, `{"name":"one-at-a-time","limits":{"max_concurrent":1}}`)

	first := make(chan keyCall, 1)
	go func() { first <- callWithKey(s, "/v1/messages", one, plainMessage) }()
	waitInFlight(t, fake, 1)
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
		r := callWithKey(s, path, one, plainMessage)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "(max_concurrent)") || r.header.Get("Retry-After") == "" {
			t.Errorf("%s while the key's one request runs: %d %s", path, r.status, r.body)
		}
	}
	if r := <-first; r.err != nil || r.status != http.StatusOK {
		t.Fatalf("the first request: %d %s (%v)", r.status, r.body, r.err)
	}
	if r := callWithKey(s, "/v1/messages", one, plainMessage); r.status != http.StatusOK {
		t.Errorf("after the first ended: %d %s", r.status, r.body)
	}
}
