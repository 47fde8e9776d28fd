// Package e2e runs lynkr end to end: the all-in-one (embedded JetStream, worker, gateway)
// in-process, the official Anthropic and OpenAI SDKs as clients, and the fake upstream in
// pkg/fakeupstream standing for the provider, all over real HTTP on loopback.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/services/lynkr/app"
	"github.com/lynkr/lynkr/tests/harness"
)

// upstream is the wire family of the provider lynkr forwards to.
type upstream string

const (
	openAIUpstream    upstream = "openai"    // OpenAI Chat Completions format
	anthropicUpstream upstream = "anthropic" // Anthropic Messages format
)

var upstreams = []upstream{openAIUpstream, anthropicUpstream}

// stack is one running lynkr with its fake upstream.
type stack struct {
	t    testing.TB
	URL  string // the gateway, e.g. http://127.0.0.1:40123
	Fake *fakeupstream.Server
	kind upstream
	logs *harness.Buffer
	// HTTP is the stack's own client: its connections go when the stack stops, so a
	// connection dialled and never used cannot hold up the gateway's graceful shutdown.
	HTTP *http.Client
}

// providerEnv is the environment that points lynkr's provider at endpoint.
func providerEnv(kind upstream, endpoint string) map[string]string {
	if kind == anthropicUpstream {
		return map[string]string{
			"MODEL_PROVIDER":     "anthropic",
			"ANTHROPIC_API_KEY":  "sk-ant-test",
			"ANTHROPIC_ENDPOINT": endpoint + "/v1/messages",
		}
	}
	return map[string]string{
		"MODEL_PROVIDER":  "openai",
		"OPENAI_API_KEY":  "sk-test",
		"OPENAI_ENDPOINT": endpoint + "/v1/chat/completions",
		"OPENAI_MODEL":    "gpt-4o",
	}
}

// start runs a fake upstream of the given family and lynkr in front of it until the test
// ends. extra adds or overrides environment variables.
func start(t testing.TB, kind upstream, extra map[string]string) *stack {
	t.Helper()
	fake := fakeupstream.New()
	t.Cleanup(fake.Close)
	s := startLynkr(t, kind, fake.URL(), extra)
	s.Fake = fake
	return s
}

// startLynkr runs lynkr with its provider at endpoint (a base URL).
func startLynkr(t testing.TB, kind upstream, endpoint string, extra map[string]string) *stack {
	t.Helper()
	return startLynkrWith(t, kind, endpoint, extra, app.Config{})
}

// startLynkrWith is startLynkr with the app's tracer and registry from cfg.
func startLynkrWith(t testing.TB, kind upstream, endpoint string, extra map[string]string, cfg app.Config) *stack {
	t.Helper()
	env := map[string]string{
		"PORT":           "0",
		"HOST":           "127.0.0.1",
		"LYNKR_DATA_DIR": t.TempDir(),
		"LOG_LEVEL":      "warn",
	}
	for k, v := range providerEnv(kind, endpoint) {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	logs := &harness.Buffer{}
	log, err := logging.New(config.Map(env), logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Targets, cfg.Lookup = app.Targets, config.Map(env)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("lynkr Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("lynkr did not stop within 30s of its context ending")
		}
		if t.Failed() {
			t.Logf("lynkr log:\n%s", logs.String())
		}
	})
	select {
	case <-a.Gateway().Ready():
	case err := <-done:
		t.Fatalf("lynkr stopped before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("lynkr not ready within 20s")
	}
	return &stack{t: t, URL: "http://" + a.Gateway().Addr().String(), kind: kind, logs: logs, HTTP: hc}
}

// anthropic returns an Anthropic SDK client of the gateway. The SDK does not retry, so a
// test sees each answer as the gateway gave it.
func (s *stack) anthropic(opts ...aoption.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]aoption.RequestOption{
		aoption.WithBaseURL(s.URL), aoption.WithAPIKey("client-key"), aoption.WithMaxRetries(0), aoption.WithHTTPClient(s.HTTP),
	}, opts...)...)
}

// openai returns an OpenAI SDK client of the gateway.
func (s *stack) openai(opts ...ooption.RequestOption) openai.Client {
	return openai.NewClient(append([]ooption.RequestOption{
		ooption.WithBaseURL(s.URL + "/v1/"), ooption.WithAPIKey("client-key"), ooption.WithMaxRetries(0), ooption.WithHTTPClient(s.HTTP),
	}, opts...)...)
}

// upstreamCalls returns the recorded requests to the generation endpoint of the stack's
// upstream family (chat/completions or messages).
func (s *stack) upstreamCalls() []fakeupstream.Request {
	want := fakeupstream.ChatCompletions
	if s.kind == anthropicUpstream {
		want = fakeupstream.Messages
	}
	var out []fakeupstream.Request
	for _, r := range s.Fake.Requests() {
		if r.Endpoint == want {
			out = append(out, r)
		}
	}
	return out
}

// lastCall returns the last generation request the upstream received.
func (s *stack) lastCall() fakeupstream.Request {
	s.t.Helper()
	calls := s.upstreamCalls()
	if len(calls) == 0 {
		s.t.Fatal("the upstream received no request")
	}
	return calls[len(calls)-1]
}

// post sends a raw JSON body to the gateway.
func (s *stack) post(t testing.TB, path, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return s.do(t, req)
}

// do sends req with the stack's client and returns the answer and its body.
func (s *stack) do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s answer: %v", req.URL.Path, err)
	}
	return resp, b
}

// answered are the requests an upstream got for clients: all it recorded but the model list
// workers ask for themselves when the operator configured no model.
func answered(f *fakeupstream.Server) []fakeupstream.Request {
	var out []fakeupstream.Request
	for _, r := range f.Requests() {
		if r.Endpoint != fakeupstream.Models {
			out = append(out, r)
		}
	}
	return out
}

// canonical re-encodes JSON with sorted keys, for comparing documents.
func canonical(t testing.TB, raw []byte) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON (%v): %.300s", err, raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
