// Command worker runs one lynkr provider worker of the distributed mode.
package main

import (
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/lynkr/lynkr/services/worker/worker"
)

func main() { process.Exec("worker", process.NoArgs(worker.Main)) }
