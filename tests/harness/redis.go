package harness

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Redis starts a redis-server process on a free port and returns its URL. The binary comes
// from the system (CI installs Debian's redis-server).
func Redis(t testing.TB) (string, *Proc) {
	t.Helper()
	r := StartRedis(t)
	return r.URL, r.proc
}

// RedisServer is a redis-server process that can be killed and started again on its port
// with its data, as a Redis with an append-only file comes back after a crash.
type RedisServer struct {
	URL  string
	t    testing.TB
	bin  string
	port int
	dir  string
	proc *Proc
}

// StartRedis starts a redis-server on a free port, keeping every write in an append-only
// file in the test's temporary directory.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (apt-get install redis-server): these tests run against a real Redis")
	}
	port := FreePort(t)
	r := &RedisServer{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), t: t, bin: bin, port: port, dir: t.TempDir()}
	r.Start()
	return r
}

// Start starts the server (again) and waits until it takes connections.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.proc = Start(r.t, "redis-server", r.bin, nil, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	WaitTCP(r.t, fmt.Sprintf("127.0.0.1:%d", r.port), 10*time.Second)
}

// Kill kills the server with SIGKILL.
func (r *RedisServer) Kill() { r.proc.Kill() }
