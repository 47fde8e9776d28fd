package metrics

import "github.com/prometheus/client_golang/prometheus"

// Worker is what a provider worker measures.
type Worker struct {
	// QueueWait is how long a request waited in JetStream before a worker took it
	// (lynkr_queue_wait_seconds).
	QueueWait *prometheus.HistogramVec
	// Upstream is the time of one upstream attempt until its answer began
	// (lynkr_upstream_duration_seconds).
	Upstream *prometheus.HistogramVec
	// UpstreamRequests counts upstream attempts by provider and HTTP status, "error" when no
	// status came back (lynkr_upstream_requests_total).
	UpstreamRequests *prometheus.CounterVec
	// Retries counts upstream attempts after the first (lynkr_retries_total).
	Retries *prometheus.CounterVec
	// Redeliveries counts requests JetStream handed out again, e.g. after a worker died
	// (lynkr_redeliveries_total).
	Redeliveries *prometheus.CounterVec
	// Fallbacks counts requests answered by the fallback provider while the provider's
	// breaker was open (lynkr_fallbacks_total).
	Fallbacks *prometheus.CounterVec
	// Active is the requests this worker runs now (lynkr_worker_active_requests).
	Active *prometheus.GaugeVec
	// Dropped counts the constructs format conversions left out of requests, by client
	// format, upstream format and the policy's name for the construct
	// (lynkr_conversion_dropped_total).
	Dropped *prometheus.CounterVec
}

// NewWorker creates the worker's metrics and registers them on reg.
func NewWorker(reg prometheus.Registerer) (*Worker, error) {
	provider := []string{"provider"}
	m := &Worker{
		QueueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lynkr_queue_wait_seconds",
			Help:    "Time a request waited in JetStream before a worker took it.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, provider),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lynkr_upstream_duration_seconds",
			Help:    "Time of one upstream attempt until its answer began.",
			Buckets: latencyBuckets,
		}, provider),
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_upstream_requests_total",
			Help: "Upstream attempts by provider and HTTP status (\"error\" when none came back).",
		}, []string{"provider", "status"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_retries_total",
			Help: "Upstream attempts after a request's first.",
		}, provider),
		Redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_redeliveries_total",
			Help: "Requests JetStream delivered again because an earlier worker did not finish them.",
		}, provider),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_fallbacks_total",
			Help: "Requests sent to the fallback provider while their provider's breaker was open.",
		}, []string{"provider", "fallback"}),
		Active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lynkr_worker_active_requests",
			Help: "Requests this worker is running.",
		}, provider),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_conversion_dropped_total",
			Help: "Constructs of requests a format conversion left out (and named in X-Lynkr-Dropped), by client format, upstream format and construct.",
		}, []string{"from", "to", "construct"}),
	}
	if err := register(reg, m.QueueWait, m.Upstream, m.UpstreamRequests, m.Retries, m.Redeliveries, m.Fallbacks, m.Active, m.Dropped); err != nil {
		return nil, err
	}
	return m, nil
}

// Serve starts the series of a provider at zero, so that dashboards and rate() see them from
// the worker's start rather than from the first event; fallback, if not empty, is the
// provider's fallback.
func (m *Worker) Serve(provider, fallback string) {
	m.QueueWait.WithLabelValues(provider)
	m.Upstream.WithLabelValues(provider)
	m.Retries.WithLabelValues(provider)
	m.Redeliveries.WithLabelValues(provider)
	m.Active.WithLabelValues(provider)
	if fallback != "" && fallback != provider {
		m.Fallbacks.WithLabelValues(provider, fallback)
	}
}
