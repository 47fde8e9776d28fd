// Command gateway runs one lynkr gateway instance of the distributed mode.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/services/gateway/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := gateway.Main(ctx, os.LookupEnv, os.Stderr)
	stop()
	os.Exit(config.Report(os.Stderr, "gateway", err))
}
