package gateway

import (
	"net/http"
	"runtime"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/limiter"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/shed"
)

// clusterState is what the gateway's metrics read at each scrape (metrics.GatewayState).
type clusterState struct{ g *Gateway }

// Breakers is every provider's breaker state: the providers workers serve are closed unless
// the shared board says otherwise.
func (s clusterState) Breakers() map[string]string {
	out := map[string]string{}
	for _, p := range s.g.registry.All() {
		out[p.Name] = breaker.StateClosed.String()
	}
	for p, st := range s.g.board.States() {
		out[p] = st.String()
	}
	return out
}

// Backlog is every provider's requests waiting for a worker, 0 for the providers the monitor
// has not sampled yet.
func (s clusterState) Backlog() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range s.g.registry.All() {
		out[p.Name] = 0
	}
	for p, n := range s.g.backlog.All() {
		out[p] = n
	}
	return out
}

func (s clusterState) Shedding() bool { return s.g.shed.Check() != nil }

// breakerView is one provider's entry of /metrics/circuit-breakers.
type breakerView struct {
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	By    string    `json:"by,omitempty"`
}

func (g *Gateway) breakerViews() map[string]breakerView {
	out := map[string]breakerView{}
	for _, p := range g.registry.All() {
		out[p.Name] = breakerView{State: breaker.StateClosed.String()}
	}
	now := time.Now()
	for p, e := range g.board.Entries() {
		out[p] = breakerView{State: e.StateAt(now).String(), Since: e.Since, Until: e.Until, By: e.By}
	}
	return out
}

// circuitBreakers answers GET /metrics/circuit-breakers: each provider's breaker as the
// cluster's workers report it.
func (g *Gateway) circuitBreakers(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"timestamp": time.Now().UTC(), "providers": g.breakerViews()})
}

// loadShedding answers GET /metrics/load-shedding: this instance's signals and thresholds, the
// backlog per provider, and the cluster limiter's decisions.
func (g *Gateway) loadShedding(c echo.Context) error {
	view := struct {
		shed.Snapshot
		Backlog          map[string]uint64 `json:"backlog"`
		BacklogThreshold uint64            `json:"backlog_threshold"`
		Limiter          limiter.Stats     `json:"limiter"`
	}{Snapshot: g.shed.Snapshot(), Backlog: g.backlog.All(), BacklogThreshold: g.cfg.BacklogThreshold}
	if st, ok := g.limiter.(interface{ Stats() limiter.Stats }); ok {
		view.Limiter = st.Stats()
	}
	return c.JSON(http.StatusOK, view)
}

// observability is the JSON of GET /metrics/observability.
type observability struct {
	Timestamp     time.Time `json:"timestamp"`
	Instance      string    `json:"instance"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Requests      struct {
		Total      float64            `json:"total"`
		Active     int64              `json:"active"`
		ByProvider map[string]float64 `json:"by_provider"`
		ByStatus   map[string]float64 `json:"by_status"`
	} `json:"requests"`
	Errors struct {
		Total  float64            `json:"total"`
		ByType map[string]float64 `json:"by_type"`
		Rate   float64            `json:"rate"`
	} `json:"errors"`
	Latency          metrics.Latency `json:"latency"`
	TimeToFirstToken metrics.Latency `json:"time_to_first_token"`
	Tokens           struct {
		Input      float64            `json:"input"`
		Output     float64            `json:"output"`
		Cached     float64            `json:"cached"`
		ByProvider map[string]float64 `json:"output_by_provider"`
	} `json:"tokens"`
	Cache struct {
		Hits    float64 `json:"hits"`
		Misses  float64 `json:"misses"`
		HitRate float64 `json:"hit_rate"`
	} `json:"cache"`
	LoadShedding struct {
		Overloaded bool               `json:"overloaded"`
		Rejected   map[string]float64 `json:"rejected"`
	} `json:"load_shedding"`
	CircuitBreakers map[string]breakerView `json:"circuit_breakers"`
	Backlog         map[string]uint64      `json:"backlog"`
	System          struct {
		RSSBytes       float64 `json:"rss_bytes"`
		HeapAllocBytes uint64  `json:"heap_alloc_bytes"`
		HeapSysBytes   uint64  `json:"heap_sys_bytes"`
		Goroutines     int     `json:"goroutines"`
		GCCycles       uint32  `json:"gc_cycles"`
		MemoryRatio    float64 `json:"memory_used_ratio"`
	} `json:"system"`
}

// observabilityView answers GET /metrics/observability: Lynkr's one-page summary of this
// instance, read from the same registry /metrics serves.
func (g *Gateway) observabilityView(c echo.Context) error {
	v, err := metrics.Read(g.promReg)
	if err != nil {
		return err
	}
	var o observability
	o.Timestamp, o.Instance = time.Now().UTC(), g.cfg.Instance
	o.UptimeSeconds = time.Since(g.started).Seconds()
	o.Requests.Total = v.Sum("lynkr_requests_total")
	o.Requests.Active = g.inFlight.Load()
	o.Requests.ByProvider = v.SumBy("lynkr_requests_total", "provider")
	o.Requests.ByStatus = v.SumBy("lynkr_requests_total", "status")
	o.Errors.Total = v.Sum("lynkr_errors_total")
	o.Errors.ByType = v.SumBy("lynkr_errors_total", "type")
	if o.Requests.Total > 0 {
		o.Errors.Rate = o.Errors.Total / o.Requests.Total
	}
	o.Latency = v.Latency("lynkr_request_duration_seconds")
	o.TimeToFirstToken = v.Latency("lynkr_time_to_first_token_seconds")
	o.Tokens.Input = v.Sum("lynkr_tokens_input_total")
	o.Tokens.Output = v.Sum("lynkr_tokens_output_total")
	o.Tokens.Cached = v.Sum("lynkr_tokens_cached_total")
	o.Tokens.ByProvider = v.SumBy("lynkr_tokens_output_total", "provider")
	o.Cache.Hits, o.Cache.Misses = v.Sum("lynkr_cache_hits_total"), v.Sum("lynkr_cache_misses_total")
	if n := o.Cache.Hits + o.Cache.Misses; n > 0 {
		o.Cache.HitRate = o.Cache.Hits / n
	}
	o.LoadShedding.Overloaded = g.shed.Check() != nil
	o.LoadShedding.Rejected = v.SumBy("lynkr_load_shedding_rejected_total", "reason")
	o.CircuitBreakers = g.breakerViews()
	o.Backlog = g.backlog.All()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	snap := g.shed.Snapshot()
	o.System.RSSBytes = v.Sum("process_resident_memory_bytes")
	o.System.HeapAllocBytes, o.System.HeapSysBytes = ms.HeapAlloc, ms.HeapSys
	o.System.Goroutines, o.System.GCCycles = runtime.NumGoroutine(), ms.NumGC
	o.System.MemoryRatio = snap.Memory.Ratio
	return c.JSON(http.StatusOK, o)
}
