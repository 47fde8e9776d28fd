package aggregator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/heartbeat"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/services/aggregator/aggregator"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func streams() bus.StreamConfig {
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	return cfg
}

// setUpBus creates the JetStream assets, as the first gateway or worker to start does.
func setUpBus(tb testing.TB, s *server.Server) (jetstream.JetStream, jetstream.KeyValue) {
	tb.Helper()
	js, err := jetstream.New(bustest.Conn(tb, s, "setup"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := bus.Setup(context.Background(), js, streams()); err != nil {
		tb.Fatal(err)
	}
	kv, err := breaker.EnsureBucket(context.Background(), js, streams())
	if err != nil {
		tb.Fatal(err)
	}
	return js, kv
}

// run runs part until the test ends or stop is called; stop returns what part returned.
func run(tb testing.TB, part func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- part(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("run: %v", err)
		}
	})
	return stop
}

const (
	testTTL   = 1500 * time.Millisecond
	testEvery = 200 * time.Millisecond
)

func testConfig() aggregator.Config {
	return aggregator.Config{
		Addr:              "127.0.0.1:0",
		Instance:          "agg-test",
		HeartbeatTTL:      testTTL,
		HeartbeatInterval: testEvery,
		PollInterval:      100 * time.Millisecond,
		ShutdownTimeout:   time.Second,
	}
}

// startAggregator runs an aggregator on its own connection and returns it with its base
// URL ("" when cfg.Addr is empty) and registry.
func startAggregator(tb testing.TB, s *server.Server, cfg aggregator.Config) (*aggregator.Aggregator, string, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	a, err := aggregator.New(context.Background(), cfg, aggregator.Deps{NATS: bustest.Conn(tb, s, "aggregator"), Logger: quiet(), Metrics: reg})
	if err != nil {
		tb.Fatal(err)
	}
	run(tb, a.Run)
	select {
	case <-a.Ready():
	case <-time.After(10 * time.Second):
		tb.Fatal("aggregator not ready")
	}
	if a.Addr() == nil {
		return a, "", reg
	}
	return a, "http://" + a.Addr().String(), reg
}

// instance heartbeats as a fake instance on a connection of its own, every testEvery, with
// counters that grow at fixed rates per second; the returned conn can be closed to make it
// go silent, stop stops it gracefully.
type fake struct {
	service, instance string
	providers         []string
	reqs, errs        float64
	in, out           float64
	active            int64
	shedding          bool
}

func (f fake) start(tb testing.TB, s *server.Server) (nc *nats.Conn, stop func() error) {
	nc = bustest.Conn(tb, s, f.instance)
	began := time.Now()
	src := func() *busv1.Heartbeat {
		sec := time.Since(began).Seconds()
		return &busv1.Heartbeat{
			Instance: f.instance, Service: f.service, Version: "test", Ready: true,
			StartedUnixNano: began.UnixNano(), Addr: f.instance + ":9000",
			Providers: f.providers, Shedding: f.shedding, ActiveRequests: f.active,
			RequestsTotal: uint64(f.reqs * sec), ErrorsTotal: uint64(f.errs * sec),
			InputTokensTotal: uint64(f.in * sec), OutputTokensTotal: uint64(f.out * sec),
			Breakers: map[string]string{"ollama": "closed"},
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- heartbeat.Run(ctx, nc, testEvery, src) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return nc, stop
}

func get(tb testing.TB, url string) (int, http.Header, []byte) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func cluster(tb testing.TB, base string) aggregator.Cluster {
	tb.Helper()
	code, _, b := get(tb, base+"/cluster")
	if code != http.StatusOK {
		tb.Fatalf("GET /cluster: %d %s", code, b)
	}
	var c aggregator.Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		tb.Fatalf("GET /cluster: %v in %s", err, b)
	}
	return c
}

func findInstance(c aggregator.Cluster, instance string) (aggregator.InstanceView, bool) {
	for _, i := range c.Instances {
		if i.Instance == instance {
			return i, true
		}
	}
	return aggregator.InstanceView{}, false
}

func findProvider(c aggregator.Cluster, name string) (aggregator.ProviderView, bool) {
	for _, p := range c.Providers {
		if p.Name == name {
			return p, true
		}
	}
	return aggregator.ProviderView{}, false
}

// eventually polls cond until it holds or within passes.
func eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// near allows for the counters' whole numbers (one count per heartbeat) and timer jitter.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 0.03*want+1.5/testEvery.Seconds()
}

func TestClusterDiscoversInstancesByHeartbeat(t *testing.T) {
	s := bustest.Server(t)
	setUpBus(t, s)
	_, base, _ := startAggregator(t, s, testConfig())

	_, stopGateway := fake{service: "gateway", instance: "g1", reqs: 1000, errs: 100, active: 7}.start(t, s)
	workerConn, _ := fake{service: "worker", instance: "w1", providers: []string{"ollama"}, reqs: 900, in: 20000, out: 4000, active: 5, shedding: true}.start(t, s)

	began := time.Now()
	var c aggregator.Cluster
	eventually(t, 3*time.Second, "both instances with rates in /cluster", func() bool {
		c = cluster(t, base)
		g, okg := findInstance(c, "g1")
		w, okw := findInstance(c, "w1")
		return okg && okw && g.RequestRate > 0 && w.InputTokenRate > 0
	})
	t.Logf("instances with rates after %s", time.Since(began).Round(time.Millisecond))

	g, _ := findInstance(c, "g1")
	w, _ := findInstance(c, "w1")
	if !near(g.RequestRate, 1000) || !near(g.ErrorRate, 100) || g.InputTokenRate != 0 {
		t.Errorf("g1 rates: requests %v errors %v input tokens %v, want 1000, 100, 0", g.RequestRate, g.ErrorRate, g.InputTokenRate)
	}
	if !near(w.RequestRate, 900) || !near(w.InputTokenRate, 20000) || !near(w.OutputTokenRate, 4000) {
		t.Errorf("w1 rates: requests %v input %v output %v, want 900, 20000, 4000", w.RequestRate, w.InputTokenRate, w.OutputTokenRate)
	}
	if g.Service != "gateway" || !g.Ready || g.Addr != "g1:9000" || g.ActiveRequests != 7 || g.AgeSeconds > 1 || g.StartedAt.IsZero() {
		t.Errorf("g1: %+v", g)
	}
	if !w.Shedding || len(w.Providers) != 1 || w.Providers[0] != "ollama" || w.Breakers["ollama"] != "closed" {
		t.Errorf("w1: %+v", w)
	}
	if c.Services["gateway"] != 1 || c.Services["worker"] != 1 || c.Services["aggregator"] != 1 {
		t.Errorf("services %v, want one of each (the aggregator counts itself)", c.Services)
	}
	// Requests count at the gateways, tokens at the workers.
	tot := c.Totals
	if !near(tot.RequestRate, 1000) || !near(tot.ErrorRate, 100) || !near(tot.InputTokenRate, 20000) || !near(tot.OutputTokenRate, 4000) ||
		tot.ActiveRequests != 7 || tot.SheddingInstances != 1 {
		t.Errorf("totals %+v", tot)
	}
	if p, ok := findProvider(c, "ollama"); !ok || p.Workers != 1 || p.Breaker.State != "closed" {
		t.Errorf("provider ollama: %+v (found %v)", p, ok)
	}

	// The JSON is snake_case.
	_, _, raw := get(t, base+"/cluster")
	for _, field := range []string{`"generated_at"`, `"age_seconds"`, `"request_rate"`, `"input_token_rate"`, `"active_requests"`, `"shedding_instances"`, `"started_at"`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("/cluster has no %s: %s", field, raw)
		}
	}

	// A graceful stop says goodbye: gone at once, long before the TTL.
	if err := stopGateway(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	eventually(t, testTTL/2, "the stopped gateway gone", func() bool { _, ok := findInstance(cluster(t, base), "g1"); return !ok })
	t.Logf("stopped instance gone after %s", time.Since(stopped).Round(time.Millisecond))

	// A worker that just goes silent (its process died) goes after the TTL.
	workerConn.Close()
	silent := time.Now()
	eventually(t, testTTL+time.Second, "the silent worker gone", func() bool { _, ok := findInstance(cluster(t, base), "w1"); return !ok })
	took := time.Since(silent)
	t.Logf("silent instance gone after %s (TTL %s)", took.Round(time.Millisecond), testTTL)
	if took < testTTL-testEvery-50*time.Millisecond {
		t.Errorf("silent instance gone after %s, before the TTL %s", took, testTTL)
	}
	c = cluster(t, base)
	if c.Services["gateway"] != 0 || c.Services["worker"] != 0 || c.Totals.RequestRate != 0 {
		t.Errorf("after both left: services %v totals %+v", c.Services, c.Totals)
	}
}

func TestBreakerStateFromTheBucket(t *testing.T) {
	s := bustest.Server(t)
	// The aggregator starts before any gateway or worker has made the buckets.
	_, base, _ := startAggregator(t, s, testConfig())
	_, kv := setUpBus(t, s)

	pub := breaker.NewPublisher(kv, "w1", quiet())
	run(t, pub.Run)
	now := time.Now()
	pub.Notify(breaker.Change{Provider: "anthropic", From: breaker.StateClosed, To: breaker.StateOpen, At: now, Until: now.Add(time.Minute)})
	pub.Notify(breaker.Change{Provider: "openai", From: breaker.StateOpen, To: breaker.StateClosed, At: now})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var p aggregator.ProviderView
	eventually(t, 5*time.Second, "anthropic's breaker open in /cluster", func() bool {
		var ok bool
		p, ok = findProvider(cluster(t, base), "anthropic")
		return ok && p.Breaker.State == "open"
	})
	if p.Breaker.By != "w1" || p.Breaker.Since.Sub(now).Abs() > time.Millisecond || p.Breaker.Until.Sub(now.Add(time.Minute)).Abs() > time.Millisecond {
		t.Errorf("anthropic breaker %+v, want open by w1 since %v until %v", p.Breaker, now, now.Add(time.Minute))
	}
	if o, ok := findProvider(cluster(t, base), "openai"); !ok || o.Breaker.State != "closed" {
		t.Errorf("openai: %+v", o)
	}

	_, _, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`lynkr_cluster_circuit_breaker_state{provider="anthropic",state="open"} 1`,
		`lynkr_cluster_circuit_breaker_state{provider="anthropic",state="closed"} 0`,
		`lynkr_cluster_circuit_breaker_state{provider="anthropic",state="half_open"} 0`,
		`lynkr_cluster_circuit_breaker_state{provider="openai",state="closed"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	// An open entry whose time is up reads as half-open, as the gateways read it.
	later := time.Now()
	pub.Notify(breaker.Change{Provider: "anthropic", From: breaker.StateOpen, To: breaker.StateOpen, At: later.Add(-time.Minute), Until: later.Add(-time.Second)})
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "anthropic half-open", func() bool {
		p, _ := findProvider(cluster(t, base), "anthropic")
		return p.Breaker.State == "half_open"
	})
}

func TestBacklogFromConsumers(t *testing.T) {
	s := bustest.Server(t)
	js, _ := setUpBus(t, s)
	_, base, reg := startAggregator(t, s, testConfig())
	ctx := context.Background()

	// ollama is announced in the registry, openai only served by a heartbeating worker;
	// nobody consumes either.
	pkv, err := js.KeyValue(ctx, bus.ProviderBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Announce(ctx, pkv, bus.ProviderInfo{Name: "ollama", Format: "chat"}); err != nil {
		t.Fatal(err)
	}
	fake{service: "worker", instance: "w-openai", providers: []string{"openai"}}.start(t, s)
	for provider, n := range map[string]int{"ollama": 7, "openai": 2} {
		if _, err := bus.EnsureConsumer(ctx, js, provider, bus.ConsumerConfig{MaxInFlight: 10, AckWait: 30 * time.Second, MaxDeliver: 5}); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := js.Publish(ctx, bus.RequestSubject(provider), []byte("{}"), jetstream.WithMsgID(fmt.Sprintf("%s-%d", provider, i))); err != nil {
				t.Fatal(err)
			}
		}
	}

	eventually(t, 5*time.Second, "backlogs 7 and 2 in /cluster", func() bool {
		c := cluster(t, base)
		o, _ := findProvider(c, "ollama")
		a, _ := findProvider(c, "openai")
		return o.Backlog == 7 && a.Backlog == 2 && a.Workers == 1
	})
	_, _, metrics := get(t, base+"/metrics")
	for _, want := range []string{`lynkr_cluster_backlog{provider="ollama"} 7`, `lynkr_cluster_backlog{provider="openai"} 2`, `lynkr_cluster_instances{service="worker"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	// The same gauges are in the registry the aggregator was given.
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	for _, n := range []string{"lynkr_cluster_instances", "lynkr_cluster_circuit_breaker_state", "lynkr_cluster_backlog", "lynkr_cluster_request_rate",
		"lynkr_cluster_error_rate", "lynkr_cluster_token_rate", "lynkr_cluster_active_requests", "lynkr_cluster_shedding_instances"} {
		if !names[n] {
			t.Errorf("registry has no %s", n)
		}
	}
}

// TestHandlerWithoutListener runs the aggregator as the all-in-one does: no Addr, its
// Handler mounted on a server of someone else's.
func TestHandlerWithoutListener(t *testing.T) {
	s := bustest.Server(t)
	setUpBus(t, s)
	cfg := testConfig()
	cfg.Addr = ""
	reg := prometheus.NewRegistry()
	a, err := aggregator.New(context.Background(), cfg, aggregator.Deps{NATS: bustest.Conn(t, s, "aggregator"), Logger: quiet(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, a.Run)
	<-a.Ready()
	if a.Addr() != nil {
		t.Errorf("Addr %v without a listen address", a.Addr())
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	type health struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	check := func(path string, wantCode int, wantStatus string) health {
		t.Helper()
		code, hdr, b := get(t, srv.URL+path)
		var h health
		if err := json.Unmarshal(b, &h); err != nil || code != wantCode || h.Status != wantStatus || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %s, want %d status %q", path, code, b, wantCode, wantStatus)
		}
		return h
	}
	check("/health/live", http.StatusOK, "ok")
	eventually(t, 5*time.Second, "watching both buckets", func() bool {
		h := check("/health/ready", http.StatusOK, "ready")
		return h.Checks["breakers"] == "ok" && h.Checks["providers"] == "ok" && h.Checks["nats"] == "ok"
	})

	code, hdr, page := get(t, srv.URL+"/cluster/dashboard")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Content-Security-Policy") == "" ||
		!strings.Contains(string(page), `id="instances"`) || strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("GET /cluster/dashboard: %d %v, %d bytes", code, hdr, len(page))
	}
	// The aggregator sees itself, and counts the requests it served.
	eventually(t, 3*time.Second, "the aggregator's own heartbeat", func() bool {
		me, ok := findInstance(cluster(t, srv.URL), "agg-test")
		return ok && me.Service == "aggregator" && me.Ready && me.Addr == ""
	})

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h := check("/health/ready", http.StatusServiceUnavailable, "not ready")
	if h.Checks["shutdown"] != "shutting down" {
		t.Errorf("checks after stop: %v", h.Checks)
	}
}

func TestConfig(t *testing.T) {
	cfg, err := aggregator.ConfigFromEnv(config.Map(map[string]string{"NATS_URL": "nats://n:4222"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8083" || cfg.NATSURL != "nats://n:4222" || cfg.HeartbeatTTL != 15*time.Second || cfg.HeartbeatInterval != 5*time.Second ||
		!bus.ValidToken(cfg.Instance) {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = aggregator.ConfigFromEnv(config.Map(map[string]string{"PORT": "9100", "HOST": "127.0.0.1", "HEARTBEAT_TTL": "4000", "AGGREGATOR_ID": "agg-1"}))
	if err != nil || cfg.Addr != "127.0.0.1:9100" || cfg.HeartbeatTTL != 4*time.Second || cfg.Instance != "agg-1" {
		t.Errorf("set: %+v, %v", cfg, err)
	}
	for name, env := range map[string]map[string]string{
		"bad TTL":            {"HEARTBEAT_TTL": "soon"},
		"TTL below interval": {"HEARTBEAT_TTL": "1000", "HEARTBEAT_INTERVAL": "2000"},
		"dotted id":          {"AGGREGATOR_ID": "a.b"},
		"bad port":           {"PORT": "x"},
	} {
		if _, err := aggregator.ConfigFromEnv(config.Map(env)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := aggregator.New(context.Background(), aggregator.Config{}, aggregator.Deps{}); err == nil {
		t.Error("New with a zero config: no error")
	}
}

func TestMainNeedsNATSURL(t *testing.T) {
	err := aggregator.Main(context.Background(), config.Map(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "NATS_URL") {
		t.Errorf("Main without NATS_URL: %v", err)
	}
}
