package aggregator

import (
	"slices"
	"time"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/heartbeat"
)

// Cluster is the aggregator's picture of the cluster, served as GET /cluster.
type Cluster struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Instances are the instances alive, sorted by service, then instance.
	Instances []InstanceView `json:"instances"`
	// Services counts the instances of each service; gateway, worker and aggregator are
	// always there.
	Services  map[string]int `json:"services"`
	Providers []ProviderView `json:"providers"`
	Totals    Totals         `json:"totals"`
}

// InstanceView is one instance, from its latest heartbeat.
type InstanceView struct {
	Instance  string   `json:"instance"`
	Service   string   `json:"service"`
	Version   string   `json:"version,omitempty"`
	Addr      string   `json:"addr,omitempty"`
	Ready     bool     `json:"ready"`
	Shedding  bool     `json:"shedding"`
	Providers []string `json:"providers"`
	// AgeSeconds is the time since the instance's last heartbeat.
	AgeSeconds     float64   `json:"age_seconds"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	ActiveRequests int64     `json:"active_requests"`
	// Rates per second over the last two heartbeats.
	RequestRate     float64 `json:"request_rate"`
	ErrorRate       float64 `json:"error_rate"`
	InputTokenRate  float64 `json:"input_token_rate"`
	OutputTokenRate float64 `json:"output_token_rate"`
	// Breakers is the breaker state of each provider as this instance sees it.
	Breakers map[string]string `json:"breakers"`
}

// ProviderView is one provider: known from the provider registry, from the heartbeats or
// from the breaker bucket.
type ProviderView struct {
	Name    string      `json:"name"`
	Breaker BreakerView `json:"breaker"`
	// Backlog is the requests waiting in JetStream for a worker of the provider or held by
	// one: the consumer's pending plus ack-pending messages.
	Backlog uint64 `json:"backlog"`
	// Workers counts the worker instances that serve the provider.
	Workers int `json:"workers"`
}

// BreakerView is a provider's entry in the breaker bucket. State is "closed" when there is
// no entry, and "half_open" for an open entry whose Until has passed: that is how gateways
// and workers read it too.
type BreakerView struct {
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	By    string    `json:"by,omitempty"`
}

// Totals sum the instances. Every request passes a gateway and a worker, so request and
// error rates and active requests count the gateways (what clients see), and token rates
// count the workers (who read the upstreams' usage). Aggregators count in neither.
type Totals struct {
	RequestRate       float64 `json:"request_rate"`
	ErrorRate         float64 `json:"error_rate"`
	InputTokenRate    float64 `json:"input_token_rate"`
	OutputTokenRate   float64 `json:"output_token_rate"`
	ActiveRequests    int64   `json:"active_requests"`
	SheddingInstances int     `json:"shedding_instances"`
}

// The services lynkr is made of.
const (
	serviceGateway = "gateway"
	serviceWorker  = "worker"
)

// Cluster is the cluster as the aggregator sees it now.
func (a *Aggregator) Cluster() Cluster {
	now := a.now()
	instances := a.roster.Instances()
	snap := a.state.snapshot(now)
	c := Cluster{
		GeneratedAt: now.UTC(),
		Instances:   make([]InstanceView, 0, len(instances)),
		Services:    map[string]int{serviceGateway: 0, serviceWorker: 0, Service: 0},
		Providers:   []ProviderView{},
	}
	workers := map[string]int{}
	for _, i := range instances {
		hb := i.Heartbeat
		v := InstanceView{
			Instance:        hb.GetInstance(),
			Service:         hb.GetService(),
			Version:         hb.GetVersion(),
			Addr:            hb.GetAddr(),
			Ready:           hb.GetReady(),
			Shedding:        hb.GetShedding(),
			Providers:       slices.Clone(hb.GetProviders()),
			AgeSeconds:      max(now.Sub(i.SeenAt).Seconds(), 0),
			ActiveRequests:  hb.GetActiveRequests(),
			RequestRate:     i.RequestRate,
			ErrorRate:       i.ErrorRate,
			InputTokenRate:  i.InputTokenRate,
			OutputTokenRate: i.OutputTokenRate,
			Breakers:        map[string]string{},
		}
		if v.Providers == nil {
			v.Providers = []string{}
		}
		for p, s := range hb.GetBreakers() {
			v.Breakers[p] = s
		}
		if ns := hb.GetStartedUnixNano(); ns != 0 {
			v.StartedAt = time.Unix(0, ns).UTC()
		}
		c.Instances = append(c.Instances, v)
		c.Services[v.Service]++
		if v.Shedding {
			c.Totals.SheddingInstances++
		}
		switch v.Service {
		case serviceGateway:
			c.Totals.RequestRate += v.RequestRate
			c.Totals.ErrorRate += v.ErrorRate
			c.Totals.ActiveRequests += v.ActiveRequests
		case serviceWorker:
			c.Totals.InputTokenRate += v.InputTokenRate
			c.Totals.OutputTokenRate += v.OutputTokenRate
			for _, p := range v.Providers {
				workers[p]++
			}
		}
	}
	for _, name := range providerNames(snap, instances) {
		c.Providers = append(c.Providers, ProviderView{
			Name:    name,
			Breaker: breakerView(snap.breakers[name], now),
			Backlog: snap.backlog[name],
			Workers: workers[name],
		})
	}
	return c
}

func breakerView(e breaker.Entry, now time.Time) BreakerView {
	if e.Provider == "" {
		return BreakerView{State: breaker.StateClosed.String()}
	}
	state := e.State
	if state == breaker.StateOpen && !e.OpenAt(now) {
		state = breaker.StateHalfOpen
	}
	return BreakerView{State: state.String(), Since: e.Since.UTC(), Until: e.Until.UTC(), By: e.By}
}

// providerNames are the providers the aggregator knows of, sorted: those announced in the
// registry, served by a worker, backlogged at a gateway or with a breaker entry.
func providerNames(snap snapshot, instances []heartbeat.Instance) []string {
	names := slices.Clone(snap.providers)
	for p := range snap.breakers {
		names = append(names, p)
	}
	for _, i := range instances {
		names = append(names, i.Heartbeat.GetProviders()...)
		for p := range i.Heartbeat.GetBacklog() {
			names = append(names, p)
		}
		for p := range i.Heartbeat.GetBreakers() {
			names = append(names, p)
		}
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !bus.ValidToken(n) })
	slices.Sort(names)
	return slices.Compact(names)
}

// providerNames lists the providers whose backlog the aggregator polls.
func (a *Aggregator) providerNames(snap snapshot) []string {
	return providerNames(snap, a.roster.Instances())
}
