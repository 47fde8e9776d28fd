package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/tenant"
)

// embeddedBus starts an embedded nats-server with JetStream for the test and connects to it.
func embeddedBus(t *testing.T) *nats.Conn {
	t.Helper()
	return bustest.Conn(t, bustest.Server(t), "test")
}

// startGateway runs a gateway on an embedded nats-server with JetStream and returns its URL
// and the bus connection, so a test can announce providers and play the worker's part.
func startGateway(t *testing.T, env map[string]string) (string, *nats.Conn) {
	t.Helper()
	nc := embeddedBus(t)
	base := map[string]string{"PORT": "0", "HOST": "127.0.0.1", "MODEL_PROVIDER": "openai", "GATEWAY_ID": "gw1"}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := ConfigFromEnv(config.Map(base))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, cfg, Deps{NATS: nc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, bus.ProviderBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Announce(ctx, kv, bus.ProviderInfo{Name: "openai", Format: "openai-chat", Models: []string{"gpt-4o", "gpt-4o-mini"}, Embeddings: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	select {
	case <-g.Ready():
	case err := <-done:
		t.Fatalf("gateway stopped: %v", err)
	}
	// Wait until the registry has the announcement.
	for i := 0; i < 200; i++ {
		if _, ok := g.registry.Get("openai"); ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "http://" + g.Addr().String(), nc
}

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestBadInputGetsTheClientsErrorFormatAndNeverReachesTheBus(t *testing.T) {
	url, nc := startGateway(t, nil)
	// Anything published for a provider would show up here.
	sub, err := nc.SubscribeSync("lynkr.req.>")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, body string
		status           int
		anthropic        bool
		details          []string
	}{
		{"malformed json anthropic", "/v1/messages", `{"model": "claude`, 400, true, []string{"JSON"}},
		{"wrong types anthropic", "/v1/messages", `{"model": 123, "max_tokens": -1, "messages": []}`, 400, true, []string{"model", "max_tokens"}},
		{"missing fields anthropic", "/v1/messages", `{}`, 400, true, []string{"model", "messages"}},
		{"malformed json openai", "/v1/chat/completions", `[1,2`, 400, false, []string{"JSON"}},
		{"wrong types openai", "/v1/chat/completions", `{"model": 5, "messages": "hi"}`, 400, false, []string{"model", "messages"}},
		{"responses without input", "/v1/responses", `{"model": "gpt-4o"}`, 400, false, []string{"input"}},
		{"embeddings without input", "/v1/embeddings", `{"model": "text-embedding-3-small"}`, 400, false, []string{"input"}},
		{"empty body", "/v1/messages", ``, 400, true, []string{"empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, url+c.path, c.body, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if resp.Header.Get(HeaderRequestID) == "" {
				t.Error("no X-Request-Id on the error")
			}
			var details []string
			if c.anthropic {
				var e struct {
					Type  string `json:"type"`
					Error struct {
						Type    string   `json:"type"`
						Message string   `json:"message"`
						Details []string `json:"details"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Type != "invalid_request_error" {
					t.Fatalf("not an Anthropic error body: %s", body)
				}
				details = e.Error.Details
			} else {
				var e struct {
					Error struct {
						Type    string   `json:"type"`
						Message string   `json:"message"`
						Details []string `json:"details"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Type != "invalid_request_error" || e.Error.Message == "" {
					t.Fatalf("not an OpenAI error body: %s", body)
				}
				details = e.Error.Details
			}
			all := strings.Join(details, "\n")
			for _, want := range c.details {
				if !strings.Contains(all, want) {
					t.Errorf("details %q do not mention %q", details, want)
				}
			}
		})
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("an invalid request reached the bus: %s", m.Subject)
	}
}

func TestOversizedBodyGets413(t *testing.T) {
	url, _ := startGateway(t, map[string]string{"MAX_REQUEST_BODY_BYTES": "1024"})
	big := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	resp, body := post(t, url+"/v1/chat/completions", big, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "request_too_large") {
		t.Fatalf("status %d body %s, want 413 request_too_large", resp.StatusCode, body)
	}
}

func TestUnknownProviderIs404AndProviderWithoutWorkerIs503(t *testing.T) {
	url, _ := startGateway(t, map[string]string{"MODEL_PROVIDER": "ghost", "REQUEST_TIMEOUT": "300"})
	ok := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	resp, body := post(t, url+"/v1/chat/completions", ok, map[string]string{HeaderProvider: "nosuch"})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "nosuch") {
		t.Fatalf("status %d body %s, want 404 naming the provider", resp.StatusCode, body)
	}
	resp, body = post(t, url+"/v1/chat/completions", ok, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "ghost") {
		t.Fatalf("status %d body %s, want 503 with Retry-After naming the default provider", resp.StatusCode, body)
	}
	// A provider with a registry entry is accepted; nobody answers here, so the deadline ends it.
	resp, body = post(t, url+"/v1/messages", `{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{HeaderProvider: "openai"})
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"type":"error"`) {
		t.Fatalf("status %d body %s, want 504 in Anthropic's format", resp.StatusCode, body)
	}
}

func TestARequestTheBusRefusesIs503InTheClientsFormat(t *testing.T) {
	url, nc := startGateway(t, nil)
	js, _ := jetstream.New(nc)
	// The request stream is gone (an operator deleted it, say): JetStream takes no request.
	if err := js.DeleteStream(context.Background(), bus.RequestStream); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, body, shape string }{
		{"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, `{"error":{`},
		{"/v1/messages", `{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, `{"type":"error","error":{`},
	} {
		resp, body := post(t, url+c.path, c.body, map[string]string{HeaderProvider: "openai"})
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.HasPrefix(string(body), c.shape) || !strings.Contains(string(body), "could not queue the request") {
			t.Errorf("%s: status %d Retry-After %q body %s, want 503 with Retry-After in the caller's format",
				c.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}

func TestStrictModelsRefusesUnlistedModel(t *testing.T) {
	url, _ := startGateway(t, map[string]string{"STRICT_MODELS": "true", "REQUEST_TIMEOUT": "300"})
	resp, body := post(t, url+"/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "gpt-9") {
		t.Fatalf("status %d body %s, want 404 naming the model", resp.StatusCode, body)
	}
}

func TestRequestIDIsTakenFromTheClientOrMade(t *testing.T) {
	url, _ := startGateway(t, nil)
	for _, c := range []struct{ sent, want string }{
		{"abc-123", "abc-123"},
		{"bad id with spaces", ""},
		{"", ""},
	} {
		req, _ := http.NewRequest(http.MethodHead, url+"/", nil)
		if c.sent != "" {
			req.Header.Set(HeaderRequestID, c.sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get(HeaderRequestID)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD / = %d", resp.StatusCode)
		}
		if c.want != "" && got != c.want || c.want == "" && !strings.HasPrefix(got, "req_") {
			t.Errorf("sent %q, got X-Request-Id %q", c.sent, got)
		}
	}
}

func TestModelsInTheCallersShape(t *testing.T) {
	url, _ := startGateway(t, nil)
	get := func(h map[string]string) map[string]any {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/models", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	oa := get(nil)
	if oa["object"] != "list" || len(oa["data"].([]any)) != 2 {
		t.Fatalf("OpenAI list: %v", oa)
	}
	an := get(map[string]string{"anthropic-version": "2023-06-01"})
	data := an["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["type"] != "model" || an["has_more"] != false || an["first_id"] != "gpt-4o" {
		t.Fatalf("Anthropic list: %v", an)
	}
}

func TestClientRequestIDMayBeSentAgain(t *testing.T) {
	url, nc := startGateway(t, map[string]string{"REQUEST_TIMEOUT": "1000"})
	// Count what reaches the bus: both requests must, each under its own bus id, although
	// the client sent the same X-Request-Id (JetStream would drop the second as a duplicate).
	sub, err := nc.SubscribeSync("lynkr.req.>")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	h := map[string]string{HeaderRequestID: "client-retry-1"}
	for i := range 2 {
		resp, b := post(t, url+"/v1/chat/completions", body, h)
		if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get(HeaderRequestID) != "client-retry-1" {
			t.Fatalf("request %d: %d %q %s, want 504 (no worker answers) with the client's id", i+1, resp.StatusCode, resp.Header.Get(HeaderRequestID), b)
		}
	}
	ids := map[string]bool{}
	for range 2 {
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			t.Fatalf("a request did not reach the bus: %v", err)
		}
		id := m.Header.Get(nats.MsgIdHdr)
		if !strings.HasPrefix(id, "client-retry-1-") {
			t.Errorf("bus id %q does not carry the client's id", id)
		}
		ids[id] = true
	}
	if len(ids) != 2 {
		t.Errorf("both requests went on the bus under one id: %v", ids)
	}
}

func TestActiveRequestsThresholdSheds(t *testing.T) {
	url, _ := startGateway(t, map[string]string{"LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD": "2", "REQUEST_TIMEOUT": "3000"})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	// Two requests wait for a worker that never comes and hold both places.
	held := make(chan int, 2)
	for range 2 {
		go func() {
			resp, _ := post(t, url+"/v1/chat/completions", body, nil)
			held <- resp.StatusCode
		}()
	}
	// Wait until both are in flight, as the gateway's own gauge says.
	for i := 0; !strings.Contains(scrape(t, url), "\nlynkr_active_requests 2\n"); i++ {
		if i == 500 {
			t.Fatal("the two held requests never were in flight together")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, b := post(t, url+"/v1/chat/completions", body, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "active") {
		t.Fatalf("third request: %d Retry-After %q %s; want 503 naming active requests", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	for range 2 {
		if s := <-held; s != http.StatusGatewayTimeout {
			t.Errorf("held request ended %d, want 504", s)
		}
	}
}

func TestMemoryThresholdSheds(t *testing.T) {
	url, _ := startGateway(t, map[string]string{"LOAD_SHEDDING_MEMORY_THRESHOLD": "0.0001"})
	resp, b := post(t, url+"/v1/messages", `{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(b), "memory") || !strings.Contains(string(b), "overloaded_error") {
		t.Fatalf("%d Retry-After %q %s; want 503 overloaded naming memory", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if m := scrape(t, url); !strings.Contains(m, `lynkr_load_shedding_rejected_total{reason="memory"} 1`) {
		t.Errorf("/metrics does not count the shed request:\n%s", m)
	}
}

// scrape returns the gateway's /metrics page.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(m)
}

// A gateway that never runs lets go of what New took when closed: the tenant store's file can
// be opened again (bbolt locks it while open, even against this same process).
func TestCloseReleasesAGatewayThatNeverRan(t *testing.T) {
	nc := embeddedBus(t)
	path := filepath.Join(t.TempDir(), "tenants.db")
	cfg, err := ConfigFromEnv(config.Map(map[string]string{
		"PORT": "0", "MODEL_PROVIDER": "openai", "AUTH_ENABLED": "true", "ADMIN_API_KEY": "adm", "TENANT_STORE_PATH": path,
	}))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(t.Context(), cfg, Deps{NATS: nc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if db, err := tenant.OpenBolt(path); err == nil {
		db.Close()
		t.Fatal("the tenant store opened while the gateway holds it: this test proves nothing")
	}
	g.Close()
	g.Close() // again: a no-op
	db, err := tenant.OpenBolt(path)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	db.Close()
}
