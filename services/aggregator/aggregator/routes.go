package aggregator

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
)

// dashboardPage is the page of /cluster/dashboard: one file, no external assets.
//
//go:embed dashboard.html
var dashboardPage string

// dashboardPolicy lets the page run its own inline script and style and fetch /cluster,
// nothing else.
const dashboardPolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (a *Aggregator) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(a.count)
	e.GET("/cluster", a.cluster)
	e.GET("/cluster/dashboard", a.dashboard)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(a.promReg, promhttp.HandlerOpts{Registry: a.promReg})))
	e.GET("/health/live", a.live)
	e.GET("/health/ready", a.readiness)
	return e
}

// count keeps the HTTP counters of the aggregator's own heartbeat.
func (a *Aggregator) count(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a.http.requests.Add(1)
		a.http.active.Add(1)
		defer a.http.active.Add(-1)
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if c.Response().Status >= http.StatusInternalServerError {
			a.http.errors.Add(1)
		}
		return nil
	}
}

// cluster answers GET /cluster.
func (a *Aggregator) cluster(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, a.Cluster())
}

// dashboard answers GET /cluster/dashboard.
func (a *Aggregator) dashboard(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set(echo.HeaderContentSecurityPolicy, dashboardPolicy)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.HTML(http.StatusOK, dashboardPage)
}

// health is the body of the health checks.
type health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// live answers GET /health/live: the process serves HTTP.
func (a *Aggregator) live(c echo.Context) error {
	return c.JSON(http.StatusOK, health{Status: "ok", Checks: map[string]string{"http": "ok"}})
}

// readiness answers GET /health/ready: NATS is connected and the aggregator is not shutting
// down. The bucket checks say whether breaker states and providers are being read yet; they
// inform, and do not decide readiness, since the buckets appear only when a gateway or
// worker has started.
func (a *Aggregator) readiness(c echo.Context) error {
	checks := map[string]string{"nats": "ok", "shutdown": "ok", "breakers": "ok", "providers": "ok"}
	ready := true
	if s := a.nc.Status(); s != nats.CONNECTED {
		checks["nats"], ready = s.String(), false
	}
	if a.stopping.Load() {
		checks["shutdown"], ready = "shutting down", false
	}
	a.state.mu.Lock()
	if !a.state.watching[breaker.Bucket] {
		checks["breakers"] = "waiting for bucket " + breaker.Bucket
	}
	if !a.state.watching[bus.ProviderBucket] {
		checks["providers"] = "waiting for bucket " + bus.ProviderBucket
	}
	a.state.mu.Unlock()
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, health{Status: "not ready", Checks: checks})
	}
	return c.JSON(http.StatusOK, health{Status: "ready", Checks: checks})
}
