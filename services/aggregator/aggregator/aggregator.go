// Package aggregator is lynkr's cluster view: it discovers every gateway and worker by their
// heartbeats, reads the providers' breaker states and backlogs from JetStream, and serves the
// result as JSON (/cluster), as a page (/cluster/dashboard) and as Prometheus gauges
// (/metrics). It only reads the bus: the gateways and workers create its assets, and it waits
// for them if it comes up first.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/heartbeat"
	"github.com/lynkr/lynkr/proto/busv1"
)

// Service is the service name of the aggregator's own heartbeats.
const Service = "aggregator"

// Deps are what the aggregator is given rather than makes.
type Deps struct {
	// NATS is the bus connection; the aggregator does not close it.
	NATS *nats.Conn
	// Logger receives the aggregator's events.
	Logger *slog.Logger
	// Metrics is where the aggregator registers its cluster gauges, served on /metrics; nil
	// makes a registry of its own.
	Metrics *prometheus.Registry
}

// Aggregator is one aggregator instance.
type Aggregator struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	roster  *heartbeat.Roster
	promReg *prometheus.Registry
	echo    *echo.Echo
	version string
	started time.Time
	now     func() time.Time

	state state

	running  atomic.Bool
	stopping atomic.Bool
	http     httpCounters

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// httpCounters are what the aggregator's own heartbeat reports of its HTTP traffic.
type httpCounters struct {
	requests, errors atomic.Uint64
	active           atomic.Int64
}

// New returns an aggregator ready to Run. It does not wait for NATS: Run rides out a bus
// that is not there yet.
func New(ctx context.Context, cfg Config, deps Deps) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.NATS == nil || deps.Logger == nil {
		return nil, errors.New("aggregator: Deps.NATS and Deps.Logger are required")
	}
	js, err := jetstream.New(deps.NATS)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	a := &Aggregator{
		cfg:     cfg,
		log:     deps.Logger.With("service", Service, "instance", cfg.Instance),
		nc:      deps.NATS,
		js:      js,
		roster:  heartbeat.NewRoster(cfg.HeartbeatTTL, time.Now),
		promReg: deps.Metrics,
		version: version(),
		started: time.Now(),
		now:     time.Now,
		state:   newState(),
		ready:   make(chan struct{}),
	}
	if err := deps.Metrics.Register(newCollector(a)); err != nil {
		return nil, fmt.Errorf("aggregator: metrics: %w", err)
	}
	a.echo = a.routes()
	return a, nil
}

// Handler serves /cluster, /cluster/dashboard, /metrics, /health/live and /health/ready.
// The all-in-one mounts it (at least /cluster and /cluster/dashboard) on its gateway's
// server and runs the aggregator with an empty Addr.
func (a *Aggregator) Handler() http.Handler { return a.echo }

// Ready is closed once the aggregator receives heartbeats and, if it has an Addr, listens.
func (a *Aggregator) Ready() <-chan struct{} { return a.ready }

// Addr is the address the aggregator listens on, once Ready; nil without an Addr.
func (a *Aggregator) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Run serves until ctx ends: it keeps the roster of instances, watches the breaker and
// provider buckets, polls the backlogs, sends its own heartbeat and, unless cfg.Addr is
// empty, serves Handler on cfg.Addr. When ctx ends it reports not ready, says goodbye on the
// bus, drains HTTP within the shutdown timeout and returns nil.
func (a *Aggregator) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("aggregator: Run called twice")
	}
	var ln net.Listener
	if a.cfg.Addr != "" {
		var err error
		if ln, err = net.Listen("tcp", a.cfg.Addr); err != nil {
			return fmt.Errorf("aggregator: listen on %s: %w", a.cfg.Addr, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.roster.Run(gctx, a.nc) })
	// The aggregator makes no bucket; its keeper tells when another service made one again
	// (the bus lost its state), so the watches follow the new one.
	keeper := bus.NewKeeper(a.nc, a.js, bus.Assets{
		Streams: []string{bus.BucketStream(bus.BreakerBucket), bus.BucketStream(bus.ProviderBucket)},
	}, 0, a.log)
	breakersRestart, providersRestart := keeper.Restarts(), keeper.Restarts()
	g.Go(func() error { return keeper.Run(gctx) })
	g.Go(func() error {
		return a.watch(gctx, bus.BreakerBucket, a.state.resetBreakers, a.state.applyBreaker, breakersRestart)
	})
	g.Go(func() error {
		return a.watch(gctx, bus.ProviderBucket, a.state.resetProviders, a.state.applyProvider, providersRestart)
	})
	g.Go(func() error { return a.poll(gctx) })

	var srv *http.Server
	if ln != nil {
		srv = &http.Server{
			Handler:           a.echo,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
		a.mu.Lock()
		a.addr = ln.Addr()
		a.mu.Unlock()
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("aggregator: serve: %w", err)
			}
			return nil
		})
		a.log.Info("aggregator listening", "addr", ln.Addr().String())
	}

	// The heartbeat outlives gctx a little: it says goodbye once readiness has failed.
	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHeartbeat()
	hbDone := make(chan error, 1)
	go func() { hbDone <- heartbeat.Run(hbCtx, a.nc, a.cfg.HeartbeatInterval, a.heartbeat) }()

	select {
	case <-a.roster.Ready():
		close(a.ready)
	case <-gctx.Done():
	}

	<-gctx.Done()
	a.stopping.Store(true)
	stopHeartbeat()
	hbErr := <-hbDone
	if srv != nil {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
		if err := srv.Shutdown(shutCtx); err != nil {
			_ = srv.Close()
		}
		cancel()
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if hbErr != nil {
		return fmt.Errorf("aggregator: %w", hbErr)
	}
	a.log.Info("aggregator stopped")
	return nil
}

// heartbeat is the aggregator's own heartbeat.
func (a *Aggregator) heartbeat() *busv1.Heartbeat {
	return &busv1.Heartbeat{
		Instance:        a.cfg.Instance,
		Service:         Service,
		Version:         a.version,
		StartedUnixNano: a.started.UnixNano(),
		Addr:            heartbeat.Advertise(a.Addr()),
		Ready:           a.isReady(),
		RequestsTotal:   a.http.requests.Load(),
		ErrorsTotal:     a.http.errors.Load(),
		ActiveRequests:  a.http.active.Load(),
	}
}

// isReady reports whether the aggregator can give a true picture: connected, not stopping.
func (a *Aggregator) isReady() bool {
	return a.nc.Status() == nats.CONNECTED && !a.stopping.Load()
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
