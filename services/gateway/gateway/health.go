package gateway

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
)

type liveness struct {
	Status    string `json:"status"`
	Provider  string `json:"provider"`
	Timestamp string `json:"timestamp"`
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// live answers GET /health/live: the process serves HTTP.
func (g *Gateway) live(c echo.Context) error {
	return c.JSON(http.StatusOK, liveness{Status: "ok", Provider: g.cfg.DefaultProvider, Timestamp: time.Now().UTC().Format(time.RFC3339Nano)})
}

// readiness answers GET /health/ready: the bus is connected and the default provider has a
// worker.
func (g *Gateway) readiness(c echo.Context) error {
	checks := map[string]string{"nats": "ok", "provider": "ok"}
	ready := true
	if g.nc.Status() != nats.CONNECTED {
		checks["nats"], ready = g.nc.Status().String(), false
	}
	if _, ok := g.registry.Get(g.cfg.DefaultProvider); !ok {
		checks["provider"], ready = "no worker serves "+g.cfg.DefaultProvider, false
	}
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, readiness{Status: "not ready", Checks: checks})
	}
	return c.JSON(http.StatusOK, readiness{Status: "ready", Checks: checks})
}
