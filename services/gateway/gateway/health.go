package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/lynkr/lynkr/pkg/limiter"
)

type liveness struct {
	Status    string `json:"status"`
	Provider  string `json:"provider"`
	Timestamp string `json:"timestamp"`
}

// readiness is the JSON of /health/ready, in the shape of Lynkr's guide: checks hold "ok" or
// what is wrong, and with ?deep=true also memory and breaker objects.
type readiness struct {
	Status string         `json:"status"`
	Checks map[string]any `json:"checks"`
}

type memoryCheck struct {
	Used   string `json:"used"`
	Status string `json:"status"`
}

type breakerCheck struct {
	State  string `json:"state"`
	Status string `json:"status"`
}

// live answers GET /health/live: the process serves HTTP.
func (g *Gateway) live(c echo.Context) error {
	return c.JSON(http.StatusOK, liveness{Status: "ok", Provider: g.cfg.DefaultProvider, Timestamp: time.Now().UTC().Format(time.RFC3339Nano)})
}

// readiness answers GET /health/ready: not shutting down, the bus connected, Redis answering
// when the limiter uses it and fails closed (failing open, the gateway serves without Redis,
// and taking every gateway out of the load balancer at once would turn a Redis blip into an
// outage), and a worker serving the default provider. ?deep=true adds memory,
// which fails readiness while past its shedding threshold, and the breakers, which are
// reported but do not: with a provider down this gateway still answers (fast 503s, or the
// fallback provider), and taking every gateway out of a load balancer would not help.
func (g *Gateway) readiness(c echo.Context) error {
	checks := map[string]any{"nats": "ok", "provider": "ok"}
	ready := true
	fail := func(name, why string) { checks[name], ready = why, false }
	if g.stopping.Load() {
		fail("shutdown", "shutting down")
	}
	if st := g.nc.Status(); st != nats.CONNECTED {
		fail("nats", st.String())
	} else if why := g.busState(); why != "" {
		fail("nats", why)
	}
	if p, ok := g.limiter.(limiter.Pinger); ok {
		ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
		err := p.Ping(ctx)
		cancel()
		checks["redis"] = "ok"
		switch {
		case err != nil && !g.cfg.Limiter.FailOpen:
			fail("redis", err.Error()) // the limiter refuses every request without Redis
		case err != nil:
			checks["redis"] = "unreachable; the limiter admits without it (LIMITER_FAIL_OPEN): " + err.Error()
		}
	}
	if _, ok := g.registry.Get(g.cfg.DefaultProvider); !ok {
		fail("provider", "no worker serves "+g.cfg.DefaultProvider)
	}
	if c.QueryParam("deep") == "true" {
		snap := g.shed.Snapshot()
		mem := memoryCheck{Used: fmt.Sprintf("%.1f%%", snap.Memory.Ratio*100), Status: "ok"}
		if snap.Memory.Threshold > 0 && snap.Memory.Ratio >= snap.Memory.Threshold {
			mem.Status = "overloaded"
			ready = false
		}
		checks["memory"] = mem
		breakers := map[string]breakerCheck{}
		for p, b := range g.breakerViews() {
			bc := breakerCheck{State: b.State, Status: "ok"}
			if b.State == "open" {
				bc.Status = "open"
			}
			breakers[p] = bc
		}
		def, ok := breakers[g.cfg.DefaultProvider]
		if !ok {
			def = breakerCheck{State: "closed", Status: "ok"}
		}
		checks["circuit_breaker"] = def
		checks["circuit_breakers"] = breakers
	}
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, readiness{Status: "not ready", Checks: checks})
	}
	return c.JSON(http.StatusOK, readiness{Status: "ready", Checks: checks})
}

// busState says what is missing for the gateway to use the bus, or "" when nothing is: its
// streams and buckets (being re-created after the server lost them), or a watch of a bucket
// (being started again).
func (g *Gateway) busState() string {
	switch {
	case !g.keeper.Ready():
		return "re-creating the bus's streams and buckets"
	case !g.registry.Following():
		return "re-reading the provider registry"
	case !g.board.Following():
		return "re-reading the circuit breaker board"
	}
	return ""
}
