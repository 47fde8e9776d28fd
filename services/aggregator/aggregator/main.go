package aggregator

import (
	"context"
	"errors"
	"io"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/gcpolicy"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/shed"
)

// Main runs an aggregator of the distributed mode until ctx ends: settings from lookup, logs
// to stderr, the bus at NATS_URL, HTTP on HOST:PORT. Every setting is read and checked before
// anything starts or logs: a bad one is returned as a config.ErrBadSetting error, one line
// naming the variable.
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
		return config.Bad(errors.New("NATS_URL is required: the aggregator service joins a NATS cluster (go run ./services/lynkr runs everything in one process with an embedded server)"))
	}
	log, logFile, err := logging.Open(logCfg, stderr)
	if err != nil {
		return config.Bad(err) // a LOG_FILE_PATH lynkr cannot write
	}
	defer logFile.Close()
	log.Info("garbage collector", gcpolicy.Apply(lookup, shed.MemoryLimit).LogArgs()...)
	defer gcpolicy.StartReclaim()() // gives memory back after bursts
	nc, err := bus.Connect(cfg.NATSURL, nil, "lynkr-aggregator-"+cfg.Instance, cfg.NATSAuth, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	reg := metrics.NewRegistry()
	a, err := New(ctx, cfg, Deps{NATS: nc, Logger: log, Metrics: reg})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
