// Package metrics defines lynkr's Prometheus metrics, with the names of Lynkr's production
// guide so its dashboards and alerts keep working, plus what the bus adds (queue wait,
// backlog, redeliveries, time to first token, retries). Each service builds its set on the
// registry it is given; nothing registers globally.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Gateway is what a gateway instance measures.
type Gateway struct {
	// Requests counts answered requests by provider and HTTP status (lynkr_requests_total).
	Requests *prometheus.CounterVec
	// Duration is the time from arrival to the last byte (lynkr_request_duration_seconds).
	Duration *prometheus.HistogramVec
	// FirstToken is the time from arrival to the first byte of a streamed answer
	// (lynkr_time_to_first_token_seconds).
	FirstToken *prometheus.HistogramVec
	// Errors counts requests that ended in an error, by provider and error type
	// (lynkr_errors_total).
	Errors *prometheus.CounterVec
	// Active is the number of requests in flight (lynkr_active_requests).
	Active prometheus.Gauge
	// Shed counts requests refused before queueing, by reason (lynkr_load_shedding_rejected_total).
	Shed *prometheus.CounterVec
	// Tokens count what answered requests consumed, by the provider that answered
	// (lynkr_tokens_input_total, lynkr_tokens_output_total, lynkr_tokens_cached_total).
	TokensInput, TokensOutput, TokensCached *prometheus.CounterVec
	// CacheHits and CacheMisses count answers served from, or missing in, the response cache
	// (lynkr_cache_hits_total, lynkr_cache_misses_total).
	CacheHits, CacheMisses prometheus.Counter
	// LoopGuard counts conversations the loop guard refused, by reason
	// (lynkr_loop_guard_refused_total).
	LoopGuard *prometheus.CounterVec
	// TenantRefused counts requests refused for who made them: "auth" (no or a wrong key),
	// "rate_limit", "budget", "store_unavailable" (lynkr_tenant_refused_total).
	TenantRefused *prometheus.CounterVec
	// TenantStoreErrors counts checks (a key, a limit, a budget) decided without the tenant
	// store because it failed, by whether the request went on (lynkr_tenant_store_errors_total).
	TenantStoreErrors *prometheus.CounterVec
	// Charged counts requests whose usage this gateway charged to their tenant
	// (lynkr_spend_charged_requests_total).
	Charged prometheus.Counter
}

// TenantRefusals are the reasons lynkr_tenant_refused_total counts.
var TenantRefusals = []string{"auth", "rate_limit", "budget", "store_unavailable"}

// GatewayState is what a gateway knows of the cluster at the moment of a scrape.
type GatewayState interface {
	// Breakers is each known provider's breaker state: "closed", "open" or "half_open".
	Breakers() map[string]string
	// Backlog is each provider's requests waiting for a worker.
	Backlog() map[string]uint64
	// Shedding reports whether this instance refuses new requests now.
	Shedding() bool
}

// ShedReasons are the values of the reason label of lynkr_load_shedding_rejected_total:
// this process's signals, the provider's backlog, and the cluster limiter's refusals.
var ShedReasons = []string{"memory", "heap", "active_requests", "backlog", "limiter_in_flight", "limiter_rate", "limiter_unavailable"}

// BreakerStates are the values of the state label of lynkr_circuit_breaker_state.
var BreakerStates = []string{"closed", "open", "half_open"}

// latencyBuckets span a cached answer to a long generation.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewGateway creates the gateway's metrics and registers them on reg, with state read at
// every scrape.
func NewGateway(reg prometheus.Registerer, state GatewayState) (*Gateway, error) {
	tokens := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"provider"})
	}
	m := &Gateway{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_requests_total",
			Help: "Requests answered, by provider and HTTP status.",
		}, []string{"provider", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lynkr_request_duration_seconds",
			Help:    "Time from a request's arrival to its last byte.",
			Buckets: latencyBuckets,
		}, []string{"provider"}),
		FirstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lynkr_time_to_first_token_seconds",
			Help:    "Time from a streamed request's arrival to the first answer bytes sent to the client.",
			Buckets: latencyBuckets,
		}, []string{"provider"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_errors_total",
			Help: "Requests that ended in an error, by provider and error type.",
		}, []string{"provider", "type"}),
		Active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lynkr_active_requests",
			Help: "Requests in flight at this gateway.",
		}),
		Shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_load_shedding_rejected_total",
			Help: "Requests refused with 503 before they were queued, by reason.",
		}, []string{"reason"}),
		TokensInput:  tokens("lynkr_tokens_input_total", "Input tokens of answered requests, cached ones included, by the provider that answered."),
		TokensOutput: tokens("lynkr_tokens_output_total", "Output tokens of answered requests, by the provider that answered."),
		TokensCached: tokens("lynkr_tokens_cached_total", "Input tokens read from the provider's prompt cache."),
		CacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lynkr_cache_hits_total",
			Help: "Requests answered from lynkr's response cache.",
		}),
		CacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lynkr_cache_misses_total",
			Help: "Cacheable requests the response cache did not hold.",
		}),
		LoopGuard: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_loop_guard_refused_total",
			Help: "Conversations refused as a runaway agent loop, by the limit they passed.",
		}, []string{"reason"}),
		TenantRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_tenant_refused_total",
			Help: "Requests refused for their tenant: a missing or wrong key, a rate limit, a budget, or an unreachable tenant store.",
		}, []string{"reason"}),
		TenantStoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_tenant_store_errors_total",
			Help: "Checks of a key, limit or budget decided without the tenant store (Redis) because it failed, by whether the request went on (TENANT_FAIL_OPEN).",
		}, []string{"admitted"}),
		Charged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lynkr_spend_charged_requests_total",
			Help: "Requests whose usage this gateway charged to their tenant's spend (each request once).",
		}),
	}
	for _, reason := range ShedReasons {
		m.Shed.WithLabelValues(reason)
	}
	for _, reason := range TenantRefusals {
		m.TenantRefused.WithLabelValues(reason)
	}
	m.TenantStoreErrors.WithLabelValues("true")
	m.TenantStoreErrors.WithLabelValues("false")
	cs := []prometheus.Collector{m.Requests, m.Duration, m.FirstToken, m.Errors, m.Active, m.Shed,
		m.TokensInput, m.TokensOutput, m.TokensCached, m.CacheHits, m.CacheMisses, m.LoopGuard,
		m.TenantRefused, m.TenantStoreErrors, m.Charged, newGatewayCollector(state)}
	if err := register(reg, cs...); err != nil {
		return nil, err
	}
	return m, nil
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// gatewayCollector reads the cluster state a gateway holds when Prometheus scrapes.
type gatewayCollector struct {
	state                      GatewayState
	breaker, backlog, shedding *prometheus.Desc
}

func newGatewayCollector(state GatewayState) *gatewayCollector {
	return &gatewayCollector{
		state: state,
		breaker: prometheus.NewDesc("lynkr_circuit_breaker_state",
			"Circuit breaker state of each provider as the cluster reports it: 1 for the current state.",
			[]string{"provider", "state"}, nil),
		backlog: prometheus.NewDesc("lynkr_jetstream_backlog",
			"Requests waiting in JetStream for a worker of the provider.", []string{"provider"}, nil),
		shedding: prometheus.NewDesc("lynkr_load_shedding_active",
			"1 while this instance refuses new requests to shed load.", nil, nil),
	}
}

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.breaker
	ch <- c.backlog
	ch <- c.shedding
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	CollectBreakers(ch, c.breaker, c.state.Breakers())
	for p, n := range c.state.Backlog() {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(n), p)
	}
	shedding := 0.0
	if c.state.Shedding() {
		shedding = 1
	}
	ch <- prometheus.MustNewConstMetric(c.shedding, prometheus.GaugeValue, shedding)
}

// CollectBreakers sends one sample per provider and breaker state of desc (labels provider,
// state): 1 for the provider's current state, 0 for the others.
func CollectBreakers(ch chan<- prometheus.Metric, desc *prometheus.Desc, states map[string]string) {
	for p, cur := range states {
		for _, s := range BreakerStates {
			v := 0.0
			if s == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, p, s)
		}
	}
}
