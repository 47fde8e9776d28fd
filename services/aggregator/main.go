// Command aggregator runs lynkr's aggregator: the cluster view of every gateway and worker.
package main

import (
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/lynkr/lynkr/services/aggregator/aggregator"
)

func main() { process.Exec("aggregator", process.NoArgs(aggregator.Main)) }
