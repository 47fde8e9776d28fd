package clients

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/services/lynkr/app"
	"github.com/lynkr/lynkr/tests/harness"
)

// format is the wire format of the provider lynkr forwards to.
type format string

const (
	chatFormat      format = "chat"      // OpenAI Chat Completions
	responsesFormat format = "responses" // OpenAI Responses
	anthropicFormat format = "anthropic" // Anthropic Messages
)

// endpoint is the fake upstream's endpoint a format's generation requests reach.
func (f format) endpoint() fakeupstream.Endpoint {
	switch f {
	case anthropicFormat:
		return fakeupstream.Messages
	case responsesFormat:
		return fakeupstream.Responses
	}
	return fakeupstream.ChatCompletions
}

// path is the upstream URL path lynkr is configured with.
func (f format) path() string {
	switch f {
	case anthropicFormat:
		return "/v1/messages"
	case responsesFormat:
		return "/v1/responses"
	}
	return "/v1/chat/completions"
}

// providerEnv points lynkr's provider at the fake upstream at base.
func providerEnv(f format, base string) map[string]string {
	if f == anthropicFormat {
		return map[string]string{
			"MODEL_PROVIDER":     "anthropic",
			"ANTHROPIC_API_KEY":  "sk-ant-test",
			"ANTHROPIC_ENDPOINT": base + f.path(),
		}
	}
	return map[string]string{
		"MODEL_PROVIDER":  "openai",
		"OPENAI_API_KEY":  "sk-test",
		"OPENAI_ENDPOINT": base + f.path(),
		"OPENAI_MODEL":    "gpt-4o",
	}
}

// stack is a fake upstream, lynkr in front of it, and a recording proxy in front of lynkr
// that the client is pointed at: client → proxy → lynkr → fake.
type stack struct {
	t      *testing.T
	format format
	Fake   *fakeupstream.Server
	Lynkr  string // lynkr's base URL
	Proxy  *recorder
	logs   *harness.Buffer
	http   *http.Client
}

// start runs the stack until the test ends.
func start(t *testing.T, f format) *stack {
	t.Helper()
	// Script mode answers from the request: "say: WORDS", "run bash: CMD" with the client's
	// own shell tool, "Tool output: …" after a tool result.
	fake := fakeupstream.New(fakeupstream.WithScript(true))
	t.Cleanup(fake.Close)
	s := &stack{t: t, format: f, Fake: fake}
	s.startLynkr(fake.URL())
	s.Proxy = newRecorder(t, s.Lynkr)
	return s
}

// startLynkr runs the all-in-one (gateway, worker and aggregator on the embedded JetStream)
// in-process, as tests/e2e does, with its provider at upstream.
func (s *stack) startLynkr(upstream string) {
	t := s.t
	env := map[string]string{
		"PORT":           "0",
		"HOST":           "127.0.0.1",
		"LYNKR_DATA_DIR": t.TempDir(),
		"LOG_LEVEL":      "warn",
	}
	for k, v := range providerEnv(s.format, upstream) {
		env[k] = v
	}
	s.logs = &harness.Buffer{}
	log, err := logging.New(config.Map(env), s.logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{Targets: app.Targets, Lookup: config.Map(env)}, log)
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	s.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(func() {
		s.http.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("lynkr Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("lynkr did not stop within 30s of its context ending")
		}
		if t.Failed() && s.logs.String() != "" {
			t.Logf("lynkr log:\n%s", s.logs.String())
		}
	})
	select {
	case <-a.Gateway().Ready():
	case err := <-done:
		t.Fatalf("lynkr stopped before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("lynkr not ready within 20s")
	}
	s.Lynkr = "http://" + a.Gateway().Addr().String()
}

// calls are the generation requests the fake upstream received, in order.
func (s *stack) calls() []fakeupstream.Request {
	var out []fakeupstream.Request
	for _, r := range s.Fake.Requests() {
		if r.Endpoint == s.format.endpoint() {
			out = append(out, r)
		}
	}
	return out
}

// droppedMetric returns lynkr's lynkr_conversion_dropped_total by construct: what its
// conversions left out of the requests this stack served.
func (s *stack) droppedMetric() map[string]float64 {
	resp, err := s.http.Get(s.Lynkr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil
	}
	fam := fams["lynkr_conversion_dropped_total"]
	if fam == nil {
		return nil
	}
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "construct" {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// exchange is one request a client sent to lynkr and lynkr's answer.
type exchange struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	Status       int
	Dropped      string // lynkr's X-Lynkr-Dropped answer header
	ErrorBody    []byte // the answer's body when Status >= 400
	Answer       []byte // the first 256 KiB of the answer's body otherwise
}

// teeBody keeps the start of an answer's body as the client reads it.
type teeBody struct {
	io.ReadCloser
	r *recorder
	e *exchange
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.r.mu.Lock()
		if room := 256<<10 - len(b.e.Answer); room > 0 {
			b.e.Answer = append(b.e.Answer, p[:min(n, room)]...)
		}
		b.r.mu.Unlock()
	}
	return n, err
}

// recorder is a reverse proxy that records what a client sends to lynkr and the status and
// X-Lynkr-Dropped header of each answer, and streams the answers through unchanged.
type recorder struct {
	URL string
	mu  sync.Mutex
	ex  []*exchange
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	type key struct{}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host },
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			e, _ := resp.Request.Context().Value(key{}).(*exchange)
			if e == nil {
				return nil
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			e.Status = resp.StatusCode
			e.Dropped = resp.Header.Get("X-Lynkr-Dropped")
			if resp.StatusCode >= 400 {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				e.ErrorBody = b
				resp.Body = io.NopCloser(bytes.NewReader(b))
				return nil
			}
			resp.Body = &teeBody{ReadCloser: resp.Body, r: r, e: e}
			return nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		e := &exchange{Method: req.Method, Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: body}
		r.mu.Lock()
		r.ex = append(r.ex, e)
		r.mu.Unlock()
		proxy.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), key{}, e)))
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// exchanges returns a copy of what was recorded so far.
func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]exchange, len(r.ex))
	for i, e := range r.ex {
		out[i] = *e
	}
	return out
}
