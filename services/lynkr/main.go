// Command lynkr runs the whole gateway in one process: an embedded NATS server with
// JetStream, the gateway and the provider workers, on the very same bus path a cluster uses.
//
//	go run ./services/lynkr                  # everything
//	go run ./services/lynkr -target gateway  # one part, against NATS_URL
package main

import (
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/lynkr/lynkr/services/lynkr/app"
)

func main() { process.Exec("lynkr", app.Main) }
