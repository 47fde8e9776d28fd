package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/services/lynkr/app"
	"github.com/lynkr/lynkr/tests/harness"
)

// scrape reads the gateway's /metrics and returns the parsed families and the raw text.
func scrape(t testing.TB, s *stack) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := s.HTTP.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams, string(raw)
}

// sample is the value of the series of name with exactly these labels (a histogram's count),
// and whether it exists.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			if labels[lp.GetName()] != lp.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// total sums every series of name.
func total(fams map[string]*dto.MetricFamily, name string) float64 {
	sum := 0.0
	for _, m := range fams[name].GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func getJSON(t testing.TB, s *stack, path string, into any) {
	t.Helper()
	resp, err := s.HTTP.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

const (
	messageBody = `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	streamBody  = `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

// TestMetricsAfterAKnownMix drives a known mix through the all-in-one — successes streamed and
// not, a retried upstream 500, an upstream 400, a malformed request, a shed request — and
// checks every counter and token sum on /metrics and the JSON views.
func TestMetricsAfterAKnownMix(t *testing.T) {
	usage := fakeupstream.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 30}
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "hello there", Usage: usage}))
	t.Cleanup(fake.Close)
	s := startLynkr(t, anthropicUpstream, fake.URL(), map[string]string{
		"API_RETRY_INITIAL_DELAY":                 "10",
		"API_RETRY_MAX_DELAY":                     "50",
		"LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD": "1",
	})
	s.Fake = fake

	sent := 0
	// send makes one request and waits until the gateway has counted it, so the next one
	// never meets it still in flight (the active requests threshold is 1).
	send := func(body string, wantStatus int) {
		t.Helper()
		resp, b := s.post(t, "/v1/messages", body, nil)
		if resp.StatusCode != wantStatus {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, wantStatus, b)
		}
		sent++
		deadline := time.Now().Add(5 * time.Second)
		for {
			fams, _ := scrape(t, s)
			if total(fams, "lynkr_requests_total") == float64(sent) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("lynkr_requests_total did not reach %d", sent)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(messageBody, http.StatusOK)
	send(messageBody, http.StatusOK)
	send(streamBody, http.StatusOK)
	fake.FailNext(1, fakeupstream.Fault{Status: http.StatusInternalServerError})
	send(messageBody, http.StatusOK) // retried once, then answered
	fake.FailNext(1, fakeupstream.Fault{Status: http.StatusBadRequest, Message: "bad image"})
	send(messageBody, http.StatusBadRequest) // the upstream's 400, not retried
	send(`{"model":"claude-sonnet-4-5","messages":"nope"}`, http.StatusBadRequest)

	// A slow answer holds the only slot; the request beside it is shed.
	fake.Enqueue(fakeupstream.Reply{Text: "slow", Usage: usage, HeaderDelay: 1500 * time.Millisecond})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, b := s.post(t, "/v1/messages", messageBody, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("slow request: %d %s", resp.StatusCode, b)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for fake.InFlight() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, b := s.post(t, "/v1/messages", messageBody, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request beside the slow one: %d (Retry-After %q) %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	wg.Wait()
	sent += 2
	deadline = time.Now().Add(5 * time.Second)
	var fams map[string]*dto.MetricFamily
	var raw string
	for {
		fams, raw = scrape(t, s)
		// The worker's counters land after the answer is sent; wait for the last delivery.
		q, _ := sample(fams, "lynkr_queue_wait_seconds", map[string]string{"provider": "anthropic"})
		if total(fams, "lynkr_requests_total") == float64(sent) && q == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not settle:\n%s", raw)
		}
		time.Sleep(10 * time.Millisecond)
	}

	p := map[string]string{"provider": "anthropic"}
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		// Gateway: what clients got.
		{"lynkr_requests_total", map[string]string{"provider": "anthropic", "status": "200"}, 5},
		{"lynkr_requests_total", map[string]string{"provider": "anthropic", "status": "400"}, 1},
		{"lynkr_requests_total", map[string]string{"provider": "none", "status": "400"}, 1},
		{"lynkr_requests_total", map[string]string{"provider": "none", "status": "503"}, 1},
		{"lynkr_request_duration_seconds", p, 6},
		{"lynkr_request_duration_seconds", map[string]string{"provider": "none"}, 2},
		{"lynkr_time_to_first_token_seconds", p, 1},
		{"lynkr_errors_total", map[string]string{"provider": "anthropic", "type": "invalid_request_error"}, 1},
		{"lynkr_errors_total", map[string]string{"provider": "none", "type": "invalid_request_error"}, 1},
		{"lynkr_errors_total", map[string]string{"provider": "none", "type": "overloaded_error"}, 1},
		{"lynkr_load_shedding_rejected_total", map[string]string{"reason": "active_requests"}, 1},
		{"lynkr_load_shedding_active", map[string]string{}, 0},
		{"lynkr_active_requests", map[string]string{}, 0},
		{"lynkr_tokens_input_total", p, 650}, // input counts the cached prompt tokens too: 5 × (100 + 30)
		{"lynkr_tokens_output_total", p, 100},
		{"lynkr_tokens_cached_total", p, 150},
		{"lynkr_cache_hits_total", map[string]string{}, 0},
		{"lynkr_cache_misses_total", map[string]string{}, 0},
		{"lynkr_circuit_breaker_state", map[string]string{"provider": "anthropic", "state": "closed"}, 1},
		{"lynkr_circuit_breaker_state", map[string]string{"provider": "anthropic", "state": "open"}, 0},
		{"lynkr_circuit_breaker_state", map[string]string{"provider": "anthropic", "state": "half_open"}, 0},
		{"lynkr_jetstream_backlog", p, 0},
		// Worker: what the bus and the upstream saw.
		{"lynkr_queue_wait_seconds", p, 6},
		{"lynkr_upstream_requests_total", map[string]string{"provider": "anthropic", "status": "200"}, 5},
		{"lynkr_upstream_requests_total", map[string]string{"provider": "anthropic", "status": "500"}, 1},
		{"lynkr_upstream_requests_total", map[string]string{"provider": "anthropic", "status": "400"}, 1},
		{"lynkr_upstream_duration_seconds", p, 7},
		{"lynkr_retries_total", p, 1},
		{"lynkr_redeliveries_total", p, 0},
		{"lynkr_worker_active_requests", p, 0},
	}
	for _, w := range want {
		got, ok := sample(fams, w.name, w.labels)
		if !ok {
			t.Errorf("%s%v: missing", w.name, w.labels)
			continue
		}
		if got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("standard collector metric %s missing", name)
		}
	}
	if got := len(answered(fake)); got != 7 {
		t.Errorf("upstream calls = %d, want 7", got)
	}

	var obs struct {
		Requests struct {
			Total    float64            `json:"total"`
			ByStatus map[string]float64 `json:"by_status"`
		} `json:"requests"`
		Errors struct {
			Total float64 `json:"total"`
		} `json:"errors"`
		Latency struct {
			Count int     `json:"count"`
			P95   float64 `json:"p95_ms"`
		} `json:"latency"`
		Tokens struct {
			Input, Output, Cached float64
		} `json:"tokens"`
		System struct {
			RSS float64 `json:"rss_bytes"`
		} `json:"system"`
	}
	getJSON(t, s, "/metrics/observability", &obs)
	if obs.Requests.Total != 8 || obs.Requests.ByStatus["200"] != 5 || obs.Errors.Total != 3 || obs.Latency.Count != 8 || obs.Latency.P95 <= 0 {
		t.Errorf("/metrics/observability requests/errors/latency = %+v %+v %+v", obs.Requests, obs.Errors, obs.Latency)
	}
	if obs.Tokens.Input != 650 || obs.Tokens.Output != 100 || obs.Tokens.Cached != 150 || obs.System.RSS <= 0 {
		t.Errorf("/metrics/observability tokens/system = %+v %+v", obs.Tokens, obs.System)
	}
	var cb struct {
		Providers map[string]struct{ State string } `json:"providers"`
	}
	getJSON(t, s, "/metrics/circuit-breakers", &cb)
	if cb.Providers["anthropic"].State != "closed" {
		t.Errorf("/metrics/circuit-breakers = %+v, want anthropic closed", cb)
	}
	var ls struct {
		Overloaded bool              `json:"overloaded"`
		Shed       map[string]uint64 `json:"shed_total"`
	}
	getJSON(t, s, "/metrics/load-shedding", &ls)
	if ls.Overloaded || ls.Shed["active_requests"] != 1 {
		t.Errorf("/metrics/load-shedding = %+v, want not overloaded and 1 shed for active_requests", ls)
	}
}

// TestMetricsCanBeTurnedOff: METRICS_ENABLED=false serves no /metrics.
func TestMetricsCanBeTurnedOff(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"METRICS_ENABLED": "false"})
	resp, err := s.HTTP.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics with METRICS_ENABLED=false: %d, want 404", resp.StatusCode)
	}
}

// TestDeploymentsQueryOnlyExportedMetrics: every metric the Grafana dashboard and the alert
// rules in deployments/ query is on the /metrics of a running all-in-one (gateway, worker and
// aggregator) after a little traffic.
func TestDeploymentsQueryOnlyExportedMetrics(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "hi"}))
	t.Cleanup(fake.Close)
	s := startLynkr(t, openAIUpstream, fake.URL(), map[string]string{
		// A fallback provider, so the fallback series exist.
		"FALLBACK_PROVIDER":  "anthropic",
		"ANTHROPIC_API_KEY":  "sk-ant-test",
		"ANTHROPIC_ENDPOINT": fake.URL() + "/v1/messages",
	})
	chat := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	s.post(t, "/v1/chat/completions", chat, nil)
	s.post(t, "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	s.post(t, "/v1/chat/completions", `{"model":1}`, nil)
	var raw string
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, raw = scrape(t, s)
		if strings.Contains(raw, `lynkr_cluster_instances{service="worker"} 1`) && strings.Contains(raw, "lynkr_queue_wait_seconds_count") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster gauges never showed the worker:\n%s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	names := deploymentMetricNames(t)
	if len(names) < 30 {
		t.Fatalf("only %d metric names found in deployments/", len(names))
	}
	checkMetricNamesExported(t, names, raw)
}

// TestOneTraceSpansGatewayQueueWorkerAndUpstream: a request with a client's traceparent makes
// one trace: the gateway's server span (child of the client's), the publish, the queue wait,
// the worker's processing, each upstream attempt (one retried here) and its HTTP call, whose
// traceparent the upstream receives.
func TestOneTraceSpansGatewayQueueWorkerAndUpstream(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "traced"}))
	t.Cleanup(fake.Close)
	s := startLynkrWith(t, anthropicUpstream, fake.URL(), map[string]string{
		"API_RETRY_INITIAL_DELAY": "10",
		"API_RETRY_MAX_DELAY":     "50",
	}, app.Config{Tracer: tp})
	s.Fake = fake

	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	fake.FailNext(1, fakeupstream.Fault{Status: http.StatusServiceUnavailable})
	resp, b := s.post(t, "/v1/messages", messageBody, map[string]string{"traceparent": "00-" + traceID + "-" + clientSpan + "-01"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}

	byName := func(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, sp := range spans {
			if sp.Name == name {
				out = append(out, sp)
			}
		}
		return out
	}
	var spans tracetest.SpanStubs
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans = exp.GetSpans()
		if len(byName(spans, "process lynkr.req.anthropic")) == 1 && len(byName(spans, "POST /v1/messages")) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans never completed; have %d: %v", len(spans), spanNames(spans))
		}
		time.Sleep(10 * time.Millisecond)
	}
	one := func(name string) tracetest.SpanStub {
		t.Helper()
		got := byName(spans, name)
		if len(got) != 1 {
			t.Fatalf("%d spans named %q, want 1; all: %v", len(got), name, spanNames(spans))
		}
		return got[0]
	}
	server := one("POST /v1/messages")
	publish := one("publish lynkr.req.anthropic")
	queue := one("queue lynkr.req.anthropic")
	process := one("process lynkr.req.anthropic")
	attempts := byName(spans, "upstream anthropic")
	if len(attempts) != 2 {
		t.Fatalf("%d upstream attempt spans, want 2 (a 503, then the answer)", len(attempts))
	}
	for _, sp := range spans {
		// The worker's model list call at start (no ANTHROPIC_MODEL) is a trace of its own.
		if sp.SpanContext.TraceID().String() != traceID && !(sp.Name == "HTTP GET" && !sp.Parent.IsValid()) {
			t.Errorf("span %q is in trace %s, want the client's %s", sp.Name, sp.SpanContext.TraceID(), traceID)
		}
	}
	parentOf := func(child, parent tracetest.SpanStub) {
		t.Helper()
		if child.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("span %q has parent %s, want %q (%s)", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
		}
	}
	if server.Parent.SpanID().String() != clientSpan || !server.Parent.IsRemote() {
		t.Errorf("server span's parent = %s (remote %v), want the client's %s", server.Parent.SpanID(), server.Parent.IsRemote(), clientSpan)
	}
	parentOf(publish, server)
	parentOf(queue, publish)
	parentOf(process, publish)
	if !process.Parent.IsRemote() {
		t.Error("the worker's span should continue a context that came over the bus (remote parent)")
	}
	if !queue.StartTime.Before(process.StartTime) || queue.EndTime.After(process.StartTime.Add(time.Millisecond)) {
		t.Errorf("queue span %v–%v should end where processing starts (%v)", queue.StartTime, queue.EndTime, process.StartTime)
	}
	var upstreamSpanIDs []string
	for _, a := range attempts {
		parentOf(a, process)
		var httpSpans []tracetest.SpanStub
		for _, sp := range spans {
			if sp.Parent.SpanID() == a.SpanContext.SpanID() {
				httpSpans = append(httpSpans, sp)
			}
		}
		if len(httpSpans) != 1 || httpSpans[0].SpanKind != trace.SpanKindClient {
			t.Fatalf("attempt span has %d children, want its one HTTP client span: %v", len(httpSpans), spanNames(httpSpans))
		}
		upstreamSpanIDs = append(upstreamSpanIDs, httpSpans[0].SpanContext.SpanID().String())
	}
	calls := s.upstreamCalls()
	if len(calls) != 2 {
		t.Fatalf("upstream calls = %d, want 2", len(calls))
	}
	for i, c := range calls {
		tp := c.Header.Get("traceparent")
		if !strings.Contains(tp, traceID) || !slices.ContainsFunc(upstreamSpanIDs, func(id string) bool { return strings.Contains(tp, id) }) {
			t.Errorf("upstream call %d traceparent %q: want trace %s and one of the HTTP spans %v", i+1, tp, traceID, upstreamSpanIDs)
		}
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestEveryLogLineOfARequestCarriesItsIDsAndNoKey: at debug level, every line the gateway and
// the worker write while serving one (retried) request carries its request id and trace id,
// and neither the client's key nor the provider's appears anywhere in the log.
func TestEveryLogLineOfARequestCarriesItsIDsAndNoKey(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "logged"}))
	t.Cleanup(fake.Close)
	const providerKey, clientKey, clientBearer = "sk-ant-provider-SECRET-7c1f", "sk-client-SECRET-91ab", "sk-client-SECRET-bearer-3d"
	s := startLynkrWith(t, anthropicUpstream, fake.URL(), map[string]string{
		"LOG_LEVEL":               "debug",
		"ANTHROPIC_API_KEY":       providerKey,
		"API_RETRY_INITIAL_DELAY": "10",
		"API_RETRY_MAX_DELAY":     "50",
	}, app.Config{Tracer: tp})
	s.Fake = fake
	time.Sleep(200 * time.Millisecond) // let start-up lines settle
	before := len(s.logs.String())

	fake.FailNext(1, fakeupstream.Fault{Status: http.StatusInternalServerError})
	resp, b := s.post(t, "/v1/messages", messageBody, map[string]string{
		"X-Request-Id":  "log-test-1",
		"x-api-key":     clientKey,
		"Authorization": "Bearer " + clientBearer,
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var lines []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(s.logs.String()[before:]), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", l)
			}
			lines = append(lines, m)
		}
		if slices.ContainsFunc(lines, func(m map[string]any) bool { return m["msg"] == "request answered" }) &&
			slices.ContainsFunc(lines, func(m map[string]any) bool { return m["msg"] == "request completed" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request's log lines never appeared:\n%s", s.logs.String()[before:])
		}
		time.Sleep(10 * time.Millisecond)
	}
	traceID := ""
	services := map[string]int{}
	for _, m := range lines {
		id, _ := m["request_id"].(string)
		if !strings.HasPrefix(id, "log-test-1") {
			t.Errorf("log line without the request's id: %v", m)
		}
		tid, _ := m["trace_id"].(string)
		if traceID == "" {
			traceID = tid
		}
		if tid == "" || tid != traceID {
			t.Errorf("log line with trace_id %q, want the request's %q: %v", tid, traceID, m)
		}
		services[fmt.Sprint(m["service"])]++
	}
	if services["gateway"] == 0 || services["worker"] < 3 { // taken, attempt failed, retrying, answered
		t.Errorf("lines per service = %v, want the gateway's and the worker's (at least 3)", services)
	}
	t.Logf("%d lines for the request: %v", len(lines), services)
	for _, secret := range []string{providerKey, clientKey, clientBearer, "SECRET"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	for _, sp := range exp.GetSpans() {
		for _, kv := range sp.Attributes {
			if strings.Contains(kv.Value.Emit(), "SECRET") {
				t.Errorf("span %q attribute %s carries a key", sp.Name, kv.Key)
			}
		}
	}
}

// TestUsageReachesTheUsageStreamOncePerRequest: what each answered request consumed is on the
// LLM_USAGE stream, in batches, once per request, with the tokens the upstream reported.
func TestUsageReachesTheUsageStreamOncePerRequest(t *testing.T) {
	usage := fakeupstream.Usage{InputTokens: 40, OutputTokens: 9, CacheReadTokens: 5}
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "counted", Usage: usage}))
	t.Cleanup(fake.Close)
	natsAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	s := startLynkr(t, anthropicUpstream, fake.URL(), map[string]string{"NATS_LISTEN": natsAddr, "NATS_GATEWAY_PASSWORD": "gw-pw", "USAGE_FLUSH_INTERVAL": "50"})
	const n = 12
	ids := map[string]bool{}
	for i := range n {
		body := messageBody
		if i%2 == 1 {
			body = streamBody
		}
		resp, b := s.post(t, "/v1/messages", body, map[string]string{"X-Request-Id": fmt.Sprintf("usage-%d", i)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		ids[fmt.Sprintf("usage-%d", i)] = false
	}

	// Gateways read the usage stream (they charge it): the gateway's user may.
	nc, err := nats.Connect("nats://"+natsAddr, nats.UserInfo("gateway", "gw-pw"), nats.CustomInboxPrefix(bus.InboxPrefix(bus.RoleGateway)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cons, err := js.OrderedConsumer(ctx, bus.UsageStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []*busv1.Usage
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			continue
		}
		if !strings.HasPrefix(msg.Subject(), "lynkr.usage.anthropic") {
			t.Errorf("usage on subject %q, want lynkr.usage.anthropic", msg.Subject())
		}
		var batch busv1.UsageBatch
		if err := proto.Unmarshal(msg.Data(), &batch); err != nil {
			t.Fatalf("usage message: %v", err)
		}
		got = append(got, batch.Usages...)
	}
	if len(got) != n {
		t.Fatalf("%d usage records on the stream, want %d", len(got), n)
	}
	for _, u := range got {
		id := u.RequestId[:strings.LastIndexByte(u.RequestId, '-')] // the bus id is the client's id with a suffix
		seen, ok := ids[id]
		if !ok || seen {
			t.Errorf("usage for %q: unknown or counted twice", u.RequestId)
		}
		ids[id] = true
		if u.Provider != "anthropic" || u.InputTokens != 45 || u.OutputTokens != 9 || u.CacheReadTokens != 5 {
			t.Errorf("usage %+v, want anthropic with 45 input (5 cached) and 9 output tokens", u)
		}
	}
}

// readiness reads GET /health/ready.
func readiness(t *testing.T, s *stack) (int, map[string]any) {
	t.Helper()
	resp, err := s.HTTP.Get(s.URL + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]any `json:"checks"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Checks
}

// With the limiter in Redis, readiness reports Redis; it fails without Redis only when the
// limiter fails closed, since failing open the gateway keeps serving.
func TestReadinessReportsRedisAndFailsOnlyWhenTheLimiterFailsClosed(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("LIMITER_FAIL_OPEN=%v", failOpen), func(t *testing.T) {
			url, redis := harness.Redis(t)
			s := start(t, openAIUpstream, map[string]string{
				"REDIS_URL": url, "LIMITER_MAX_IN_FLIGHT": "100", "LIMITER_FAIL_OPEN": fmt.Sprint(failOpen),
			})
			if code, checks := readiness(t, s); code != http.StatusOK || checks["redis"] != "ok" {
				t.Fatalf("with Redis up: %d %v", code, checks)
			}
			redis.Kill()
			want := http.StatusServiceUnavailable
			if failOpen {
				want = http.StatusOK
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				code, checks := readiness(t, s)
				if code == want && checks["redis"] != "ok" {
					t.Logf("with Redis down: %d %v", code, checks["redis"])
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("with Redis down: %d %v, want %d and Redis reported", code, checks, want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
