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
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/natsserver"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/lifecycle"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/lynkr/lynkr/pkg/provider"
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
	a := &App{}
	return process.Main(ctx, lookup, stderr, func(p *process.Process) (process.Plan, error) {
		s, err := loadTargets(cfg)
		if err != nil {
			return process.Plan{}, err
		}
		a.process = p
		return a.plan(cfg, s), nil
	})
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

// App is the running process: its parts as lifecycle modules (see plan), and what they
// share.
type App struct {
	process *process.Process
	running *lifecycle.Running // nil if told to stop while starting
	nats    *server.Server     // nil when NATS_URL names an external server
	gateway *gateway.Gateway
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
		if slices.Contains(cfg.Targets, "gateway") {
			wcfg.Addr = "" // the gateway serves this process's /metrics and health
		}
		wcfg.Streams.MemoryRequests = s.natsURL == "" // the embedded server's
		s.worker = &wcfg
	}
	if slices.Contains(cfg.Targets, "aggregator") {
		acfg, err := aggregator.ConfigFromEnv(cfg.Lookup)
		if err != nil {
			return s, err
		}
		if slices.Contains(cfg.Targets, "gateway") {
			acfg.Addr = "" // the gateway serves the cluster view on its own port, beside its metrics
		}
		s.aggregator = &acfg
	}
	if slices.Contains(cfg.Targets, "gateway") {
		gcfg, err := gateway.ConfigFromEnv(loopbackByDefault(cfg.Lookup))
		if err != nil {
			return s, err
		}
		gcfg.Streams.MemoryRequests = s.natsURL == "" // the embedded server's
		if gcfg.Tenancy.StorePath == "" {
			gcfg.Tenancy.StorePath = filepath.Join(s.dataDir, "tenants.db")
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

// New reads the settings of cfg's targets and starts them, with log: the embedded server if
// there is no NATS_URL, the bus connection, telemetry, then the targets, each ready before
// the next starts. A bad setting is a config.ErrBadSetting error, returned before anything
// starts; a part failing to start stops those started and returns its error. Run stops what
// New started.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	s, err := load(cfg)
	if err != nil {
		return nil, err
	}
	p := &process.Process{Log: log, Lookup: cfg.Lookup, Metrics: cfg.Metrics, Tracer: cfg.Tracer}
	if p.Metrics == nil {
		p.Metrics = metrics.NewRegistry() // one registry for the whole process: the gateway serves it on /metrics
	}
	a := &App{process: p}
	if a.running, err = p.Start(ctx, a.plan(cfg, s)); err != nil {
		return nil, err
	}
	return a, nil
}

// plan is the modules the process can run and the targets it starts: cfg's, after the
// profiler if PPROF_ADDR asks for it. They are the service binaries' modules, with the
// embedded server and the profiler added. A target's dependencies start before it and stop
// after it: the gateway, when it runs here, after the worker and the aggregator, so that it
// takes its first request once the worker has announced its providers, mounts the
// aggregator's cluster view, and drains before the worker stops.
func (a *App) plan(cfg Config, s settings) process.Plan {
	p := a.process
	host, _ := os.Hostname()
	// The process's one NATS connection, named for the parts it carries and the host, carries
	// the bus traffic of every part: the gateway's publishes and the worker's deliveries and
	// answers share its write buffer and its reader, so one write and one read carry several
	// messages. Measured with the gateway and the worker on one core: 87 µs of CPU a request
	// with a connection each, 72 µs sharing one; on two cores, a connection each gave 0.177 of
	// direct throughput against 0.184.
	dial := &process.Dial{URL: s.natsURL, Name: "lynkr-" + strings.Join(cfg.Targets, "+") + "-" + bus.Token(host, "host"), Auth: s.natsAuth}
	modules := []lifecycle.Module{
		{Name: "pprof", Run: func(ctx context.Context) error { a.servePprof(ctx, s.pprofAddr); return nil }},
		p.Telemetry(s.telemetry, "lynkr"),
		{Name: "nats", Start: func(context.Context) error { return a.startNATS(s, dial) }, Stop: a.stopNATS},
		p.Bus(dial, "nats"),
	}
	if s.worker != nil {
		w := worker.Module(p, *s.worker, s.providers)
		start := w.Start
		w.Start = func(ctx context.Context) error {
			ps := s.providers
			pr, _ := ps.Get(ps.Default())
			p.Log.Info(fmt.Sprintf("requests go to the %v", pr), "provider", ps.Default(), "providers", ps.Names())
			return start(ctx)
		}
		modules = append(modules, w)
	}
	if s.aggregator != nil {
		modules = append(modules, aggregator.Module(p, *s.aggregator))
	}
	if s.gateway != nil {
		g := gateway.Module(p, *s.gateway, &a.gateway)
		for _, t := range []string{"worker", "aggregator"} {
			if slices.Contains(cfg.Targets, t) {
				g.Deps = append(g.Deps, t)
			}
		}
		modules = append(modules, g)
	}
	targets := cfg.Targets
	if s.pprofAddr != "" {
		targets = append([]string{"pprof"}, targets...)
	}
	return process.Plan{Modules: modules, Targets: targets}
}

// servePprof serves Go's profiler, for an operator chasing CPU or memory, until ctx ends; off
// unless PPROF_ADDR asks for it. A profiler that cannot listen stops nothing else.
func (a *App) servePprof(ctx context.Context, addr string) {
	srv := &http.Server{Addr: addr, Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	var closer sync.WaitGroup
	defer closer.Wait()
	closer.Go(func() { <-ctx.Done(); _ = srv.Close() })
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		a.process.Log.Warn("profiler not served", "addr", addr, "error", err)
	}
}

// startNATS starts the embedded server, unless NATS_URL names an external one, and points
// dial, the bus module's, at it.
func (a *App) startNATS(s settings, dial *process.Dial) error {
	if s.natsURL != "" {
		return nil
	}
	ecfg := s.embedded
	if len(ecfg.Passwords) > 0 {
		// This process's own connections: a user of its own, in process only.
		internal, err := natsserver.NewInternalAuth()
		if err != nil {
			return err
		}
		ecfg.Internal, dial.Auth = internal, internal
	}
	srv, err := natsserver.Start(ecfg)
	if err != nil {
		return err
	}
	a.nats, dial.In = srv, srv
	listen := "" // this process only
	if addr := srv.Addr(); addr != nil {
		listen = addr.String()
	}
	log := a.process.Log
	if ecfg.ConfigFile != "" {
		log.Info("embedded NATS server with JetStream started", "config", ecfg.ConfigFile, "listen", listen)
	} else {
		log.Info("embedded NATS server with JetStream started", "store", ecfg.StoreDir, "listen", listen,
			"users", slices.Sorted(maps.Keys(ecfg.Passwords)), "tls", ecfg.TLSCert != "")
	}
	return nil
}

func (a *App) stopNATS() {
	if a.nats != nil {
		a.nats.Shutdown()
		a.nats.WaitForShutdown()
	}
}

// Gateway is the gateway part, when it runs.
func (a *App) Gateway() *gateway.Gateway { return a.gateway }

// Run waits until ctx ends or a part fails, then stops the parts in the reverse order of
// their start, each after the last has returned: the gateway first, so the requests it
// drains still find a worker, then the worker, then the bus.
func (a *App) Run(ctx context.Context) error { return process.Wait(ctx, a.running) }

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
