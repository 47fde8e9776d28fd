// Command worker runs one lynkr provider worker of the distributed mode.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/services/worker/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := worker.Main(ctx, os.LookupEnv, os.Stderr)
	stop()
	os.Exit(config.Report(os.Stderr, "worker", err))
}
