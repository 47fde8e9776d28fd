package aggregator

import (
	"context"
	"io"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/lifecycle"
	"github.com/lynkr/lynkr/pkg/process"
)

// Main runs an aggregator of the distributed mode until ctx ends: settings from lookup, logs
// to stderr, the bus at NATS_URL, HTTP on HOST:PORT. It is the all-in-one's modules with the
// target "aggregator". Every setting is read and checked before anything starts or logs: a
// bad one is returned as a config.ErrBadSetting error, one line naming the variable.
func Main(ctx context.Context, lookup config.Lookup, stderr io.Writer) error {
	return process.Main(ctx, lookup, stderr, func(p *process.Process) (process.Plan, error) {
		cfg, err := ConfigFromEnv(lookup)
		if err != nil {
			return process.Plan{}, err
		}
		plan, err := p.Join(process.Service{Name: "aggregator", NATSURL: cfg.NATSURL, Instance: cfg.Instance, Auth: cfg.NATSAuth})
		plan.Modules = append(plan.Modules, Module(p, cfg))
		return plan, err
	})
}

// Module is the aggregator as the module named "aggregator" of p's process: it starts once
// the bus module is ready and mounts its cluster view on p's Routes, which a gateway started
// after it in the same process serves; it serves the view itself on cfg.Addr, if set.
func Module(p *process.Process, cfg Config) lifecycle.Module {
	var a *Aggregator
	return lifecycle.Module{
		Name: "aggregator",
		Deps: []string{"bus"},
		Start: func(ctx context.Context) error {
			var err error
			if a, err = New(ctx, cfg, Deps{NATS: p.NATS, Logger: p.Log, Metrics: p.Metrics}); err != nil {
				return err
			}
			h := a.Handler()
			p.Mount("/cluster", h)
			p.Mount("/cluster/*", h)
			return nil
		},
		Run: func(ctx context.Context) error { return a.Run(ctx) },
	}
}
