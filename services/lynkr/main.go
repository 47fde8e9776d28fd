// Command lynkr runs the whole gateway in one process: an embedded NATS server with
// JetStream, the gateway and the provider workers, on the very same bus path a cluster uses.
//
//	go run ./services/lynkr                  # everything
//	go run ./services/lynkr -target gateway  # one part, against NATS_URL
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/services/lynkr/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := app.Main(ctx, os.Args[1:], os.LookupEnv, os.Stderr)
	stop()
	os.Exit(config.Report(os.Stderr, "lynkr", err))
}
