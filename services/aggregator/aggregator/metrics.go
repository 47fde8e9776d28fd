package aggregator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lynkr/lynkr/pkg/breaker"
)

// collector turns the cluster view into gauges at every scrape, so the gauges are never
// older than the view and no instance or provider that went away lingers.
type collector struct {
	a                                                   *Aggregator
	instances, breaker, backlog, requestRate, errorRate *prometheus.Desc
	tokenRate, active, shedding                         *prometheus.Desc
}

func newCollector(a *Aggregator) *collector {
	return &collector{
		a: a,
		instances: prometheus.NewDesc("lynkr_cluster_instances",
			"Instances alive, by service, as their heartbeats say.", []string{"service"}, nil),
		breaker: prometheus.NewDesc("lynkr_cluster_circuit_breaker_state",
			"Circuit breaker state of each provider in the shared breaker bucket: 1 for the current state, 0 for the others.",
			[]string{"provider", "state"}, nil),
		backlog: prometheus.NewDesc("lynkr_cluster_backlog",
			"Requests waiting in JetStream for a worker of the provider, or held by one.", []string{"provider"}, nil),
		requestRate: prometheus.NewDesc("lynkr_cluster_request_rate",
			"Requests per second through all gateways, over their last two heartbeats.", nil, nil),
		errorRate: prometheus.NewDesc("lynkr_cluster_error_rate",
			"Failed requests per second through all gateways, over their last two heartbeats.", nil, nil),
		tokenRate: prometheus.NewDesc("lynkr_cluster_token_rate",
			"Tokens per second through all workers, over their last two heartbeats.", []string{"direction"}, nil),
		active: prometheus.NewDesc("lynkr_cluster_active_requests",
			"Requests in flight at all gateways.", nil, nil),
		shedding: prometheus.NewDesc("lynkr_cluster_shedding_instances",
			"Instances currently shedding load.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.instances, c.breaker, c.backlog, c.requestRate, c.errorRate, c.tokenRate, c.active, c.shedding} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	view := c.a.Cluster()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for service, n := range view.Services {
		gauge(c.instances, float64(n), service)
	}
	for _, p := range view.Providers {
		for _, s := range []breaker.State{breaker.StateClosed, breaker.StateHalfOpen, breaker.StateOpen} {
			v := 0.0
			if s.String() == p.Breaker.State {
				v = 1
			}
			gauge(c.breaker, v, p.Name, s.String())
		}
		gauge(c.backlog, float64(p.Backlog), p.Name)
	}
	t := view.Totals
	gauge(c.requestRate, t.RequestRate)
	gauge(c.errorRate, t.ErrorRate)
	gauge(c.tokenRate, t.InputTokenRate, "input")
	gauge(c.tokenRate, t.OutputTokenRate, "output")
	gauge(c.active, float64(t.ActiveRequests))
	gauge(c.shedding, float64(t.SheddingInstances))
}
