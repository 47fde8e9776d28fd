// Package process is the start-up every lynkr command shares, and the parts its modules
// share: a command reads and checks its settings, opens its log, applies the GC policy, then
// runs its modules under one lifecycle (pkg/lifecycle). The all-in-one and each service
// binary are the same modules with a different target list; this package holds the modules
// they all have (telemetry, the bus connection) and leaves the embedded NATS server to the
// all-in-one, which adds it as a module of its own, so that a service binary, which only
// connects, does not link nats-server.
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/gcpolicy"
	"github.com/lynkr/lynkr/pkg/lifecycle"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/pkg/telemetry"
)

// Process is what the modules of one process share. Main makes it before the settings are
// read; the modules' Start functions fill in the rest as they run, each after the modules it
// depends on.
type Process struct {
	Log    *slog.Logger
	Lookup config.Lookup
	// Metrics is the one registry every part registers on.
	Metrics *prometheus.Registry
	// Tracer is set by the telemetry module, or by the caller beforehand (tests pass one that
	// records in memory), in which case that module leaves it alone.
	Tracer trace.TracerProvider
	// NATS is the process's bus connection, opened by the bus module and shared by every part.
	NATS *nats.Conn
	// Routes are the HTTP routes parts offer beyond their own servers: the gateway, when it
	// runs in this process, serves them beside its own (the aggregator's cluster view).
	Routes map[string]http.Handler

	flushTraces func(context.Context) error // nil when the tracer is the caller's
}

// Plan is what a command runs: the modules it knows and the targets it starts.
type Plan struct {
	Modules []lifecycle.Module
	Targets []string
}

// Main runs a command until ctx ends: it reads the logging settings, then calls load, which
// reads and checks every other setting and returns the plan; only then does it open the log
// on stderr, apply the GC policy and start the plan's targets. An error of reading a setting
// (load's included) is returned as a config.ErrBadSetting error, before anything starts or
// logs; config.Report prints it as one line and gives the exit status. The plan of a load
// that fails is not used.
func Main(ctx context.Context, lookup config.Lookup, stderr io.Writer, load func(*Process) (Plan, error)) error {
	logCfg, err := logging.ConfigFromEnv(lookup)
	if err != nil {
		return config.Bad(err)
	}
	p := &Process{Lookup: lookup, Metrics: metrics.NewRegistry()}
	plan, err := load(p)
	if err != nil {
		return config.Bad(err)
	}
	log, logFile, err := logging.Open(logCfg, stderr)
	if err != nil {
		return config.Bad(err) // a LOG_FILE_PATH lynkr cannot write
	}
	defer logFile.Close()
	p.Log = log
	log.Info("garbage collector", gcpolicy.Apply(lookup, shed.MemoryLimit).LogArgs()...)
	defer gcpolicy.StartReclaim()() // gives memory back after bursts
	running, err := p.Start(ctx, plan)
	if err != nil {
		return err
	}
	return Wait(ctx, running)
}

// Start starts plan's targets and what they need, each ready before the next starts. A part
// failing to start stops those started and returns its error. A start-up that ctx ended is
// not a failure: it returns a nil Running and no error.
func (p *Process) Start(ctx context.Context, plan Plan) (*lifecycle.Running, error) {
	m, err := lifecycle.New(plan.Modules...)
	if err != nil {
		return nil, err
	}
	running, err := m.Start(ctx, plan.Targets...)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil, nil // told to stop while starting
	}
	return running, err
}

// Wait waits until ctx ends or a part fails, then stops the parts in the reverse order of
// their start, each after the last has returned. It returns the failure, if any; an end of
// ctx is not one. A nil running, a start-up ctx ended, has nothing to wait for.
func Wait(ctx context.Context, running *lifecycle.Running) error {
	if running == nil {
		return nil
	}
	err := running.Wait(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Telemetry is the module named "telemetry": the tracer of cfg, naming the process service,
// unless the caller set one; its spans are flushed when it stops.
func (p *Process) Telemetry(cfg telemetry.Config, service string) lifecycle.Module {
	return lifecycle.Module{
		Name: "telemetry",
		Start: func(ctx context.Context) error {
			if p.Tracer != nil {
				return nil // the caller's
			}
			tp, shutdown, err := telemetry.NewTracerProvider(ctx, cfg, service)
			if err != nil {
				return err
			}
			p.Tracer, p.flushTraces = tp, shutdown
			return nil
		},
		Stop: func() {
			if p.flushTraces != nil {
				telemetry.Flush(p.flushTraces)
			}
		},
	}
}

// Dial says how the bus module connects: to URL, or, when URL is empty, to the server in this
// process that In reaches. The module that starts an embedded server sets In, and Auth if the
// server asks for its own credentials, before the bus module starts.
type Dial struct {
	URL  string
	In   nats.InProcessConnProvider
	Name string // the connection's name, as the server's monitoring shows it
	Auth bus.ClientAuth
}

// Bus is the module named "bus": the process's one NATS connection (see Process.NATS), opened
// as d says once deps are ready and closed after every part using it has stopped.
func (p *Process) Bus(d *Dial, deps ...string) lifecycle.Module {
	return lifecycle.Module{
		Name: "bus",
		Deps: deps,
		Start: func(context.Context) error {
			nc, err := bus.Connect(d.URL, d.In, d.Name, d.Auth, p.Log)
			if err != nil {
				return err
			}
			p.NATS = nc
			return nil
		},
		Stop: func() { p.NATS.Close() },
	}
}

// Mount offers h on pattern to the process's HTTP server (see Routes).
func (p *Process) Mount(pattern string, h http.Handler) {
	if p.Routes == nil {
		p.Routes = map[string]http.Handler{}
	}
	p.Routes[pattern] = h
}

// Service is how a service binary joins the cluster, as its settings say.
type Service struct {
	Name     string // "gateway", "worker", "aggregator": the module and the target
	NATSURL  string
	Instance string // the service's instance: names its connection and, by default, its traces
	Auth     bus.ClientAuth
	Traced   bool // the service sends traces: the telemetry module, from the OTEL_* settings
}

// Join is the plan of a service binary before its own module: the telemetry module if s is
// traced, the bus module joining the NATS cluster at s.NATSURL, and the target s.Name. The
// caller appends the module named s.Name. Without NATS_URL it is an error naming it, as are
// the OTEL_* settings' errors: only the all-in-one embeds a server.
func (p *Process) Join(s Service) (Plan, error) {
	if s.NATSURL == "" {
		return Plan{}, fmt.Errorf("NATS_URL is required: the %s service joins a NATS cluster (go run ./services/lynkr runs everything in one process with an embedded server)", s.Name)
	}
	plan := Plan{Targets: []string{s.Name}}
	if s.Traced {
		cfg, err := telemetry.ConfigFromEnv(p.Lookup)
		if err != nil {
			return Plan{}, err
		}
		if cfg.InstanceID == "" {
			cfg.InstanceID = s.Instance
		}
		plan.Modules = append(plan.Modules, p.Telemetry(cfg, "lynkr-"+s.Name))
	}
	dial := &Dial{URL: s.NATSURL, Name: "lynkr-" + s.Name + "-" + s.Instance, Auth: s.Auth}
	plan.Modules = append(plan.Modules, p.Bus(dial))
	return plan, nil
}

// Exec is a command's whole main: it runs main until SIGTERM or an interrupt, with the
// process's arguments, environment and stderr, and exits with its status — 0, or what
// config.Report says of its error (2 for a bad setting, one line naming it).
func Exec(name string, main func(ctx context.Context, args []string, lookup config.Lookup, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := main(ctx, os.Args[1:], os.LookupEnv, os.Stderr)
	stop()
	os.Exit(config.Report(os.Stderr, name, err))
}

// NoArgs adapts the Main of a command that takes no arguments to Exec.
func NoArgs(main func(ctx context.Context, lookup config.Lookup, stderr io.Writer) error) func(context.Context, []string, config.Lookup, io.Writer) error {
	return func(ctx context.Context, _ []string, lookup config.Lookup, stderr io.Writer) error {
		return main(ctx, lookup, stderr)
	}
}
