package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	anthropicllm "github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/tests/harness"
)

const adminKey = "admin-secret-for-tests"

// tenancyEnv is the gateways' settings: keys required, one Redis shared.
func tenancyEnv(redisURL string, extra map[string]string) map[string]string {
	return mergeEnv(map[string]string{
		"REDIS_URL":     redisURL,
		"AUTH_ENABLED":  "true",
		"ADMIN_API_KEY": adminKey,
	}, extra)
}

// call makes one HTTP request and returns the status, the headers and the body; a request
// that fails outright fails the test.
func call(t *testing.T, method, url, key, body string) (int, http.Header, []byte) {
	t.Helper()
	status, h, b, err := tryCall(t, method, url, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, h, b
}

// tryCall is call for goroutines other than the test's: it returns the error.
func tryCall(t *testing.T, method, url, key, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// createKey makes a key through the admin API of base and returns its secret and id.
func createKey(t *testing.T, base, body string) (secret, id string) {
	t.Helper()
	status, _, b := call(t, http.MethodPost, base+"/admin/keys", adminKey, body)
	if status != http.StatusCreated {
		t.Fatalf("POST /admin/keys: %d %s", status, b)
	}
	var k struct{ Key, ID string }
	if err := json.Unmarshal(b, &k); err != nil || k.Key == "" || k.ID == "" {
		t.Fatalf("POST /admin/keys answered %s (%v)", b, err)
	}
	if strings.Contains(string(b), "hash") {
		t.Errorf("the admin API shows the key's hash: %s", b)
	}
	return k.Key, k.ID
}

// usageOf is what GET /v1/usage (asked with the admin key) says a scope spent today.
func usageOf(t *testing.T, base, query string) (tokens, requests int64) {
	t.Helper()
	tokens, requests, err := tryUsage(t, base, query)
	if err != nil {
		t.Fatal(err)
	}
	return tokens, requests
}

func tryUsage(t *testing.T, base, query string) (tokens, requests int64, err error) {
	status, _, b := call(t, http.MethodGet, base+"/v1/usage?"+query, adminKey, "")
	if status != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /v1/usage?%s: %d %s", query, status, b)
	}
	var u struct {
		Data []struct {
			Day struct{ Tokens, Requests int64 }
		}
	}
	if err := json.Unmarshal(b, &u); err != nil || len(u.Data) != 1 {
		return 0, 0, fmt.Errorf("GET /v1/usage?%s answered %s (%v)", query, b, err)
	}
	return u.Data[0].Day.Tokens, u.Data[0].Day.Requests, nil
}

// A key made through one gateway's admin API works from both official SDKs at every
// gateway; once revoked, the very next request at each gateway gets a 401 in the client's
// own error format. A wrong or missing key never reaches a worker.
func TestKeysFromTheAdminAPIWorkEverywhereUntilRevoked(t *testing.T) {
	rdb := harness.StartRedis(t)
	c := startClusterWith(t, 2, 1, nil, tenancyEnv(rdb.URL, nil), fakeupstream.Reply{Echo: true})
	secret, id := createKey(t, c.gateways[0], `{"name":"alice","team":"platform"}`)

	anthropicAt := func(base, key string) anthropic.Client {
		return anthropic.NewClient(aoption.WithBaseURL(base), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
	}
	openaiAt := func(base, key string) openai.Client {
		return openai.NewClient(ooption.WithBaseURL(base+"/v1/"), ooption.WithAPIKey(key), ooption.WithMaxRetries(0))
	}
	ask := func(base, key string) (aErr, oErr error) {
		ac, oc := anthropicAt(base, key), openaiAt(base, key)
		msg, aErr := ac.Messages.New(t.Context(), anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 32,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello from anthropic"))},
		})
		if aErr == nil && (len(msg.Content) == 0 || msg.Content[0].Text != "echo: hello from anthropic") {
			aErr = fmt.Errorf("anthropic answer %+v", msg.Content)
		}
		comp, oErr := oc.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello from openai")},
		})
		if oErr == nil && (len(comp.Choices) == 0 || comp.Choices[0].Message.Content != "echo: hello from openai") {
			oErr = fmt.Errorf("openai answer %+v", comp.Choices)
		}
		return aErr, oErr
	}
	for _, base := range c.gateways {
		if aErr, oErr := ask(base, secret); aErr != nil || oErr != nil {
			t.Fatalf("%s with a valid key: anthropic %v, openai %v", base, aErr, oErr)
		}
		ac := anthropicAt(base, secret)
		stream := ac.Messages.NewStreaming(t.Context(), anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 32,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream with a key"))}})
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatalf("%s: Accumulate: %v", base, err)
			}
		}
		if err := stream.Err(); err != nil || len(acc.Content) == 0 || acc.Content[0].Text != "echo: stream with a key" {
			t.Fatalf("%s: a stream with a valid key: %v %+v", base, err, acc.Content)
		}
	}
	callsBefore := c.fake.Calls()
	for _, key := range []string{"", "lk-not-a-key"} {
		aErr, oErr := ask(c.gateways[1], key)
		var ae *anthropic.Error
		var oe *openai.Error
		if !errors.As(aErr, &ae) || ae.StatusCode != http.StatusUnauthorized || !strings.Contains(ae.RawJSON(), `"authentication_error"`) {
			t.Errorf("anthropic SDK with key %q: %v, want a 401 authentication_error", key, aErr)
		}
		if !errors.As(oErr, &oe) || oe.StatusCode != http.StatusUnauthorized {
			t.Errorf("openai SDK with key %q: %v, want a 401", key, oErr)
		}
	}

	status, _, b := call(t, http.MethodDelete, c.gateways[0]+"/admin/keys/"+id, adminKey, "")
	if status != http.StatusOK || !strings.Contains(string(b), "revoked_at") {
		t.Fatalf("DELETE /admin/keys/%s: %d %s", id, status, b)
	}
	for _, base := range c.gateways {
		aErr, oErr := ask(base, secret)
		var ae *anthropic.Error
		var oe *openai.Error
		if !errors.As(aErr, &ae) || ae.StatusCode != http.StatusUnauthorized || !strings.Contains(ae.RawJSON(), "revoked") {
			t.Errorf("%s: anthropic SDK with the revoked key: %v, want a 401 saying it was revoked", base, aErr)
		}
		if !errors.As(oErr, &oe) || oe.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: openai SDK with the revoked key: %v, want a 401", base, oErr)
		}
	}
	if calls := c.fake.Calls(); calls != callsBefore {
		t.Errorf("%d requests without a valid key reached the upstream", calls-callsBefore)
	}
	// The admin API itself wants the admin key; a virtual key is not one.
	if status, _, _ := call(t, http.MethodGet, c.gateways[1]+"/admin/keys", secret, ""); status != http.StatusUnauthorized {
		t.Errorf("GET /admin/keys with a virtual key: %d, want 401", status)
	}
	status, _, b = call(t, http.MethodGet, c.gateways[1]+"/admin/keys", adminKey, "")
	if status != http.StatusOK || !strings.Contains(string(b), id) || strings.Contains(string(b), secret) {
		t.Errorf("GET /admin/keys: %d %s", status, b)
	}
}

// A key limited to R requests a minute, driven through two gateways at once, gets R answers
// in all; the rest get a 429 with Retry-After and RateLimit headers, in the caller's format.
func TestAKeysRequestsPerMinuteHoldAcrossGateways(t *testing.T) {
	const rpm, n = 6, 20
	rdb := harness.StartRedis(t)
	c := startClusterWith(t, 2, 1, nil, tenancyEnv(rdb.URL, nil), fakeupstream.Reply{Echo: true})
	secret, _ := createKey(t, c.gateways[0], fmt.Sprintf(`{"name":"ci-bot","limits":{"rpm":%d}}`, rpm))
	other, _ := createKey(t, c.gateways[0], `{"name":"someone-else"}`)

	start := time.Now()
	var mu sync.Mutex
	ok, limited := 0, 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"n %d"}]}`, i)
			status, h, b, err := tryCall(t, http.MethodPost, c.gateways[i%2]+"/v1/messages", secret, body)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case status == http.StatusOK:
				ok++
			case status == http.StatusTooManyRequests && h.Get("Retry-After") != "" && h.Get("RateLimit-Limit") == fmt.Sprint(rpm) &&
				h.Get("RateLimit-Remaining") == "0" && strings.Contains(string(b), `"rate_limit_error"`):
				limited++
			default:
				t.Errorf("request %d: %d %v %s", i, status, h, b)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// GCRA at R a minute lets one more through every 60/R seconds after the burst of R.
	allowed := rpm + int(elapsed/(time.Minute/rpm))
	if ok > allowed || ok < rpm || ok+limited != n {
		t.Fatalf("%d answered and %d limited of %d in %s; want %d answered (at most %d) and the rest limited", ok, limited, n, elapsed, rpm, allowed)
	}
	// Another key is not limited by this one's use.
	if status, _, b := call(t, http.MethodPost, c.gateways[1]+"/v1/chat/completions", other, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`); status != http.StatusOK {
		t.Errorf("another key after the limited one: %d %s", status, b)
	}
	t.Logf("%d requests through 2 gateways in %s: %d answered, %d limited", n, elapsed.Round(time.Millisecond), ok, limited)
}

// usageStream reads every usage record on the bus and sums, per request id, what the
// workers reported for team.
func usageStream(t *testing.T, natsURL, team string) (perRequest map[string]int64, records int) {
	t.Helper()
	js := jetStreamAt(t, natsURL)
	cons, err := js.OrderedConsumer(t.Context(), bus.UsageStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	perRequest = map[string]int64{}
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			var b busv1.UsageBatch
			if err := proto.Unmarshal(msg.Data(), &b); err != nil {
				t.Fatal(err)
			}
			for _, u := range b.Usages {
				if u.GetTenant().GetTeam() == team {
					records++
					perRequest[u.RequestId] = u.InputTokens + u.OutputTokens
				}
			}
		}
		if got == 0 {
			return perRequest, records
		}
	}
}

// A team with a budget of N tokens, driven through two gateways at once, is refused once
// the usage workers reported passes N; its recorded spend is the sum of those usages, each
// request charged once — including one whose worker was killed and which another worker
// answered, and one whose usage reached the bus twice.
func TestATeamBudgetStopsItsKeysAndEachRequestIsChargedOnce(t *testing.T) {
	const budget = 600
	rdb := harness.StartRedis(t)
	workers := map[string]string{"WORKER_ACK_WAIT": "1500", "USAGE_FLUSH_INTERVAL": "50"}
	c := startClusterWith(t, 2, 2, workers, tenancyEnv(rdb.URL, nil), fakeupstream.Reply{Echo: true})
	status, _, b := call(t, http.MethodPut, c.gateways[1]+"/admin/policies/team/platform", adminKey, fmt.Sprintf(`{"daily_tokens":%d}`, budget))
	if status != http.StatusOK {
		t.Fatalf("PUT /admin/policies/team/platform: %d %s", status, b)
	}
	alice, _ := createKey(t, c.gateways[0], `{"name":"alice","team":"platform"}`)
	bob, _ := createKey(t, c.gateways[1], `{"name":"bob","team":"platform"}`)

	// First, a request whose worker is killed while it holds it: another worker answers it.
	c.fake.Enqueue(fakeupstream.Reply{Echo: true, HeaderDelay: 3 * time.Second})
	done := make(chan error, 1)
	go func() {
		status, _, b, err := tryCall(t, http.MethodPost, c.gateways[0]+"/v1/chat/completions", alice,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"survive a dead worker"}]}`)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("%d %s", status, b)
		}
		done <- err
	}()
	var holder *harness.Proc
	waitFor(t, 10*time.Second, "a worker to take the request", func() bool {
		for _, w := range c.workers {
			if strings.Contains(w.Output(), `"msg":"request taken"`) {
				holder = w
			}
		}
		return holder != nil
	})
	holder.Kill()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the request whose worker died: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the request whose worker died did not complete")
	}

	// Then both keys, through both gateways at once, until the budget refuses them.
	var mu sync.Mutex
	answered, refused := 1, 0
	var wg sync.WaitGroup
	for i, key := range []string{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 200; n++ {
				body := fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"spend some tokens %d %d"}]}`, i, n)
				status, h, b, err := tryCall(t, http.MethodPost, c.gateways[(i+n)%2]+"/v1/messages", key, body)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				switch {
				case status == http.StatusOK:
					answered++
				case status == http.StatusTooManyRequests && strings.Contains(string(b), `team \"platform\"`) && strings.Contains(string(b), "daily token budget") && h.Get("Retry-After") != "":
					refused++
				default:
					t.Errorf("%d %s", status, b)
				}
				mu.Unlock()
				if status != http.StatusOK {
					return
				}
				time.Sleep(20 * time.Millisecond) // usage reaches the ledger within a flush interval
			}
		}()
	}
	wg.Wait()
	if refused != 2 {
		t.Fatalf("%d answered, %d refused: the budget of %d tokens did not stop both keys", answered, refused, budget)
	}

	// A worker that died after answering leaves its usage on the bus and its request to be
	// answered again: the same request id reported twice, in another batch.
	perRequest, _ := usageStream(t, c.natsURL, "platform")
	var someID string
	for id := range perRequest {
		someID = id
		break
	}
	js := jetStreamAt(t, c.natsURL)
	dup, _ := proto.Marshal(&busv1.UsageBatch{Worker: "worker-that-died", Seq: 1, Usages: []*busv1.Usage{{
		RequestId: someID, Provider: "openai", Model: "gpt-4o", InputTokens: perRequest[someID], Tenant: &busv1.Tenant{Team: "platform"}}}})
	if _, err := js.Publish(t.Context(), bus.UsageSubject("openai"), dup); err != nil {
		t.Fatal(err)
	}

	// Every request is charged once: the recorded spend is the sum of the usage reported
	// per request, whichever gateway charged it and however often it was reported.
	perRequest, records := usageStream(t, c.natsURL, "platform")
	var want int64
	for _, n := range perRequest {
		want += n
	}
	charger, err := js.Consumer(t.Context(), bus.UsageStream, "lynkr-charger")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the charger to take every usage batch, the duplicate included", func() bool {
		info, err := charger.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	tokens, requests := usageOf(t, c.gateways[0], "team=platform")
	if tokens != want || requests != int64(answered) {
		t.Fatalf("team spend %d tokens over %d requests; the workers reported %d tokens over %d requests (%d records), clients got %d answers",
			tokens, requests, want, len(perRequest), records, answered)
	}
	if records <= len(perRequest) {
		t.Errorf("%d usage records for %d requests: the duplicate was not on the bus", records, len(perRequest))
	}
	// A request is refused when its estimate would pass the budget, so the team may stop up
	// to one estimate short of it — never further.
	estimate := anthropicllm.EstimateInputTokens([]byte(`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"spend some tokens 1 199"}]}`))
	if tokens+estimate < budget {
		t.Errorf("refused at %d tokens, more than an estimate (%d) under the budget of %d", tokens, estimate, budget)
	}
	// Once spent, every gateway refuses the team's keys: a request needing more than the
	// refused ones did (the budget is exact to their estimate, so a smaller one may still fit).
	for _, base := range c.gateways {
		status, _, b := call(t, http.MethodPost, base+"/v1/chat/completions", alice,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"more, though the team spent its budget for today: the gateways refuse it"}]}`)
		if status != http.StatusTooManyRequests || !strings.Contains(string(b), "budget") {
			t.Errorf("%s after the budget: %d %s", base, status, b)
		}
	}
	t.Logf("budget %d: %d answered (%d tokens charged), %d refused", budget, answered, tokens, refused)
}

// With Redis killed mid-run, a gateway keeps to its TENANT_FAIL_OPEN policy — failing open,
// keys it has seen keep working and limits wait; failing closed, every request gets a 503 —
// and both come back to normal once Redis is back, spend caught up from the bus.
func TestRedisKilledMidRunFailsOpenOrClosedAndRecovers(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("fail_open=%t", failOpen), func(t *testing.T) {
			rdb := harness.StartRedis(t)
			env := tenancyEnv(rdb.URL, map[string]string{"TENANT_FAIL_OPEN": fmt.Sprint(failOpen), "TENANT_TIMEOUT": "200",
				"LIMITER_FAIL_OPEN": fmt.Sprint(failOpen)})
			c := startClusterWith(t, 1, 1, map[string]string{"USAGE_FLUSH_INTERVAL": "50"}, env, fakeupstream.Reply{Echo: true})
			base := c.gateways[0]
			key, id := createKey(t, base, `{"name":"alice","team":"platform"}`)
			var answered atomic.Int64
			ask := func() (int, []byte) {
				status, _, b := call(t, http.MethodPost, base+"/v1/messages", key,
					`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)
				if status == http.StatusOK {
					answered.Add(1)
				}
				return status, b
			}
			if status, b := ask(); status != http.StatusOK {
				t.Fatalf("before the outage: %d %s", status, b)
			}
			rdb.Kill()
			for i := range 3 {
				status, b := ask()
				switch {
				case failOpen && status != http.StatusOK:
					t.Errorf("request %d without Redis, failing open: %d %s", i, status, b)
				case !failOpen && (status != http.StatusServiceUnavailable || !strings.Contains(string(b), "unavailable")):
					t.Errorf("request %d without Redis, failing closed: %d %s", i, status, b)
				}
			}
			// An unknown key is never let in, whatever the policy.
			if status, _, b := call(t, http.MethodPost, base+"/v1/messages", "lk-unknown", `{"model":"m","max_tokens":1,"messages":[]}`); status == http.StatusOK {
				t.Errorf("an unknown key without Redis: %d %s", status, b)
			}
			rdb.Start()
			// go-redis's pool dials again within a second or so of Redis answering.
			waitFor(t, 15*time.Second, "the gateway to reach Redis again", func() bool {
				_, _, err := tryUsage(t, base, "key="+id)
				status, _ := ask()
				return err == nil && status == http.StatusOK
			})
			wantRequests := answered.Load() // those answered during the outage too, charged once Redis is back
			var requests int64
			waitFor(t, 15*time.Second, "spend to catch up", func() bool {
				_, requests, _ = tryUsage(t, base, "key="+id)
				return requests == wantRequests
			})
		})
	}
}
