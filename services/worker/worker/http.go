package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lynkr/lynkr/pkg/heartbeat"
)

// serve answers the worker's operational endpoints on cfg.Addr: /metrics,
// /metrics/circuit-breakers, /health/live and /health/ready. When ctx ends readiness fails at
// once, and the endpoints stay up until drained is closed (the requests in flight are done).
func (w *Worker) serve(ctx context.Context, drained <-chan struct{}) error {
	ln, err := net.Listen("tcp", w.cfg.Addr)
	if err != nil {
		return fmt.Errorf("worker: listen on %s: %w", w.cfg.Addr, err)
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(w.log.Handler(), slog.LevelWarn)}
	addr := heartbeat.Advertise(ln.Addr())
	w.addr.Store(&addr)
	w.log.Info("worker serving metrics and health", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("worker: %w", err)
	case <-ctx.Done():
	}
	w.stopping.Store(true)
	select {
	case <-drained:
	case err := <-errc:
		return fmt.Errorf("worker: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = srv.Close()
	}
	return nil
}

// Handler serves the worker's operational endpoints.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]any{"status": "ok", "instance": w.cfg.Instance,
			"providers": w.ps.Names(), "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("GET /health/ready", w.readiness)
	mux.HandleFunc("GET /metrics/circuit-breakers", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]any{"timestamp": time.Now().UTC(), "providers": w.breakerStates()})
	})
	if w.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(w.gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

// breakerStates is each provider's breaker as this worker's own breaker has it.
func (w *Worker) breakerStates() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, name := range w.ps.Names() {
		out[name] = map[string]string{"state": w.breakers.State(name).String()}
	}
	return out
}

// readiness is ready while the worker is connected, announced and not shutting down; with
// ?deep=true it adds each provider's breaker, reported without failing readiness (a worker
// whose provider is down still hands its requests to the fallback and fails fast).
func (w *Worker) readiness(rw http.ResponseWriter, r *http.Request) {
	checks := map[string]any{"nats": "ok", "providers": "ok"}
	ready := true
	if w.stopping.Load() {
		checks["shutdown"], ready = "shutting down", false
	}
	if st := w.nc.Status(); st != nats.CONNECTED {
		checks["nats"], ready = st.String(), false
	} else if !w.keeper.Ready() {
		checks["nats"], ready = "re-creating the bus's streams and consumers", false
	}
	select {
	case <-w.announced:
	default:
		checks["providers"], ready = "not announced yet", false
	}
	if r.URL.Query().Get("deep") == "true" {
		checks["circuit_breakers"] = w.breakerStates()
	}
	status, word := http.StatusOK, "ready"
	if !ready {
		status, word = http.StatusServiceUnavailable, "not ready"
	}
	writeJSON(rw, status, map[string]any{"status": word, "checks": checks})
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}
