package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	anthropicllm "github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/tests/harness"
)

// keyUsage is what GET /v1/usage?key=id says the key spent today and holds now.
type keyUsage struct {
	Day  struct{ Tokens, Requests int64 }
	Held struct{ Tokens int64 }
}

func usageOfKey(t *testing.T, base, id string) keyUsage {
	t.Helper()
	status, _, b := call(t, http.MethodGet, base+"/v1/usage?key="+id, adminKey, "")
	var u struct{ Data []keyUsage }
	if status != http.StatusOK || json.Unmarshal(b, &u) != nil || len(u.Data) != 1 {
		t.Fatalf("GET /v1/usage?key=%s: %d %s", id, status, b)
	}
	return u.Data[0]
}

// chargerIdle waits until the gateways' charger has taken every usage batch on the bus.
func chargerIdle(t *testing.T, natsURL string) {
	t.Helper()
	js := jetStreamAt(t, natsURL)
	charger, err := js.Consumer(t.Context(), bus.UsageStream, "lynkr-charger")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the charger to take every usage batch", func() bool {
		info, err := charger.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// budgetBurst sends n requests at once, alternating between the gateways, and counts the answers
// and the budget's refusals; anything else fails the test.
func budgetBurst(t *testing.T, gateways []string, key string, n int, body func(i int) string) (answered, refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			status, h, b, err := tryCall(t, http.MethodPost, gateways[i%len(gateways)]+"/v1/messages", key, body(i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case status == http.StatusOK:
				answered++
			case status == http.StatusTooManyRequests && strings.Contains(string(b), `"rate_limit_error"`) &&
				strings.Contains(string(b), "daily token budget") && h.Get("Retry-After") != "":
				refused++
			default:
				t.Errorf("request %d: %d %v %s", i, status, h, b)
			}
		})
	}
	close(start)
	wg.Wait()
	return answered, refused
}

// The burst: 60 requests at once over two gateways against a key whose budget fits
// ten. Each request holds its input and all the output it may ask for until its usage is
// charged, in one Redis script every gateway shares, so ten run and fifty are refused with a
// 429 in the client's format — where, without holds, all sixty ran. A budget with half a
// request more lets one more run, the last holding the rest: the budget is passed by less
// than one request. Requests the upstream refuses give their hold back at once.
func TestABudgetHoldsUnderABurstOverTwoGateways(t *testing.T) {
	const maxTokens, n = 40, 60
	body := func(i int) string {
		return fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":%d,"messages":[{"role":"user","content":"burst %03d"}]}`, maxTokens, i)
	}
	input := anthropicllm.EstimateInputTokens([]byte(body(0)))
	// Every answer uses what its request may use at the most: the budget fits ten exactly.
	perRequest := input + maxTokens
	reply := fakeupstream.Reply{Text: "spent", Usage: fakeupstream.Usage{InputTokens: input, OutputTokens: maxTokens},
		HeaderDelay: 300 * time.Millisecond}
	rdb := harness.StartRedis(t)
	c := startClusterWith(t, 2, 2, map[string]string{"USAGE_FLUSH_INTERVAL": "50"}, tenancyEnv(rdb.URL, nil), reply)
	budget := 10 * perRequest
	key, id := createKey(t, c.gateways[0], fmt.Sprintf(`{"name":"burst","limits":{"daily_tokens":%d}}`, budget))

	// Twelve requests the upstream refuses (400, not retried) one after another: each gives
	// its hold back when it fails, or the eleventh would find the budget held.
	for i := range 12 {
		c.fake.Enqueue(fakeupstream.Reply{Fault: &fakeupstream.Fault{Status: http.StatusBadRequest}})
		if status, _, b := call(t, http.MethodPost, c.gateways[i%2]+"/v1/messages", key, body(i)); status != http.StatusBadRequest {
			t.Fatalf("refused upstream, request %d: %d %s", i, status, b)
		}
	}
	if u := usageOfKey(t, c.gateways[0], id); u.Held.Tokens != 0 || u.Day.Tokens != 0 {
		t.Fatalf("after the upstream's refusals: %+v, want nothing spent or held", u)
	}

	callsBefore := c.fake.Calls()
	start := time.Now()
	answered, refused := budgetBurst(t, c.gateways, key, n, body)
	elapsed := time.Since(start)
	chargerIdle(t, c.natsURL)
	var u keyUsage
	// The charges end the holds: well before a hold would lapse (settleGrace, 10 s).
	waitFor(t, 8*time.Second, "the holds to end with the charges", func() bool {
		u = usageOfKey(t, c.gateways[1], id)
		return u.Held.Tokens == 0
	})
	t.Logf("burst of %d over 2 gateways in %s: %d answered, %d refused; %d tokens charged of a budget of %d (%d a request)",
		n, elapsed.Round(time.Millisecond), answered, refused, u.Day.Tokens, budget, perRequest)
	if answered+refused != n {
		t.Fatalf("%d answered and %d refused of %d", answered, refused, n)
	}
	// The acceptance bound is one request over per gateway; with every answer using what it
	// held, the budget is not passed at all.
	if answered > 12 || u.Day.Tokens > budget+2*perRequest {
		t.Fatalf("%d answered, %d tokens charged: the budget of %d (10 requests) was passed by more than 2 requests", answered, u.Day.Tokens, budget)
	}
	if answered != 10 || u.Day.Tokens != budget || u.Day.Requests != 10 {
		t.Errorf("%d answered, %d tokens in %d requests charged; want the 10 the budget fits, %d tokens", answered, u.Day.Tokens, u.Day.Requests, budget)
	}
	if calls := c.fake.Calls() - callsBefore; calls != int64(answered) {
		t.Errorf("%d upstream calls for %d answers: a refused request reached the upstream", calls, answered)
	}

	// Half a request more of budget: the next burst's first request fits its input but not its
	// output, holds the rest and runs; no other request may be the tail meanwhile.
	extra := input + maxTokens/2
	status, _, b := call(t, http.MethodPut, c.gateways[1]+"/admin/policies/key/"+id, adminKey, fmt.Sprintf(`{"daily_tokens":%d}`, budget+extra))
	if status != http.StatusOK {
		t.Fatalf("PUT /admin/policies/key/%s: %d %s", id, status, b)
	}
	answered, refused = budgetBurst(t, c.gateways, key, 20, func(i int) string { return body(100 + i) })
	chargerIdle(t, c.natsURL)
	waitFor(t, 8*time.Second, "the tail's hold to end with its charge", func() bool {
		u = usageOfKey(t, c.gateways[0], id)
		return u.Held.Tokens == 0
	})
	t.Logf("burst of 20 with %d tokens left: %d answered, %d refused; %d tokens charged of %d", extra, answered, refused, u.Day.Tokens, budget+extra)
	if answered != 1 || u.Day.Tokens != budget+perRequest {
		t.Errorf("%d answered, %d tokens charged; want the one tail, %d tokens", answered, u.Day.Tokens, budget+perRequest)
	}
	if over := u.Day.Tokens - (budget + extra); over >= perRequest {
		t.Errorf("the budget was passed by %d tokens, a request's most is %d", over, perRequest)
	}

	// Spent: refused until tomorrow, in the other client's format too.
	status, h, b := call(t, http.MethodPost, c.gateways[0]+"/v1/chat/completions", key,
		`{"model":"gpt-4o","max_tokens":1,"messages":[{"role":"user","content":"more"}]}`)
	if status != http.StatusTooManyRequests || !strings.Contains(string(b), `"error"`) || !strings.Contains(string(b), "is over its daily token budget") ||
		h.Get("Retry-After") == "" {
		t.Errorf("chat completion after the budget: %d %v %s", status, h, b)
	}
}

// With Redis down, nothing can be held: failing open, a key over its budget is admitted (the
// documented price of failing open: budgets wait for Redis); failing closed, it gets a 503
// that names the setting. Once Redis is back, the budget refuses it again.
func TestABudgetWithRedisDownFailsOpenOrClosed(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("fail_open=%t", failOpen), func(t *testing.T) {
			rdb := harness.StartRedis(t)
			env := tenancyEnv(rdb.URL, map[string]string{"TENANT_FAIL_OPEN": fmt.Sprint(failOpen), "TENANT_TIMEOUT": "200",
				"LIMITER_FAIL_OPEN": fmt.Sprint(failOpen)})
			c := startClusterWith(t, 1, 1, map[string]string{"USAGE_FLUSH_INTERVAL": "50"}, env,
				fakeupstream.Reply{Text: "spent", Usage: fakeupstream.Usage{InputTokens: 50, OutputTokens: 50}})
			base := c.gateways[0]
			key, id := createKey(t, base, `{"name":"small","limits":{"daily_tokens":100}}`)
			ask := func() (int, []byte) {
				status, _, b := call(t, http.MethodPost, base+"/v1/messages", key,
					`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)
				return status, b
			}
			if status, b := ask(); status != http.StatusOK {
				t.Fatalf("within the budget: %d %s", status, b)
			}
			chargerIdle(t, c.natsURL)
			waitFor(t, 10*time.Second, "the budget to be spent", func() bool { return usageOfKey(t, base, id).Day.Tokens >= 100 })
			if status, b := ask(); status != http.StatusTooManyRequests || !strings.Contains(string(b), "budget") {
				t.Fatalf("over the budget: %d %s", status, b)
			}

			rdb.Kill()
			status, b := ask()
			switch {
			case failOpen && status != http.StatusOK:
				t.Errorf("over the budget without Redis, failing open: %d %s, want it admitted", status, b)
			case !failOpen && (status != http.StatusServiceUnavailable || !strings.Contains(string(b), "TENANT_FAIL_OPEN=false")):
				t.Errorf("without Redis, failing closed: %d %s, want a 503 naming TENANT_FAIL_OPEN=false", status, b)
			}

			rdb.Start()
			waitFor(t, 15*time.Second, "the budget to refuse again once Redis is back", func() bool {
				status, _ := ask()
				return status == http.StatusTooManyRequests
			})
		})
	}
}
