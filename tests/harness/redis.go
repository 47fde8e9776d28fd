package harness

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Redis starts a redis-server process on a free port, without persistence, and returns its
// URL. The binary comes from the system (CI installs Debian's redis-server).
func Redis(t testing.TB) (string, *Proc) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (apt-get install redis-server): the shared limiter is tested against a real Redis")
	}
	port := FreePort(t)
	p := Start(t, "redis-server", bin, nil,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), p
}
