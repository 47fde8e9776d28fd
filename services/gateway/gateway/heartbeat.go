package gateway

import (
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/heartbeat"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/proto/busv1"
)

// heartbeat is what this gateway tells the cluster every HEARTBEAT_INTERVAL: that it is up,
// how much it serves, and the breakers and backlog it sees. The aggregator builds the
// cluster view from these.
func (g *Gateway) heartbeat() *busv1.Heartbeat {
	hb := &busv1.Heartbeat{
		Instance:        g.cfg.Instance,
		Service:         "gateway",
		StartedUnixNano: g.started.UnixNano(),
		Ready:           !g.stopping.Load() && g.nc.IsConnected() && g.busState() == "",
		Shedding:        g.shed.Check() != nil,
		ActiveRequests:  g.inFlight.Load(),
		Breakers:        clusterState{g}.Breakers(),
		Backlog:         g.backlog.All(),
	}
	hb.Addr = heartbeat.Advertise(g.Addr())
	if v, err := metrics.Read(g.promReg); err == nil {
		hb.RequestsTotal = uint64(v.Sum("lynkr_requests_total"))
		hb.ErrorsTotal = uint64(v.Sum("lynkr_errors_total"))
		hb.InputTokensTotal = uint64(v.Sum("lynkr_tokens_input_total"))
		hb.OutputTokensTotal = uint64(v.Sum("lynkr_tokens_output_total"))
	}
	for _, p := range g.registry.All() {
		if bus.ValidToken(p.Name) {
			hb.Providers = append(hb.Providers, p.Name)
		}
	}
	return hb
}
