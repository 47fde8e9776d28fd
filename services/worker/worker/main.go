package worker

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/gcpolicy"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/pkg/telemetry"
)

// Main runs a worker of the distributed mode until ctx ends: settings from lookup, logs to
// stderr, the bus at NATS_URL. Every setting, the providers' included, is read and checked
// before anything starts or logs: a bad one is returned as a config.ErrBadSetting error, one
// line naming the variable.
func Main(ctx context.Context, lookup config.Lookup, stderr io.Writer) error {
	logCfg, err := logging.ConfigFromEnv(lookup)
	if err != nil {
		return config.Bad(err)
	}
	cfg, err := ConfigFromEnv(lookup)
	if err != nil {
		return config.Bad(err)
	}
	if cfg.NATSURL == "" {
		return config.Bad(errors.New("NATS_URL is required: the worker service joins a NATS cluster (go run ./services/lynkr runs everything in one process with an embedded server)"))
	}
	ps, err := provider.Load(lookup)
	if err != nil {
		return config.Bad(err)
	}
	tcfg, err := telemetry.ConfigFromEnv(lookup)
	if err != nil {
		return config.Bad(err)
	}
	if tcfg.InstanceID == "" {
		tcfg.InstanceID = cfg.Instance
	}
	log, logFile, err := logging.Open(logCfg, stderr)
	if err != nil {
		return config.Bad(err) // a LOG_FILE_PATH lynkr cannot write
	}
	defer logFile.Close()
	log.Info("garbage collector", gcpolicy.Apply(lookup, shed.MemoryLimit).LogArgs()...)
	defer gcpolicy.StartReclaim()() // gives memory back after bursts
	nc, err := bus.Connect(cfg.NATSURL, nil, "lynkr-worker-"+cfg.Instance, cfg.NATSAuth, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	tp, shutdown, err := telemetry.NewTracerProvider(ctx, tcfg, "lynkr-worker")
	if err != nil {
		return err
	}
	defer telemetry.Flush(shutdown)
	hc := &http.Client{Transport: telemetry.Transport(provider.NewTransport(lookup), tp)}
	w, err := New(ctx, cfg, Deps{NATS: nc, Logger: log, Providers: ps, HTTP: hc, Metrics: metrics.NewRegistry(), Tracer: tp})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
