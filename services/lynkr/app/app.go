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
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/natsserver"
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
// starts an embedded NATS server with JetStream in LYNKR_DATA_DIR, for this process only
// unless NATS_LISTEN asks it to serve others too (with authentication: see natsserver.Config).
//
// Every flag and setting is read and checked before anything starts or logs: a bad one is
// returned as a config.ErrBadSetting error, one line naming the flag or variable and what it
// expects (config.Report prints it and gives the exit status). -h prints the usage and
// returns nil.
func Main(ctx context.Context, args []string, lookup config.Lookup, stderr io.Writer) error {
	targets, err := parseFlags(args, stderr)
	if err != nil || targets == nil {
		return err
	}
	cfg := Config{Targets: targets, Lookup: lookup}
	logCfg, err := logging.ConfigFromEnv(lookup)
	if err != nil {
		return config.Bad(err)
	}
	s, err := load(cfg)
	if err != nil {
		return err
	}
	log, logFile, err := logging.Open(logCfg, stderr)
	if err != nil {
		return config.Bad(err) // a LOG_FILE_PATH lynkr cannot write
	}
	defer logFile.Close()
	redis.SetLogger(logging.Redis{Log: log}) // the client's own lines, as JSON like the rest
	log.Info("garbage collector", gcpolicy.Apply(lookup, shed.MemoryLimit).LogArgs()...)
	defer gcpolicy.StartReclaim()() // gives memory back after bursts
	a, err := build(ctx, cfg, s, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// parseFlags reads the command line: the targets to run, or none after -h. Its errors are
// bad settings of one line; the usage is printed only when asked for.
func parseFlags(args []string, stderr io.Writer) ([]string, error) {
	fs := flag.NewFlagSet("lynkr", flag.ContinueOnError)
	var usage strings.Builder
	fs.SetOutput(&usage)
	target := fs.String("target", "all", "parts to run: all, or a comma-separated list of "+strings.Join(Targets, ", "))
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		_, _ = io.WriteString(stderr, usage.String())
		return nil, nil
	case err != nil:
		return nil, config.Bad(err) // "flag provided but not defined: -x"
	case fs.NArg() > 0:
		return nil, config.Bad(fmt.Errorf("unexpected argument %q: lynkr takes only -target (settings are environment variables)", fs.Arg(0)))
	}
	return parseTargets(*target)
}

func parseTargets(s string) ([]string, error) {
	if s == "all" {
		return Targets, nil
	}
	var out []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(Targets, t) {
			return nil, config.Bad(fmt.Errorf("-target %q: want all or a comma-separated list of %s", s, strings.Join(Targets, ", ")))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
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
	auth    bus.ClientAuth // how connect authenticates, to NATS_URL or to the embedded server
	gateway *gateway.Gateway
	worker  *worker.Worker
	agg     *aggregator.Aggregator
	nc      *nats.Conn // shared by the parts: see connect
	closers []func()
	gwDone  chan struct{} // closed when the gateway has stopped
}

// settings is everything the process reads from its environment, read and checked before
// anything starts.
type settings struct {
	natsURL, dataDir, listen, pprofAddr string
	natsAuth                            bus.ClientAuth    // to NATS_URL, or to a NATS_SERVER_CONFIG server
	embedded                            natsserver.Config // without NATS_URL
	telemetry                           telemetry.Config  // unused when Config.Tracer is set
	worker                              *worker.Config    // nil unless the worker runs
	providers                           *provider.Set
	aggregator                          *aggregator.Config // nil unless the aggregator runs
	gateway                             *gateway.Config    // nil unless the gateway runs
}

// load reads the settings of cfg's targets. Its errors are config.ErrBadSetting errors.
func load(cfg Config) (settings, error) {
	s, err := loadTargets(cfg)
	return s, config.Bad(err)
}

func loadTargets(cfg Config) (s settings, err error) {
	if len(cfg.Targets) == 0 {
		return s, fmt.Errorf("no target: want all or a comma-separated list of %s", strings.Join(Targets, ", "))
	}
	e := config.NewEnv(cfg.Lookup)
	s.natsURL = e.URLs("NATS_URL", "nats", "tls", "ws", "wss")
	s.dataDir = e.String("LYNKR_DATA_DIR", defaultDataDir())
	s.listen = e.String("NATS_LISTEN", "")
	s.pprofAddr = e.String("PPROF_ADDR", "")
	for _, v := range [][2]string{{"NATS_LISTEN", s.listen}, {"PPROF_ADDR", s.pprofAddr}} {
		e.Check(v[1] == "" || validAddr(v[1]), v[0], v[1], "want a listen address host:port, such as 127.0.0.1:4222")
	}
	if err := e.Err(); err != nil {
		return s, err
	}
	if err := s.readBusSettings(e, cfg.Targets); err != nil {
		return s, err
	}
	if cfg.Tracer == nil {
		if s.telemetry, err = telemetry.ConfigFromEnv(cfg.Lookup); err != nil {
			return s, err
		}
	}
	if slices.Contains(cfg.Targets, "worker") {
		wcfg, err := worker.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return s, err
		}
		if s.providers, err = provider.Load(cfg.Lookup); err != nil {
			return s, err
		}
		s.worker = &wcfg
	}
	if slices.Contains(cfg.Targets, "aggregator") {
		acfg, err := aggregator.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return s, err
		}
		s.aggregator = &acfg
	}
	if slices.Contains(cfg.Targets, "gateway") {
		gcfg, err := gateway.ConfigFromEnv(loopbackByDefault(cfg.Lookup))
		if err != nil {
			return s, err
		}
		s.gateway = &gcfg
	}
	return s, nil
}

// readBusSettings reads how the process reaches the bus: the credentials for NATS_URL, or the
// embedded server's listener, users and TLS. Its errors name the variable.
func (s *settings) readBusSettings(e *config.Env, targets []string) error {
	var role bus.Role // one part connects as its role; several share the connection of them all
	if len(targets) == 1 {
		role = bus.Role(targets[0])
	}
	s.natsAuth = bus.ReadClientAuth(e, role)
	s.embedded = natsserver.Config{
		StoreDir:   filepath.Join(s.dataDir, "jetstream"),
		Listen:     s.listen,
		Passwords:  map[bus.Role]config.Secret{},
		TLSCert:    e.String("NATS_LISTEN_CERT", ""),
		TLSKey:     e.String("NATS_LISTEN_KEY", ""),
		ConfigFile: e.String("NATS_SERVER_CONFIG", ""),
	}
	for _, r := range bus.Roles() {
		if pw := e.Secret(natsserver.PasswordVar(r)); !pw.IsZero() {
			s.embedded.Passwords[r] = pw
		}
	}
	if err := e.Err(); err != nil {
		return err
	}
	if s.natsURL != "" {
		type setting struct {
			name string
			set  bool
		}
		embeddedOnly := []setting{{"NATS_LISTEN", s.listen != ""}, {"NATS_SERVER_CONFIG", s.embedded.ConfigFile != ""},
			{"NATS_LISTEN_CERT", s.embedded.TLSCert != ""}, {"NATS_LISTEN_KEY", s.embedded.TLSKey != ""}}
		for _, r := range bus.Roles() {
			embeddedOnly = append(embeddedOnly, setting{natsserver.PasswordVar(r), !s.embedded.Passwords[r].IsZero()})
		}
		for _, v := range embeddedOnly {
			if v.set {
				return fmt.Errorf("%s is set with NATS_URL: it configures the embedded server, which does not run with an external NATS_URL", v.name)
			}
		}
		return nil
	}
	if s.embedded.ConfigFile == "" && s.natsAuth.Configured() {
		return errors.New("NATS credentials (NATS_CREDS, NATS_NKEY, NATS_USER, NATS_TOKEN, NATS_CA, NATS_CERT) are set without NATS_URL or NATS_SERVER_CONFIG: they are for an external server; the embedded server's users are NATS_GATEWAY_PASSWORD, NATS_WORKER_PASSWORD and NATS_AGGREGATOR_PASSWORD")
	}
	return s.embedded.Validate()
}

// loopbackByDefault is lookup with HOST 127.0.0.1 when it is unset: the all-in-one is the
// laptop's default, with authentication off, and must not offer the provider's key to the
// network unless asked (a container sets HOST=0.0.0.0; the gateway service listens on every
// interface, as a service behind its own network policy).
func loopbackByDefault(lookup config.Lookup) config.Lookup {
	return func(name string) (string, bool) {
		v, ok := lookup(name)
		if name == "HOST" && strings.TrimSpace(v) == "" {
			return "127.0.0.1", true
		}
		return v, ok
	}
}

// validAddr reports a listen address host:port with a port number.
func validAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// New reads the settings of cfg's targets, starts the embedded server if there is no
// NATS_URL and builds the targets. A bad setting is a config.ErrBadSetting error, returned
// before anything starts.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	s, err := load(cfg)
	if err != nil {
		return nil, err
	}
	return build(ctx, cfg, s, log)
}

// build starts what s describes. On an error it stops what it had started.
func build(ctx context.Context, cfg Config, s settings, log *slog.Logger) (*App, error) {
	a := &App{log: log, gwDone: make(chan struct{})}
	if err := a.start(ctx, cfg, s); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// start starts the parts one after the other, each adding its stop to a.closers.
func (a *App) start(ctx context.Context, cfg Config, s settings) error {
	if s.pprofAddr != "" {
		// Go's profiler, for an operator chasing CPU or memory; off unless asked for.
		srv := &http.Server{Addr: s.pprofAddr, Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		a.closers = append(a.closers, func() { _ = srv.Close() })
	}
	tp := cfg.Tracer
	if tp == nil {
		var shutdown func(context.Context) error
		var err error
		if tp, shutdown, err = telemetry.NewTracerProvider(ctx, s.telemetry, "lynkr"); err != nil {
			return err
		}
		a.closers = append(a.closers, func() { telemetry.Flush(shutdown) })
	}
	// One registry for the whole process: the gateway serves it on /metrics.
	reg := cfg.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	a.auth = s.natsAuth
	if s.natsURL == "" {
		ecfg := s.embedded
		if len(ecfg.Passwords) > 0 {
			// This process's own connections: a user of its own, in process only.
			internal, err := natsserver.NewInternalAuth()
			if err != nil {
				return err
			}
			ecfg.Internal, a.auth = internal, internal
		}
		srv, err := natsserver.Start(ecfg)
		if err != nil {
			return err
		}
		a.nats = srv
		a.closers = append(a.closers, func() { srv.Shutdown(); srv.WaitForShutdown() })
		listen := "" // this process only
		if addr := srv.Addr(); addr != nil {
			listen = addr.String()
		}
		if ecfg.ConfigFile != "" {
			a.log.Info("embedded NATS server with JetStream started", "config", ecfg.ConfigFile, "listen", listen)
		} else {
			a.log.Info("embedded NATS server with JetStream started", "store", ecfg.StoreDir, "listen", listen,
				"users", slices.Sorted(maps.Keys(ecfg.Passwords)), "tls", ecfg.TLSCert != "")
		}
	}
	if s.worker != nil {
		wcfg, ps := *s.worker, s.providers
		if s.gateway != nil {
			wcfg.Addr = "" // the gateway serves this process's /metrics and health
		}
		wcfg.Streams.MemoryRequests = a.nats != nil
		p, _ := ps.Get(ps.Default())
		a.log.Info(fmt.Sprintf("requests go to the %v", p), "provider", ps.Default(), "providers", ps.Names())
		nc, err := a.connect(s.natsURL, cfg.Targets)
		if err != nil {
			return err
		}
		hc := &http.Client{Transport: telemetry.Transport(provider.NewTransport(cfg.Lookup), tp)}
		if a.worker, err = worker.New(ctx, wcfg, worker.Deps{NATS: nc, Logger: a.log, Providers: ps, HTTP: hc, Metrics: reg, Tracer: tp}); err != nil {
			return err
		}
	}
	var handlers map[string]http.Handler
	if s.aggregator != nil {
		acfg := *s.aggregator
		if s.gateway != nil {
			// The gateway serves the cluster view on its own port, beside its metrics.
			acfg.Addr = ""
		}
		nc, err := a.connect(s.natsURL, cfg.Targets)
		if err != nil {
			return err
		}
		if a.agg, err = aggregator.New(ctx, acfg, aggregator.Deps{NATS: nc, Logger: a.log, Metrics: reg}); err != nil {
			return err
		}
		h := a.agg.Handler()
		handlers = map[string]http.Handler{"/cluster": h, "/cluster/*": h}
	}
	if s.gateway != nil {
		gcfg := *s.gateway
		gcfg.Streams.MemoryRequests = a.nats != nil
		if gcfg.Tenancy.StorePath == "" {
			gcfg.Tenancy.StorePath = filepath.Join(s.dataDir, "tenants.db")
		}
		nc, err := a.connect(s.natsURL, cfg.Targets)
		if err != nil {
			return err
		}
		if a.gateway, err = gateway.New(ctx, gcfg, gateway.Deps{NATS: nc, Logger: a.log, Metrics: reg, Tracer: tp, Handlers: handlers}); err != nil {
			return err
		}
	}
	return nil
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
	nc, err := bus.Connect(natsURL, a.nats, "lynkr-"+strings.Join(targets, "+")+"-"+bus.Token(host, "host"), a.auth, a.log)
	if err != nil {
		return nil, err
	}
	a.nc = nc
	a.closers = append(a.closers, nc.Close)
	return nc, nil
}

// close stops what the App started, in reverse order; nil-safe, for an App half built.
func (a *App) close() {
	if a == nil {
		return
	}
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
