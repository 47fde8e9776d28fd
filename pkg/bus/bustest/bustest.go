// Package bustest starts the bus for tests: an embedded nats-server with JetStream, and
// connections to it, each released when the test ends.
package bustest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/natsserver"
)

// Server starts an embedded nats-server with JetStream, its store in a temporary directory.
// It shuts down when the test ends, after the connections opened with Conn have closed.
func Server(tb testing.TB) *server.Server {
	tb.Helper()
	s, err := natsserver.Start(natsserver.Config{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Conn opens a connection to s named name, as a process of its own would. It closes when the
// test ends.
func Conn(tb testing.TB, s *server.Server, name string) *nats.Conn {
	tb.Helper()
	nc, err := bus.Connect("", s, name, bus.ClientAuth{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// WaitViolation waits up to 10 s for the server to report a permission violation on nc whose
// message names what, and fails the test if none comes.
func WaitViolation(tb testing.TB, nc *nats.Conn, what string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), what) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("no permission violation for %s; last error %v", what, nc.LastError())
}

// WriteFile writes body to dir/name, readable by its owner only, and returns its path.
func WriteFile(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// FreePort returns a TCP port on loopback that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
