package worker

import (
	"github.com/lynkr/lynkr/proto/busv1"
)

// heartbeat is what this worker tells the cluster every HEARTBEAT_INTERVAL: that it is up,
// the providers it serves with its own breakers' states, and what it has answered.
func (w *Worker) heartbeat() *busv1.Heartbeat {
	hb := &busv1.Heartbeat{
		Instance:          w.cfg.Instance,
		Service:           "worker",
		StartedUnixNano:   w.started.UnixNano(),
		Ready:             !w.stopping.Load() && w.nc.IsConnected() && w.keeper.Ready(),
		Providers:         w.ps.Names(),
		RequestsTotal:     w.answered.Load(),
		ErrorsTotal:       w.failed.Load(),
		InputTokensTotal:  w.tokensIn.Load(),
		OutputTokensTotal: w.tokensOut.Load(),
		ActiveRequests:    w.active.Load(),
		Breakers:          map[string]string{},
	}
	if addr := w.addr.Load(); addr != nil {
		hb.Addr = *addr
	}
	for _, name := range w.ps.Names() {
		hb.Breakers[name] = w.breakers.State(name).String()
	}
	return hb
}
