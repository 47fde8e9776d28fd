// Command aggregator runs lynkr's aggregator: the cluster view of every gateway and worker.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/services/aggregator/aggregator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := aggregator.Main(ctx, os.LookupEnv, os.Stderr)
	stop()
	os.Exit(config.Report(os.Stderr, "aggregator", err))
}
