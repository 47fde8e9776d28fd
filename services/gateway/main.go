// Command gateway runs one lynkr gateway instance of the distributed mode.
package main

import (
	"github.com/lynkr/lynkr/pkg/process"
	"github.com/lynkr/lynkr/services/gateway/gateway"
)

func main() { process.Exec("gateway", process.NoArgs(gateway.Main)) }
