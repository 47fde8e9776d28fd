// Package gateway is lynkr's HTTP front: it takes Anthropic- and OpenAI-format requests,
// validates and routes them, publishes them to JetStream and relays the workers' answers to
// the client. It never talks to a provider and holds no provider credential.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-retry"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/heartbeat"
	"github.com/lynkr/lynkr/pkg/limiter"
	"github.com/lynkr/lynkr/pkg/loopguard"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/respcache"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/pkg/telemetry"
	"github.com/lynkr/lynkr/services/gateway/internal/backlog"
	"github.com/lynkr/lynkr/services/gateway/internal/registry"
	"github.com/lynkr/lynkr/services/gateway/internal/relay"
	"github.com/lynkr/lynkr/services/gateway/internal/route"
	"github.com/lynkr/lynkr/services/gateway/internal/tenancy"
)

// Deps are what the gateway is given rather than makes.
type Deps struct {
	// NATS is the bus connection; the gateway does not close it.
	NATS *nats.Conn
	// Logger receives one line per request and the gateway's own events.
	Logger *slog.Logger
	// Metrics is where the gateway registers its metrics, served on /metrics; nil makes a
	// registry of the gateway's own.
	Metrics *prometheus.Registry
	// Tracer makes the gateway's spans; nil traces nothing.
	Tracer trace.TracerProvider
	// Handlers are served beside the gateway's own routes, by path (a path ending in "/*"
	// serves everything under it): the all-in-one mounts the aggregator's cluster view here.
	Handlers map[string]http.Handler
}

// Gateway is one gateway instance.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	kv       jetstream.KeyValue
	keeper   *bus.Keeper // keeps the streams and buckets in place
	relay    *relay.Relay
	registry *registry.Registry
	board    *breaker.Board
	backlog  *backlog.Monitor
	shed     *shed.Shedder
	limiter  limiter.Limiter
	metrics  *metrics.Gateway
	promReg  *prometheus.Registry
	router   route.Router
	echo     *echo.Echo
	tracer   trace.Tracer
	tracing  bool             // the tracer records: spans are worth building
	cache    respcache.Cache  // nil when off; in the limiter's Redis when it has one
	tenancy  *tenancy.Tenancy // nil when keys, tenant limits and budgets are all off
	closing  sync.Once        // Close runs once
	started  time.Time

	stopping atomic.Bool // a graceful shutdown has begun: readiness fails

	inFlight atomic.Int64 // requests between arrival and their last byte
	ids      *idSource

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// New sets up the bus assets the gateway needs and returns a gateway ready to Run. It waits
// for NATS (retrying) until ctx ends.
func New(ctx context.Context, cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Logger.With("service", "gateway", "instance", cfg.Instance)
	js, err := jetstream.New(deps.NATS)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	var kv, breakerKV jetstream.KeyValue
	assets := bus.Assets{
		Streams: []string{bus.RequestStream, bus.UsageStream, bus.BucketStream(bus.ProviderBucket), bus.BucketStream(breaker.Bucket)},
	}
	if cfg.Tenancy.Enabled() { // the usage charger's consumer is the gateways' to keep too
		assets.Consumers = map[string][]string{bus.UsageStream: {tenancy.ChargerName}}
	}
	ensure := func(ctx context.Context) error {
		if err := bus.Setup(ctx, js, cfg.Streams); err != nil {
			return err
		}
		if _, err := breaker.EnsureBucket(ctx, js, cfg.Streams); err != nil {
			return err
		}
		if cfg.Tenancy.Enabled() {
			if _, err := tenancy.EnsureCharger(ctx, js); err != nil {
				return err
			}
		}
		return nil
	}
	assets.Ensure = ensure
	backoff := retry.WithCappedDuration(2*time.Second, retry.NewExponential(100*time.Millisecond))
	err = retry.Do(ctx, backoff, func(ctx context.Context) error {
		if err := ensure(ctx); err != nil {
			log.Warn("waiting for NATS JetStream", "error", err)
			return retry.RetryableError(err)
		}
		if breakerKV, err = js.KeyValue(ctx, breaker.Bucket); err != nil {
			return retry.RetryableError(err)
		}
		kv, err = js.KeyValue(ctx, bus.ProviderBucket)
		return retry.RetryableError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	keeper := bus.NewKeeper(deps.NATS, js, assets, 0, log)
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider()
	}
	shedder, err := shed.New(cfg.Shed)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	lim, err := limiter.New(ctx, cfg.Limiter)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	rl, err := relay.Start(deps.NATS, cfg.Instance, acceptTimeout, log)
	if err != nil {
		_ = lim.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{
		shed:     shedder,
		limiter:  lim,
		promReg:  deps.Metrics,
		tracer:   deps.Tracer.Tracer("github.com/lynkr/lynkr/services/gateway"),
		tracing:  telemetry.Recording(deps.Tracer),
		cache:    newCache(cfg.Cache, lim),
		started:  time.Now(),
		cfg:      cfg,
		log:      log,
		nc:       deps.NATS,
		js:       js,
		kv:       kv,
		keeper:   keeper,
		relay:    rl,
		registry: registry.New(),
		board:    breaker.NewBoard(breakerKV, log, time.Now),
		router:   route.Router{Default: cfg.DefaultProvider, Rules: cfg.Routes},
		ready:    make(chan struct{}),
		ids:      newIDSource(),
	}
	g.backlog = backlog.New(js, g.providerNames, time.Second, log)
	if g.metrics, err = metrics.NewGateway(deps.Metrics, clusterState{g}); err != nil {
		rl.Close()
		_ = lim.Close()
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	for _, reason := range loopguard.Reasons {
		g.metrics.LoopGuard.WithLabelValues(reason) // every series from zero
	}
	if cfg.Tenancy.Enabled() {
		var rdb redis.UniversalClient
		if r, ok := lim.(limiter.RedisUser); ok {
			rdb = r.Client()
		}
		if g.tenancy, err = tenancy.New(cfg.Tenancy, tenancy.Deps{Redis: rdb, Logger: log, Metrics: g.metrics}); err != nil {
			rl.Close()
			_ = lim.Close()
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if cfg.Tenancy.Auth && cfg.Tenancy.AdminKey.IsZero() {
			log.Warn("AUTH_ENABLED without ADMIN_API_KEY: this gateway cannot make keys; another with the admin key must")
		}
	}
	g.echo = g.routes(deps.Handlers)
	return g, nil
}

// providerNames lists the providers workers serve.
func (g *Gateway) providerNames() []string {
	all := g.registry.All()
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.Name
	}
	return names
}

// Handler is the gateway's HTTP handler, for tests that serve it themselves.
func (g *Gateway) Handler() http.Handler { return g.echo }

// Ready is closed once the gateway listens and knows the providers.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr is the address the gateway listens on, once Ready.
func (g *Gateway) Addr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addr
}

// Close releases what New took: the reply subscription, the limiter's connection and the
// tenant store (and its file lock). Run closes them as it returns; a gateway that never runs
// must be closed. Close may be called more than once.
func (g *Gateway) Close() {
	g.closing.Do(func() {
		g.relay.Close()
		_ = g.limiter.Close()
		if g.tenancy != nil {
			if err := g.tenancy.Close(); err != nil {
				g.log.Warn("could not close the tenant store", "error", err)
			}
		}
	})
}

// Run serves until ctx ends, then shuts down gracefully: it stops accepting, lets in-flight
// requests finish within the shutdown timeout and returns.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	// The loops that watch the bus and the process stop, and are awaited, before Close
	// releases what they use.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	var loops sync.WaitGroup
	defer func() { stopWatch(); loops.Wait() }()
	loops.Go(func() { g.backlog.Run(watchCtx) })
	if g.tenancy != nil {
		// The charger stops before Close closes the store (defers run last in, first out).
		chargerDone := make(chan struct{})
		defer func() { stopWatch(); <-chargerDone }()
		go func() {
			defer close(chargerDone)
			if err := g.tenancy.RunCharger(watchCtx, g.js, g.keeper.Restarts()); err != nil {
				g.log.Error("usage charger stopped: spend is not being charged", "error", err)
			}
		}()
	}
	// Heartbeats go on until the gateway has drained; the last one, sent before Run returns
	// and the connection closes, says it leaves. Their failure is not the gateway's.
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		if err := heartbeat.Run(hbCtx, g.nc, g.cfg.HeartbeatEvery, g.heartbeat); err != nil {
			g.log.Warn("heartbeats stopped", "error", err)
		}
	}()
	defer func() { stopHB(); <-hbDone }()
	loops.Go(func() { _ = g.shed.Run(watchCtx) })
	loops.Go(func() { _ = g.keeper.Run(watchCtx) })
	loops.Go(func() { g.registry.Run(watchCtx, g.kv, g.keeper.Restarts(), g.log) })
	loops.Go(func() { _ = g.board.Run(watchCtx, g.keeper.Restarts()) })
	for _, synced := range []<-chan struct{}{g.registry.Synced(), g.board.Synced()} {
		select {
		case <-synced:
		case <-ctx.Done():
			return nil
		}
	}

	ln, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", g.cfg.Addr, err)
	}
	ln = g.capConnections(ln)
	srv := &http.Server{
		Handler:           g.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	g.mu.Lock()
	g.addr = ln.Addr()
	g.mu.Unlock()
	close(g.ready)
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "default_provider", g.cfg.DefaultProvider)

	serveErr, served := make(chan error, 1), make(chan struct{})
	go func() { defer close(served); serveErr <- srv.Serve(ln) }()
	defer func() { _ = srv.Close(); <-served }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	// Readiness fails first; with a readiness delay the gateway keeps taking requests while
	// load balancers notice, then stops accepting and drains.
	g.stopping.Store(true)
	if d := g.cfg.ReadinessDelay; d > 0 {
		g.log.Info("gateway not ready: shutting down after the readiness delay", "delay", d)
		time.Sleep(d)
	}
	g.log.Info("gateway shutting down", "in_flight", g.inFlight.Load(), "timeout", g.cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(shutCtx) }()
	// net/http counts a connection that has not sent a request yet as busy for 5 s; once no
	// request is in flight, such connections are closed rather than waited for.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.DeadlineExceeded) {
				g.log.Warn("gateway shutdown timed out; closing remaining connections", "in_flight", g.inFlight.Load())
				_ = srv.Close()
				return nil
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("gateway: shutdown: %w", err)
			}
			return nil
		case <-tick.C:
			if g.inFlight.Load() == 0 {
				_ = srv.Close()
			}
		}
	}
}
