package metrics_test

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lynkr/lynkr/pkg/metrics"
)

// cluster is a GatewayState whose answers a test changes between scrapes.
type cluster struct {
	mu       sync.Mutex
	breakers map[string]string
	backlog  map[string]uint64
	shedding bool
}

func (c *cluster) Breakers() map[string]string { c.mu.Lock(); defer c.mu.Unlock(); return c.breakers }
func (c *cluster) Backlog() map[string]uint64  { c.mu.Lock(); defer c.mu.Unlock(); return c.backlog }
func (c *cluster) Shedding() bool              { c.mu.Lock(); defer c.mu.Unlock(); return c.shedding }

// family is a metric as dashboards query it: its type and label names.
type family struct {
	typ    dto.MetricType
	labels string
}

// read gathers g, failing the test on error.
func read(t *testing.T, g prometheus.Gatherer) metrics.View {
	t.Helper()
	v, err := metrics.Read(g)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// describe is the type and label names (of its first series) of every family of v.
func describe(v metrics.View) map[string]family {
	out := map[string]family{}
	for name, f := range v {
		var labels []string
		if ms := f.GetMetric(); len(ms) > 0 {
			for _, lp := range ms[0].GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		sort.Strings(labels)
		out[name] = family{f.GetType(), strings.Join(labels, ",")}
	}
	return out
}

// series lists the samples of name as the text exposition shows them,
// `name{label="value",…} value`, sorted; a histogram's value is its count.
func series(v metrics.View, name string) []string {
	var out []string
	for _, m := range v[name].GetMetric() {
		var ls []string
		for _, lp := range m.GetLabel() {
			ls = append(ls, lp.GetName()+`="`+lp.GetValue()+`"`)
		}
		sort.Strings(ls)
		s := name
		if len(ls) > 0 {
			s += "{" + strings.Join(ls, ",") + "}"
		}
		one := metrics.View{name: &dto.MetricFamily{Metric: []*dto.Metric{m}}}
		out = append(out, s+" "+strconv.FormatFloat(one.Sum(name), 'g', -1, 64))
	}
	sort.Strings(out)
	return out
}

func checkFamilies(t *testing.T, v metrics.View, want map[string]family) {
	t.Helper()
	got := describe(v)
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s is missing", name)
		case g != w:
			t.Errorf("%s is a %v with labels [%s], want a %v with [%s]", name, g.typ, g.labels, w.typ, w.labels)
		}
	}
}

var (
	counter   = dto.MetricType_COUNTER
	gauge     = dto.MetricType_GAUGE
	histogram = dto.MetricType_HISTOGRAM
)

// The gateway's metrics keep the names and labels of Lynkr's production guide, so its
// dashboards and alerts work unchanged, beside those lynkr adds.
func TestGatewayNamesAndLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewGateway(reg, &cluster{breakers: map[string]string{"databricks": "closed"}, backlog: map[string]uint64{"databricks": 0}})
	if err != nil {
		t.Fatal(err)
	}
	// A vector shows only once it has a series.
	m.Requests.WithLabelValues("databricks", "200").Inc()
	m.Duration.WithLabelValues("databricks").Observe(0.3)
	m.FirstToken.WithLabelValues("databricks").Observe(0.1)
	m.Errors.WithLabelValues("databricks", "timeout").Inc()
	m.TokensInput.WithLabelValues("databricks").Add(5)
	m.TokensOutput.WithLabelValues("databricks").Add(2)
	m.TokensCached.WithLabelValues("databricks").Add(1)
	m.LoopGuard.WithLabelValues("repeats").Inc()
	m.Active.Set(42)
	m.CacheHits.Inc()
	m.CacheMisses.Inc()
	m.Charged.Inc()
	v := read(t, reg)
	checkFamilies(t, v, map[string]family{
		// Lynkr's.
		"lynkr_requests_total":           {counter, "provider,status"},
		"lynkr_request_duration_seconds": {histogram, "provider"},
		"lynkr_errors_total":             {counter, "provider,type"},
		"lynkr_tokens_input_total":       {counter, "provider"},
		"lynkr_tokens_output_total":      {counter, "provider"},
		"lynkr_tokens_cached_total":      {counter, "provider"}, // unlabelled in Lynkr: sum() reads both alike
		"lynkr_cache_hits_total":         {counter, ""},
		"lynkr_cache_misses_total":       {counter, ""},
		"lynkr_circuit_breaker_state":    {gauge, "provider,state"},
		"lynkr_active_requests":          {gauge, ""},
		// lynkr's own.
		"lynkr_time_to_first_token_seconds":  {histogram, "provider"},
		"lynkr_load_shedding_rejected_total": {counter, "reason"},
		"lynkr_load_shedding_active":         {gauge, ""},
		"lynkr_jetstream_backlog":            {gauge, "provider"},
		"lynkr_loop_guard_refused_total":     {counter, "reason"},
		"lynkr_tenant_refused_total":         {counter, "reason"},
		"lynkr_tenant_store_errors_total":    {counter, "admitted"},
		"lynkr_spend_charged_requests_total": {counter, ""},
	})
	// The sample lines of the guide, as a scrape shows them.
	for name, want := range map[string]string{
		"lynkr_requests_total":        `lynkr_requests_total{provider="databricks",status="200"} 1`,
		"lynkr_errors_total":          `lynkr_errors_total{provider="databricks",type="timeout"} 1`,
		"lynkr_circuit_breaker_state": `lynkr_circuit_breaker_state{provider="databricks",state="closed"} 1`,
		"lynkr_active_requests":       `lynkr_active_requests 42`,
		"lynkr_cache_hits_total":      `lynkr_cache_hits_total 1`,
	} {
		if got := series(v, name); !slices.Contains(got, want) {
			t.Errorf("%s: %q, want %q among them", name, got, want)
		}
	}
	// The buckets of the guide's latency histogram (le 0.5 and 1) are among the buckets.
	var bounds []float64
	for _, b := range v["lynkr_request_duration_seconds"].GetMetric()[0].GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if !slices.Contains(bounds, 0.5) || !slices.Contains(bounds, 1) {
		t.Errorf("duration buckets %v lack 0.5 and 1", bounds)
	}
}

// Series that alerts divide by exist from the start at zero, so rate() and ratios see them
// before the first event.
func TestGatewayStartsSeriesAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.NewGateway(reg, &cluster{}); err != nil {
		t.Fatal(err)
	}
	v := read(t, reg)
	var want []string
	for _, r := range metrics.ShedReasons {
		want = append(want, `lynkr_load_shedding_rejected_total{reason="`+r+`"} 0`)
	}
	sort.Strings(want)
	if got := series(v, "lynkr_load_shedding_rejected_total"); !slices.Equal(got, want) {
		t.Errorf("shed series %q, want %q", got, want)
	}
	if got := series(v, "lynkr_tenant_refused_total"); len(got) != len(metrics.TenantRefusals) {
		t.Errorf("tenant refusal series %q, want one per reason of %q", got, metrics.TenantRefusals)
	}
	if got, want := series(v, "lynkr_tenant_store_errors_total"), []string{
		`lynkr_tenant_store_errors_total{admitted="false"} 0`, `lynkr_tenant_store_errors_total{admitted="true"} 0`,
	}; !slices.Equal(got, want) {
		t.Errorf("store error series %q, want %q", got, want)
	}
	if got := series(v, "lynkr_load_shedding_active"); !slices.Equal(got, []string{"lynkr_load_shedding_active 0"}) {
		t.Errorf("shedding %q", got)
	}
}

// The cluster's state is read at each scrape: each provider has one series per breaker
// state, 1 for the current one.
func TestGatewayReadsTheClusterAtEachScrape(t *testing.T) {
	state := &cluster{
		breakers: map[string]string{"openai": "open", "anthropic": "half_open"},
		backlog:  map[string]uint64{"openai": 7},
	}
	reg := prometheus.NewRegistry()
	if _, err := metrics.NewGateway(reg, state); err != nil {
		t.Fatal(err)
	}
	v := read(t, reg)
	want := []string{
		`lynkr_circuit_breaker_state{provider="anthropic",state="closed"} 0`,
		`lynkr_circuit_breaker_state{provider="anthropic",state="half_open"} 1`,
		`lynkr_circuit_breaker_state{provider="anthropic",state="open"} 0`,
		`lynkr_circuit_breaker_state{provider="openai",state="closed"} 0`,
		`lynkr_circuit_breaker_state{provider="openai",state="half_open"} 0`,
		`lynkr_circuit_breaker_state{provider="openai",state="open"} 1`,
	}
	if got := series(v, "lynkr_circuit_breaker_state"); !slices.Equal(got, want) {
		t.Errorf("breakers\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := series(v, "lynkr_jetstream_backlog"); !slices.Equal(got, []string{`lynkr_jetstream_backlog{provider="openai"} 7`}) {
		t.Errorf("backlog %q", got)
	}

	state.mu.Lock()
	state.breakers = map[string]string{"openai": "closed"}
	state.backlog = map[string]uint64{"openai": 0, "bedrock": 2}
	state.shedding = true
	state.mu.Unlock()
	v = read(t, reg)
	if got := v.SumBy("lynkr_circuit_breaker_state", "state"); got["closed"] != 1 || got["open"] != 0 || got["half_open"] != 0 {
		t.Errorf("breakers after the change: %v", got)
	}
	if got := v.SumBy("lynkr_jetstream_backlog", "provider"); len(got) != 2 || got["bedrock"] != 2 || got["openai"] != 0 {
		t.Errorf("backlog after the change: %v", got)
	}
	if got := v.Sum("lynkr_load_shedding_active"); got != 1 {
		t.Errorf("shedding = %v, want 1", got)
	}
}

// Building a service's metrics twice on one registry is an error, not a panic.
func TestRegisteringTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.NewGateway(reg, &cluster{}); err != nil {
		t.Fatal(err)
	}
	_, err := metrics.NewGateway(reg, &cluster{})
	if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Errorf("second NewGateway: %v, want AlreadyRegisteredError", err)
	}
	if _, err := metrics.NewWorker(reg); err != nil {
		t.Errorf("a worker beside a gateway (the all-in-one): %v", err)
	}
	if _, err := metrics.NewWorker(reg); err == nil {
		t.Error("second NewWorker: no error")
	}
}

func TestWorkerNamesLabelsAndServe(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewWorker(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Serve("openai", "anthropic")
	m.Serve("anthropic", "anthropic") // its own fallback: no series
	m.Serve("ollama", "")
	m.UpstreamRequests.WithLabelValues("openai", "error").Inc()
	m.Dropped.WithLabelValues("anthropic", "openai-chat", "web_search").Inc()
	v := read(t, reg)
	checkFamilies(t, v, map[string]family{
		"lynkr_queue_wait_seconds":        {histogram, "provider"},
		"lynkr_upstream_duration_seconds": {histogram, "provider"},
		"lynkr_upstream_requests_total":   {counter, "provider,status"},
		"lynkr_retries_total":             {counter, "provider"},
		"lynkr_redeliveries_total":        {counter, "provider"},
		"lynkr_fallbacks_total":           {counter, "fallback,provider"},
		"lynkr_worker_active_requests":    {gauge, "provider"},
		"lynkr_conversion_dropped_total":  {counter, "construct,from,to"},
	})
	for _, name := range []string{"lynkr_queue_wait_seconds", "lynkr_upstream_duration_seconds", "lynkr_retries_total",
		"lynkr_redeliveries_total", "lynkr_worker_active_requests"} {
		if got := v.SumBy(name, "provider"); len(got) != 3 || got["openai"] != 0 || got["anthropic"] != 0 || got["ollama"] != 0 {
			t.Errorf("%s starts %v, want each served provider at 0", name, got)
		}
	}
	if got := series(v, "lynkr_fallbacks_total"); !slices.Equal(got, []string{`lynkr_fallbacks_total{fallback="anthropic",provider="openai"} 0`}) {
		t.Errorf("fallback series %q", got)
	}
}

// The registry of a service carries the Go and process collectors: Lynkr's guide watches
// process_resident_memory_bytes.
func TestNewRegistry(t *testing.T) {
	v := read(t, metrics.NewRegistry())
	for _, name := range []string{"process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if _, ok := v[name]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
	if v.Sum("process_resident_memory_bytes") <= 0 || v.Sum("go_goroutines") < 1 {
		t.Errorf("rss %v, goroutines %v", v.Sum("process_resident_memory_bytes"), v.Sum("go_goroutines"))
	}
}

func TestReadError(t *testing.T) {
	broken := errors.New("collector broke")
	_, err := metrics.Read(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, broken }))
	if !errors.Is(err, broken) {
		t.Errorf("Read = %v, want it to wrap the gatherer's error", err)
	}
}

// Sum and SumBy add every label set of a counter, a gauge or a histogram's count; a metric
// that is not there is 0.
func TestSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"provider", "status"})
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g"}, []string{"provider"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds"}, []string{"provider"})
	reg.MustRegister(c, g, h)
	c.WithLabelValues("a", "200").Add(3)
	c.WithLabelValues("a", "500").Add(1)
	c.WithLabelValues("b", "200").Add(2)
	g.WithLabelValues("a").Set(-1)
	g.WithLabelValues("b").Set(4)
	h.WithLabelValues("a").Observe(1)
	h.WithLabelValues("a").Observe(100)
	h.WithLabelValues("b").Observe(0.5)
	v := read(t, reg)
	if got := v.Sum("c_total"); got != 6 {
		t.Errorf("Sum(counter) = %v, want 6", got)
	}
	if got := v.Sum("g"); got != 3 {
		t.Errorf("Sum(gauge) = %v, want 3", got)
	}
	if got := v.Sum("h_seconds"); got != 3 {
		t.Errorf("Sum(histogram) = %v, want its 3 observations", got)
	}
	if got := v.Sum("absent"); got != 0 {
		t.Errorf("Sum(absent) = %v", got)
	}
	if got := v.SumBy("c_total", "status"); len(got) != 2 || got["200"] != 5 || got["500"] != 1 {
		t.Errorf("SumBy(status) = %v", got)
	}
	if got := v.SumBy("c_total", "nope"); len(got) != 0 {
		t.Errorf("SumBy(a label it lacks) = %v", got)
	}
}

// Latency merges the label sets of a histogram and interpolates its quantiles within the
// buckets, as histogram_quantile does.
func TestLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lat_seconds", Buckets: []float64{1, 2, 4}}, []string{"provider"})
	reg.MustRegister(h)
	if l := read(t, reg).Latency("lat_seconds"); l != (metrics.Latency{}) {
		t.Errorf("no observations: %+v, want zero", l)
	}
	h.WithLabelValues("a").Observe(0.5)
	h.WithLabelValues("b").Observe(0.5)
	h.WithLabelValues("a").Observe(1.5)
	h.WithLabelValues("b").Observe(1.5)
	// Ranks 2, 3.8, 3.96 of 4: the top of the first bucket, then 90% and 98% into the second.
	l := read(t, reg).Latency("lat_seconds")
	want := metrics.Latency{Count: 4, MeanMs: 1000, P50Ms: 1000, P95Ms: 1900, P99Ms: 1980}
	if l.Count != want.Count || !near(l.MeanMs, want.MeanMs) || !near(l.P50Ms, want.P50Ms) || !near(l.P95Ms, want.P95Ms) || !near(l.P99Ms, want.P99Ms) {
		t.Errorf("Latency = %+v, want %+v", l, want)
	}
	// Beyond the last bucket a quantile is that bucket's bound.
	for range 96 {
		h.WithLabelValues("a").Observe(60)
	}
	if l := read(t, reg).Latency("lat_seconds"); !near(l.P50Ms, 4000) || !near(l.P99Ms, 4000) {
		t.Errorf("past the buckets: %+v, want p50 and p99 of 4000 ms", l)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
