// Package worker is lynkr's provider worker: it takes requests for the providers it serves
// from JetStream, calls the upstream, converts the answer to the client's format and sends it
// back to the gateway that holds the client. Provider credentials live only here.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	goretry "github.com/sethvargo/go-retry"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/heartbeat"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/retry"
	"github.com/lynkr/lynkr/pkg/telemetry"
)

// Deps are what the worker is given rather than makes.
type Deps struct {
	// NATS is the bus connection; the worker does not close it.
	NATS *nats.Conn
	// Logger receives the worker's events, each request's with its request id.
	Logger *slog.Logger
	// Providers are the upstreams this worker serves.
	Providers *provider.Set
	// HTTP calls the upstreams. It must not retry on its own: the worker owns the one retry
	// loop of a request.
	HTTP *http.Client
	// Metrics is where the worker registers its metrics; nil makes a registry of its own.
	// When cfg.Addr is set, the worker serves it on /metrics (it must then be a Gatherer too).
	Metrics prometheus.Registerer
	// Tracer makes the worker's spans; nil traces nothing.
	Tracer trace.TracerProvider
}

// Worker serves every provider of its set.
type Worker struct {
	cfg Config
	log *slog.Logger
	nc  *nats.Conn
	js  jetstream.JetStream
	kv  jetstream.KeyValue
	ps  *provider.Set
	// keeper keeps the streams, buckets and consumers in place.
	keeper *bus.Keeper
	http   *http.Client

	breakers  *breaker.Set
	board     *breaker.Board
	publisher *breaker.Publisher
	retries   map[string]*retry.Policy // by provider
	plans     sync.Map                 // [2]llm.Format → translate.Plan
	metrics   *metrics.Worker
	usage     *usageBatcher
	gatherer  prometheus.Gatherer
	tracer    trace.Tracer
	tracing   bool // the tracer records: spans are worth building
	started   time.Time
	stopping  atomic.Bool            // a graceful shutdown has begun: readiness fails
	addr      atomic.Pointer[string] // where serve listens, as others reach it, once it does

	// Counters for the heartbeat: requests answered and failed, tokens, requests running.
	answered, failed, tokensIn, tokensOut atomic.Uint64
	active                                atomic.Int64

	mu       sync.Mutex
	inFlight map[string]*running
	canceled map[string]time.Time // requests canceled before a worker took them
	listed   map[string][]string  // models the upstreams listed, by provider
	relist   chan struct{}        // a list changed: announce now

	announced chan struct{}
	once      sync.Once
}

// ErrCanceled is the cause of a request whose client went away.
var ErrCanceled = errors.New("the client canceled the request")

// New sets up the bus assets the worker needs, waiting for NATS until ctx ends.
func New(ctx context.Context, cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Logger.With("service", "worker", "instance", cfg.Instance)
	js, err := jetstream.New(deps.NATS)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	var kv, breakerKV jetstream.KeyValue
	backoff := goretry.WithCappedDuration(2*time.Second, goretry.NewExponential(100*time.Millisecond))
	err = goretry.Do(ctx, backoff, func(ctx context.Context) error {
		if err := setupBus(ctx, js, cfg, nil); err != nil {
			log.Warn("waiting for NATS JetStream", "error", err)
			return goretry.RetryableError(err)
		}
		if breakerKV, err = js.KeyValue(ctx, breaker.Bucket); err != nil {
			return goretry.RetryableError(err)
		}
		kv, err = js.KeyValue(ctx, bus.ProviderBucket)
		return goretry.RetryableError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	consumers := make([]string, 0, len(deps.Providers.Names()))
	for _, name := range deps.Providers.Names() {
		consumers = append(consumers, bus.ConsumerName(name))
	}
	keeper := bus.NewKeeper(deps.NATS, js, bus.Assets{
		Streams:   []string{bus.RequestStream, bus.UsageStream, bus.BucketStream(bus.ProviderBucket), bus.BucketStream(breaker.Bucket)},
		Consumers: map[string][]string{bus.RequestStream: consumers},
		Ensure:    func(ctx context.Context) error { return setupBus(ctx, js, cfg, deps.Providers.Names()) },
	}, 0, log)
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider()
	}
	m, err := metrics.NewWorker(deps.Metrics)
	if err != nil {
		return nil, fmt.Errorf("worker: metrics: %w", err)
	}
	gatherer, _ := deps.Metrics.(prometheus.Gatherer)
	if cfg.Addr != "" && gatherer == nil {
		return nil, errors.New("worker: Deps.Metrics must be a Gatherer to serve /metrics")
	}
	for _, name := range deps.Providers.Names() {
		m.Serve(name, deps.Providers.Fallback())
	}
	board := breaker.NewBoard(breakerKV, log, time.Now)
	publisher := breaker.NewPublisher(breakerKV, cfg.Instance, log)
	retries := make(map[string]*retry.Policy)
	for _, name := range deps.Providers.Names() {
		p, err := retry.New(cfg.Retry, retry.Options{
			OnRetry: func(ctx context.Context, attempt int, delay time.Duration, err error) {
				requestLog(ctx, log).Info("retrying upstream call", "attempt", attempt+1, "delay_ms", delay.Milliseconds(), "error", err)
			},
			OnGiveUp: func(ctx context.Context, attempt int, why retry.GiveUp, err error) {
				requestLog(ctx, log).Warn("not retrying upstream call", "attempts", attempt, "reason", why.String(), "error", err)
			},
		})
		if err != nil {
			return nil, err
		}
		retries[name] = p
	}
	return &Worker{
		metrics:   m,
		gatherer:  gatherer,
		tracer:    deps.Tracer.Tracer("github.com/lynkr/lynkr/services/worker"),
		tracing:   telemetry.Recording(deps.Tracer),
		usage:     newUsageBatcher(js, cfg.Instance, cfg.UsageFlushEvery, log),
		started:   time.Now(),
		board:     board,
		publisher: publisher,
		retries:   retries,
		breakers: breaker.NewSet(cfg.Breaker, breaker.Options{
			Instance:      cfg.Instance,
			OnStateChange: publisher.Notify,
			Board:         board,
		}),
		cfg:       cfg,
		log:       log,
		nc:        deps.NATS,
		js:        js,
		kv:        kv,
		keeper:    keeper,
		ps:        deps.Providers,
		http:      deps.HTTP,
		inFlight:  make(map[string]*running),
		canceled:  make(map[string]time.Time),
		listed:    make(map[string][]string),
		relist:    make(chan struct{}, 1),
		announced: make(chan struct{}),
	}, nil
}

// setupBus creates or updates the streams and buckets (the request stream only if no gateway
// made it yet), and the consumers of providers.
func setupBus(ctx context.Context, js jetstream.JetStream, cfg Config, providers []string) error {
	streams := cfg.Streams
	streams.JoinRequests = true // the gateways own the request stream's configuration
	if err := bus.Setup(ctx, js, streams); err != nil {
		return err
	}
	if _, err := breaker.EnsureBucket(ctx, js, cfg.Streams); err != nil {
		return err
	}
	for _, name := range providers {
		if _, err := bus.EnsureConsumer(ctx, js, name, cfg.consumer()); err != nil {
			return err
		}
	}
	return nil
}

// consumer is the shape of every provider's consumer.
func (c Config) consumer() bus.ConsumerConfig {
	return bus.ConsumerConfig{MaxInFlight: c.MaxInFlight, AckWait: c.AckWait, MaxDeliver: c.MaxDeliver}
}

// Announced is closed once every provider of the worker is in the registry.
func (w *Worker) Announced() <-chan struct{} { return w.announced }

// Run serves until ctx ends, then stops taking requests, finishes those in flight within the
// shutdown timeout, hands the rest back to the bus and returns.
func (w *Worker) Run(ctx context.Context) error {
	sub, err := w.nc.Subscribe(bus.CancelWildcard, func(m *nats.Msg) { w.cancel(bus.RequestIDOfCancel(m.Subject)) })
	if err != nil {
		return fmt.Errorf("worker: subscribe to cancellations: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	// Every consumer is in place before any goroutine starts: an error returns with none
	// left running.
	conss := make([]jetstream.Consumer, len(w.ps.Names()))
	for i, name := range w.ps.Names() {
		if conss[i], err = bus.EnsureConsumer(ctx, w.js, name, w.cfg.consumer()); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	var consumers sync.WaitGroup
	for i, name := range w.ps.Names() {
		p, _ := w.ps.Get(name)
		cons, restarts := conss[i], w.keeper.Restarts()
		consumers.Add(1)
		g.Go(func() error {
			defer consumers.Done()
			return w.consume(gctx, cons, p, restarts)
		})
	}
	drained := make(chan struct{})
	go func() { consumers.Wait(); close(drained) }()
	g.Go(func() error { w.usage.run(drained, w.cfg.ShutdownTimeout); return nil })
	// Progress reports and heartbeats go on while requests drain; the last heartbeat, once
	// they are done, says the worker leaves.
	untilDrained, stopDrained := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDrained()
	go func() { <-drained; stopDrained() }()
	g.Go(func() error { return w.reportProgress(untilDrained) })
	g.Go(func() error { w.checkHolders(untilDrained); return nil })
	g.Go(func() error {
		// Heartbeats only inform the cluster view: their failure is not the worker's.
		if err := heartbeat.Run(untilDrained, w.nc, w.cfg.HeartbeatEvery, w.heartbeat); err != nil {
			w.log.Warn("heartbeats stopped", "error", err)
		}
		return nil
	})
	if w.cfg.Addr != "" {
		g.Go(func() error { return w.serve(gctx, drained) })
	}
	listed := make(chan struct{})
	g.Go(func() error { return w.listModels(gctx, listed) })
	g.Go(func() error {
		select { // the first announcement carries the upstreams' model lists, if they answer soon
		case <-listed:
		case <-time.After(firstListWait):
		case <-gctx.Done():
			return nil
		}
		return w.announce(gctx)
	})

	g.Go(func() error { return w.keeper.Run(gctx) })
	w.keeper.OnRestore(func() { // announce at once into the re-created registry
		select {
		case w.relist <- struct{}{}:
		default:
		}
	})
	g.Go(func() error { return w.board.Run(gctx, w.keeper.Restarts()) })
	g.Go(func() error { return w.publisher.Run(gctx) })
	return g.Wait()
}

// announce keeps this worker's providers in the registry.
func (w *Worker) announce(ctx context.Context) error {
	t := time.NewTicker(w.cfg.AnnounceEvery)
	defer t.Stop()
	for {
		ok := true
		for _, name := range w.ps.Names() {
			p, _ := w.ps.Get(name)
			_, embeds := p.(provider.Embedder)
			_, counts := p.(provider.TokenCounter)
			info := bus.ProviderInfo{Name: name, Format: string(p.Format()), Models: w.models(p), Embeddings: embeds, CountTokens: counts}
			if err := bus.Announce(ctx, w.kv, info); err != nil {
				ok = false
				if ctx.Err() == nil {
					w.log.Warn("could not announce provider", "provider", name, "error", err)
				}
			}
		}
		if ok {
			w.once.Do(func() { close(w.announced) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.forgetOldCancels()
		case <-w.relist:
		}
	}
}

// consume pulls a provider's requests and runs up to Concurrency of them at once. When
// restarts receives (the bus re-created the consumer), it pulls from the new consumer.
func (w *Worker) consume(ctx context.Context, cons jetstream.Consumer, p provider.Provider, restarts <-chan struct{}) error {
	src, err := newSource(cons, w.cfg.Concurrency)
	if err != nil {
		return fmt.Errorf("worker: consume %s: %w", p.Name(), err)
	}
	var watch sync.WaitGroup
	defer watch.Wait()
	watch.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-restarts:
				src.restart()
			}
		}
	})
	// Work outlives ctx: on shutdown in-flight requests get ShutdownTimeout to finish.
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	var wg sync.WaitGroup
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		w.stopping.Store(true)
		src.stop()
		close(stopped)
	}()
	// Requests run on handler goroutines that live as long as the consumer, started as the load
	// needs them, up to Concurrency. Each takes the next message itself, one waiting at a time,
	// and when it takes one and no other is left waiting it starts another: a request crosses
	// no dispatching goroutine (a hand-off to another core costs more than the rest of the
	// pull), and no goroutine per request grows its stack from scratch.
	var (
		pull             sync.Mutex // one handler waits in Next at a time: the iterator is not made for concurrent use
		waiting, started atomic.Int64
		handler          func()
	)
	spawn := func() {
		for n := started.Load(); n < int64(w.cfg.Concurrency); n = started.Load() {
			if started.CompareAndSwap(n, n+1) {
				waiting.Add(1)
				wg.Add(1)
				go handler()
				return
			}
		}
	}
	next := func() (jetstream.Msg, error) {
		pull.Lock()
		defer pull.Unlock()
		return src.next(ctx)
	}
	handler = func() {
		defer wg.Done()
		for {
			msg, err := next()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.log.Warn("pull failed", "provider", p.Name(), "error", err)
				continue
			}
			if waiting.Add(-1) == 0 {
				spawn()
			}
			w.handle(work, msg, p)
			waiting.Add(1)
		}
	}
	spawn()
	<-stopped
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownTimeout):
		w.log.Warn("shutdown timeout: handing unfinished requests back", "provider", p.Name())
		stopWork(errShutdown)
		<-done
	}
	return nil
}

var errShutdown = errors.New("the worker is shutting down")

// logKey carries a request's logger (with its request and trace ids) in its context, for the
// callbacks of the retry policy, which is shared by a provider's requests.
type logKey struct{}

func withRequestLog(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, log)
}

// requestLog is the logger of the request of ctx, or def.
func requestLog(ctx context.Context, def *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return def
}

// running is a request this worker is answering.
type running struct {
	cancel   context.CancelCauseFunc
	msg      jetstream.Msg
	gateway  string    // the gateway instance that holds its client
	reported time.Time // when it was taken, or its progress last reported
}

// track registers a request in flight, unless its client canceled it before it was taken.
// The caller must untrack it when done.
func (w *Worker) track(id, gateway string, cancel context.CancelCauseFunc, msg jetstream.Msg, now time.Time) (canceled bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.canceled[id]; ok {
		delete(w.canceled, id)
		return true
	}
	w.inFlight[id] = &running{cancel: cancel, msg: msg, gateway: gateway, reported: now}
	return false
}

func (w *Worker) untrack(id string) {
	w.mu.Lock()
	delete(w.inFlight, id)
	w.mu.Unlock()
}

// reportProgress tells JetStream, for every request held longer than a sixth of AckWait since
// it was taken or last reported, that it is still being worked on, so it is not handed to
// another worker while a long generation runs: a request is silent for at most a quarter of
// AckWait plus however long the worker stalls. One loop for all requests: none of them pays
// for a timer of its own.
func (w *Worker) reportProgress(ctx context.Context) error {
	every := max(w.cfg.AckWait/12, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var due []jetstream.Msg
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due = due[:0]
			w.mu.Lock()
			for _, r := range w.inFlight {
				if now.Sub(r.reported) >= w.cfg.AckWait/6 {
					r.reported = now
					due = append(due, r.msg)
				}
			}
			w.mu.Unlock()
			for _, m := range due {
				_ = m.InProgress()
			}
		}
	}
}

// cancel stops a request whose client went away, or remembers it for a while in case it
// has not been taken yet.
func (w *Worker) cancel(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.inFlight[id]; ok {
		r.cancel(ErrCanceled)
		return
	}
	w.canceled[id] = time.Now()
}

// stop stops requests in flight, with cause.
func (w *Worker) stop(ids []string, cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if r, ok := w.inFlight[id]; ok {
			r.cancel(cause)
		}
	}
}

func (w *Worker) forgetOldCancels() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, at := range w.canceled {
		if time.Since(at) > w.cfg.Streams.MaxRequestAge {
			delete(w.canceled, id)
		}
	}
}
