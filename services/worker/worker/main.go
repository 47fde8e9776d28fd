package worker

import (
	"context"
	"io"
	"net/http"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/lifecycle"
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/telemetry"
)

// Main runs a worker of the distributed mode until ctx ends: settings from lookup, logs to
// stderr, the bus at NATS_URL. It is the all-in-one's modules with the target "worker".
// Every setting, the providers' included, is read and checked before anything starts or
// logs: a bad one is returned as a config.ErrBadSetting error, one line naming the variable.
func Main(ctx context.Context, lookup config.Lookup, stderr io.Writer) error {
	return process.Main(ctx, lookup, stderr, func(p *process.Process) (process.Plan, error) {
		cfg, err := ConfigFromEnv(lookup)
		if err != nil {
			return process.Plan{}, err
		}
		plan, err := p.Join(process.Service{Name: "worker", NATSURL: cfg.NATSURL, Instance: cfg.Instance, Auth: cfg.NATSAuth, Traced: true})
		if err != nil {
			return plan, err
		}
		ps, err := provider.Load(lookup)
		plan.Modules = append(plan.Modules, Module(p, cfg, ps))
		return plan, err
	})
}

// Module is the worker as the module named "worker" of p's process, calling the providers
// ps: it starts once the telemetry and bus modules are ready and is ready once it has
// announced its providers, so that a gateway started after it in the same process finds them.
func Module(p *process.Process, cfg Config, ps *provider.Set) lifecycle.Module {
	var w *Worker
	return lifecycle.Module{
		Name: "worker",
		Deps: []string{"telemetry", "bus"},
		Start: func(ctx context.Context) error {
			hc := &http.Client{Transport: telemetry.Transport(provider.NewTransport(p.Lookup), p.Tracer)}
			var err error
			w, err = New(ctx, cfg, Deps{NATS: p.NATS, Logger: p.Log, Providers: ps, HTTP: hc, Metrics: p.Metrics, Tracer: p.Tracer})
			return err
		},
		Run:   func(ctx context.Context) error { return w.Run(ctx) },
		Ready: func() <-chan struct{} { return w.Announced() },
	}
}
