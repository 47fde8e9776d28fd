// Package app composes lynkr's services into one process: the embedded NATS server and any
// of the gateway and the worker, each through its public constructor, under one lifecycle.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/gcpolicy"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/pkg/telemetry"
	"github.com/lynkr/lynkr/services/aggregator/aggregator"
	"github.com/lynkr/lynkr/services/gateway/gateway"
	"github.com/lynkr/lynkr/services/worker/worker"
)

// Targets are the parts the all-in-one can run.
var Targets = []string{"gateway", "worker", "aggregator"}

// Main runs the targets named by -target (default "all") until ctx ends. Without NATS_URL it
// starts an embedded NATS server with JetStream in LYNKR_DATA_DIR.
func Main(ctx context.Context, args []string, lookup config.Lookup, stderr io.Writer) error {
	fs := flag.NewFlagSet("lynkr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "all", "parts to run: all, or a comma-separated list of "+strings.Join(Targets, ", "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets, err := parseTargets(*target)
	if err != nil {
		return err
	}
	log, logFile, err := logging.FromEnv(lookup, stderr)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log.Info("garbage collector", gcpolicy.Apply(lookup, shed.MemoryLimit).LogArgs()...)
	a, err := New(ctx, Config{Targets: targets, Lookup: lookup}, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func parseTargets(s string) ([]string, error) {
	if s == "all" || s == "" {
		return Targets, nil
	}
	var out []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(Targets, t) {
			return nil, fmt.Errorf("-target %q: want all or a list of %s", s, strings.Join(Targets, ", "))
		}
		out = append(out, t)
	}
	return out, nil
}

// Config chooses what the process runs.
type Config struct {
	Targets []string
	Lookup  config.Lookup
	// Tracer, if set, is used instead of the one the OTEL_* variables describe (tests pass
	// one that records in memory).
	Tracer trace.TracerProvider
	// Metrics, if set, is the registry every part registers on and /metrics serves.
	Metrics *prometheus.Registry
}

// App is the running process.
type App struct {
	log     *slog.Logger
	nats    *server.Server // nil when NATS_URL names an external server
	gateway *gateway.Gateway
	worker  *worker.Worker
	agg     *aggregator.Aggregator
	nc      *nats.Conn // shared by the parts: see connect
	closers []func()
	gwDone  chan struct{} // closed when the gateway has stopped
}

// New starts the embedded server if there is no NATS_URL and builds the targets.
func New(ctx context.Context, cfg Config, log *slog.Logger) (a *App, err error) {
	a = &App{log: log, gwDone: make(chan struct{})}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	e := config.NewEnv(cfg.Lookup)
	natsURL := e.String("NATS_URL", "")
	dataDir := e.String("LYNKR_DATA_DIR", defaultDataDir())
	listen := e.String("NATS_LISTEN", "")
	pprofAddr := e.String("PPROF_ADDR", "")
	if err := e.Err(); err != nil {
		return nil, err
	}
	if pprofAddr != "" {
		// Go's profiler, for an operator chasing CPU or memory; off unless asked for.
		srv := &http.Server{Addr: pprofAddr, Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		a.closers = append(a.closers, func() { _ = srv.Close() })
	}
	tp := cfg.Tracer
	if tp == nil {
		tcfg, err := telemetry.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return nil, err
		}
		var shutdown func(context.Context) error
		if tp, shutdown, err = telemetry.NewTracerProvider(ctx, tcfg, "lynkr"); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { telemetry.Flush(shutdown) })
	}
	// One registry for the whole process: the gateway serves it on /metrics.
	reg := cfg.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	if natsURL == "" {
		s, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: filepath.Join(dataDir, "jetstream"), Listen: listen})
		if err != nil {
			return nil, err
		}
		a.nats = s
		a.closers = append(a.closers, func() { s.Shutdown(); s.WaitForShutdown() })
		log.Info("embedded NATS server with JetStream started", "store", filepath.Join(dataDir, "jetstream"), "listen", listen)
	}
	if slices.Contains(cfg.Targets, "worker") {
		wcfg, err := worker.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return nil, err
		}
		if slices.Contains(cfg.Targets, "gateway") {
			wcfg.Addr = "" // the gateway serves this process's /metrics and health
		}
		wcfg.Streams.MemoryRequests = a.nats != nil
		ps, err := provider.Load(cfg.Lookup)
		if err != nil {
			return nil, err
		}
		p, _ := ps.Get(ps.Default())
		log.Info(fmt.Sprintf("requests go to the %v", p), "provider", ps.Default(), "providers", ps.Names())
		nc, err := a.connect(natsURL, cfg.Targets)
		if err != nil {
			return nil, err
		}
		hc := &http.Client{Transport: telemetry.Transport(provider.NewTransport(cfg.Lookup), tp)}
		if a.worker, err = worker.New(ctx, wcfg, worker.Deps{NATS: nc, Logger: log, Providers: ps, HTTP: hc, Metrics: reg, Tracer: tp}); err != nil {
			return nil, err
		}
	}
	var handlers map[string]http.Handler
	if slices.Contains(cfg.Targets, "aggregator") {
		acfg, err := aggregator.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return nil, err
		}
		if slices.Contains(cfg.Targets, "gateway") {
			// The gateway serves the cluster view on its own port, beside its metrics.
			acfg.Addr = ""
		}
		nc, err := a.connect(natsURL, cfg.Targets)
		if err != nil {
			return nil, err
		}
		if a.agg, err = aggregator.New(ctx, acfg, aggregator.Deps{NATS: nc, Logger: log, Metrics: reg}); err != nil {
			return nil, err
		}
		h := a.agg.Handler()
		handlers = map[string]http.Handler{"/cluster": h, "/cluster/*": h}
	}
	if slices.Contains(cfg.Targets, "gateway") {
		gcfg, err := gateway.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return nil, err
		}
		gcfg.Streams.MemoryRequests = a.nats != nil
		if gcfg.Tenancy.StorePath == "" {
			gcfg.Tenancy.StorePath = filepath.Join(dataDir, "tenants.db")
		}
		nc, err := a.connect(natsURL, cfg.Targets)
		if err != nil {
			return nil, err
		}
		if a.gateway, err = gateway.New(ctx, gcfg, gateway.Deps{NATS: nc, Logger: log, Metrics: reg, Tracer: tp, Handlers: handlers}); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Gateway is the gateway part, when it runs.
func (a *App) Gateway() *gateway.Gateway { return a.gateway }

// Run runs every part until ctx ends or one fails, then stops them in order: the gateway
// first, so the requests it drains still find a worker, then the worker. The worker
// announces its providers before the gateway takes its first request.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	workerCtx, stopWorker := gctx, context.CancelFunc(func() {})
	if a.gateway != nil {
		workerCtx, stopWorker = context.WithCancel(context.WithoutCancel(ctx))
		go func() { <-gctx.Done(); <-a.gwDone; stopWorker() }()
	}
	if a.worker != nil {
		g.Go(func() error { return a.worker.Run(workerCtx) })
	}
	if a.agg != nil {
		g.Go(func() error { return a.agg.Run(gctx) })
	}
	if a.gateway != nil {
		g.Go(func() error {
			defer close(a.gwDone)
			if a.worker != nil {
				select {
				case <-a.worker.Announced():
				case <-gctx.Done():
					a.gateway.Close() // it never ran: release what New took
					return nil
				}
			}
			return a.gateway.Run(gctx)
		})
	}
	err := g.Wait()
	stopWorker()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// connect opens the process's NATS connection the first time a part asks for one, named for
// the parts it carries and the host, and hands the same connection to the others. One
// connection carries the bus traffic of every part: the gateway's publishes and the worker's
// deliveries and answers share its write buffer and its reader, so one write and one read
// carry several messages. Measured with the gateway and the worker on one core: 87 µs of CPU
// a request with a connection each, 72 µs sharing one; on two cores, a connection each gave
// 0.177 of direct throughput against 0.184. The parts use it as their own; none closes it.
func (a *App) connect(natsURL string, targets []string) (*nats.Conn, error) {
	if a.nc != nil {
		return a.nc, nil
	}
	host, _ := os.Hostname()
	nc, err := bus.Connect(natsURL, a.nats, "lynkr-"+strings.Join(targets, "+")+"-"+bus.Token(host, "host"))
	if err != nil {
		return nil, err
	}
	a.nc = nc
	a.closers = append(a.closers, nc.Close)
	return nc, nil
}

func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// defaultDataDir is where the embedded JetStream keeps its files unless LYNKR_DATA_DIR says.
func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lynkr")
	}
	return filepath.Join(os.TempDir(), "lynkr")
}
