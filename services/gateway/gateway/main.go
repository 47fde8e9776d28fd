package gateway

import (
	"context"
	"io"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/lifecycle"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/redis/go-redis/v9"
)

// Main runs a gateway of the distributed mode until ctx ends: settings from lookup, logs to
// stderr, the bus at NATS_URL. It is the all-in-one's modules with the target "gateway".
// Every setting is read and checked before anything starts or logs: a bad one is returned as
// a config.ErrBadSetting error, one line naming the variable.
func Main(ctx context.Context, lookup config.Lookup, stderr io.Writer) error {
	return process.Main(ctx, lookup, stderr, func(p *process.Process) (process.Plan, error) {
		cfg, err := ConfigFromEnv(lookup)
		if err != nil {
			return process.Plan{}, err
		}
		plan, err := p.Join(process.Service{Name: "gateway", NATSURL: cfg.NATSURL, Instance: cfg.Instance, Auth: cfg.NATSAuth, Traced: true})
		plan.Modules = append(plan.Modules, Module(p, cfg, nil))
		return plan, err
	})
}

// Module is the gateway as the module named "gateway" of p's process: it starts once the
// telemetry and bus modules are ready, serves p's Routes beside its own, is ready once it
// serves, and closes what it holds when it stops. If made is not nil, Start keeps the
// gateway in *made.
func Module(p *process.Process, cfg Config, made **Gateway) lifecycle.Module {
	var g *Gateway
	return lifecycle.Module{
		Name: "gateway",
		Deps: []string{"telemetry", "bus"},
		Start: func(ctx context.Context) error {
			redis.SetLogger(logging.Redis{Log: p.Log}) // the client's own lines, as JSON like the rest
			var err error
			g, err = New(ctx, cfg, Deps{NATS: p.NATS, Logger: p.Log, Metrics: p.Metrics, Tracer: p.Tracer, Handlers: p.Routes})
			if made != nil {
				*made = g
			}
			return err
		},
		Run:   func(ctx context.Context) error { return g.Run(ctx) },
		Ready: func() <-chan struct{} { return g.Ready() },
		Stop:  func() { g.Close() },
	}
}
