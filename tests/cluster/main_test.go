// Package cluster tests lynkr as separate processes: a real nats-server, gateways and workers
// built from this workspace, each its own OS process, with a fake upstream provider on
// loopback standing for the internet.
package cluster

import (
	"fmt"
	"os"
	"testing"

	"github.com/lynkr/lynkr/tests/harness"
)

var bin *harness.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lynkr-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = harness.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
