// Package metrics defines lynkr's Prometheus metrics, with the names of Lynkr's production
// guide so its dashboards and alerts keep working. Each service builds its set on the
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
	// Errors counts requests that ended in an error, by provider and error type
	// (lynkr_errors_total).
	Errors *prometheus.CounterVec
	// Active is the number of requests in flight (lynkr_active_requests).
	Active prometheus.Gauge
	// Shed counts requests refused before queueing, by reason (lynkr_load_shedding_rejected_total).
	Shed *prometheus.CounterVec
}

// NewGateway creates the gateway's metrics and registers them on reg.
func NewGateway(reg prometheus.Registerer) (*Gateway, error) {
	m := &Gateway{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lynkr_requests_total",
			Help: "Requests answered, by provider and HTTP status.",
		}, []string{"provider", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lynkr_request_duration_seconds",
			Help:    "Time from a request's arrival to its last byte.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
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
	}
	for _, c := range []prometheus.Collector{m.Requests, m.Duration, m.Errors, m.Active, m.Shed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
