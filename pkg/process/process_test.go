package process

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/lifecycle"
)

// TestMainBadSetting: a bad setting, the logging's or load's, is a config.ErrBadSetting error
// returned before anything is logged or started.
func TestMainBadSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"logging", map[string]string{"LOG_LEVEL": "loud", "NATS_URL": "nats://127.0.0.1:1"}, "LOG_LEVEL="},
		{"no NATS_URL", nil, "NATS_URL is required: the gateway service"},
		{"telemetry", map[string]string{"NATS_URL": "nats://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			started := false
			err := Main(context.Background(), config.Map(tc.env), &stderr, func(p *Process) (Plan, error) {
				plan, err := p.Join(Service{Name: "gateway", NATSURL: tc.env["NATS_URL"], Instance: "g1", Traced: true})
				plan.Modules = append(plan.Modules, lifecycle.Module{Name: "gateway", Start: func(context.Context) error { started = true; return nil }})
				return plan, err
			})
			if !errors.Is(err, config.ErrBadSetting) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Main: %v, want a bad setting starting %q", err, tc.want)
			}
			if started || stderr.Len() != 0 {
				t.Errorf("started %v, logged %q: want neither", started, stderr.String())
			}
		})
	}
}

// TestMainRunsTheTarget runs a plan against a real server, reached in process as the
// all-in-one reaches its embedded one: the bus module connects before the target starts, the
// target runs until ctx ends, and the connection is closed once Main returns, with no error
// for the end of ctx.
func TestMainRunsTheTarget(t *testing.T) {
	srv := bustest.Server(t)
	ctx, cancel := context.WithCancel(context.Background())
	var p *Process
	var stderr bytes.Buffer
	err := Main(ctx, config.Map(map[string]string{"LOG_LEVEL": "warn"}), &stderr, func(proc *Process) (Plan, error) {
		p = proc
		return Plan{Targets: []string{"worker"}, Modules: []lifecycle.Module{
			p.Bus(&Dial{In: srv, Name: "lynkr-test"}),
			{
				Name: "worker",
				Deps: []string{"bus"},
				Start: func(context.Context) error {
					if p.NATS == nil || !p.NATS.IsConnected() {
						return errors.New("started before the bus")
					}
					return nil
				},
				Run: func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() },
			},
		}}, nil
	})
	if err != nil {
		t.Fatalf("Main: %v (log: %s)", err, stderr.String())
	}
	if !p.NATS.IsClosed() {
		t.Error("the bus connection is still open after Main returned")
	}
}

// TestJoin: a service binary's plan is its telemetry, if traced, and the bus, for its own
// target.
func TestJoin(t *testing.T) {
	for _, traced := range []bool{false, true} {
		p := &Process{Lookup: config.Map(nil)}
		plan, err := p.Join(Service{Name: "worker", NATSURL: "nats://127.0.0.1:1", Instance: "w1", Traced: traced})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range plan.Modules {
			names = append(names, m.Name)
		}
		want := "bus"
		if traced {
			want = "telemetry,bus"
		}
		if strings.Join(names, ",") != want || strings.Join(plan.Targets, ",") != "worker" {
			t.Errorf("traced %v: modules %v, targets %v; want %s and worker", traced, names, plan.Targets, want)
		}
	}
}
