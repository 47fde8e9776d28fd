// Package harness runs lynkr's real processes for the tests that need several of them: a
// nats-server, gateways and workers built from this workspace, each its own OS process that a
// test can signal or kill.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries are the programs a test runs, built once per test binary.
type Binaries struct {
	Dir        string
	Gateway    string
	Worker     string
	Lynkr      string
	Aggregator string
	NATSServer string
}

// Build compiles the services and nats-server into dir. Call it from TestMain.
func Build(dir string) (*Binaries, error) {
	b := &Binaries{
		Dir:        dir,
		Gateway:    filepath.Join(dir, "gateway"),
		Worker:     filepath.Join(dir, "worker"),
		Lynkr:      filepath.Join(dir, "lynkr"),
		Aggregator: filepath.Join(dir, "aggregator"),
		NATSServer: filepath.Join(dir, "nats-server"),
	}
	root, err := workspaceRoot()
	if err != nil {
		return nil, err
	}
	for out, pkg := range map[string]string{
		b.Gateway:    "./services/gateway",
		b.Worker:     "./services/worker",
		b.Lynkr:      "./services/lynkr",
		b.Aggregator: "./services/aggregator",
		b.NATSServer: "github.com/nats-io/nats-server/v2",
	} {
		// The processes are built without the race detector: the in-process tests run the same
		// code under it, and these tests need the speed of many processes on two cores.
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

// workspaceRoot finds the directory of go.work above the working directory.
func workspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the test's directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on loopback that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Proc is one running process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

type lockedWriter struct{ p *Proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Start runs bin with env (on top of PATH and HOME) and stops it when the test ends. The
// output is kept and printed if the test fails.
func Start(t testing.TB, name, bin string, env map[string]string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.Output())
		}
	})
	return p
}

// Output is what the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Signal sends sig.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the process to exit, up to d, and returns its exit code (-1 if it did not
// exit in time).
func (p *Proc) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// NATS starts a nats-server process with JetStream on a free port and returns its URL.
func NATS(t testing.TB, b *Binaries) (string, *Proc) {
	t.Helper()
	return NATSAt(t, b, FreePort(t), t.TempDir())
}

// NATSAt starts a nats-server process on port with its configuration and JetStream store in
// dir: starting one again with the same port and dir restarts the same server.
func NATSAt(t testing.TB, b *Binaries, port int, dir string) (string, *Proc) {
	t.Helper()
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: %d\njetstream {\n  store_dir: %q\n}\n", port, 8<<20+64<<10, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := Start(t, "nats-server", b.NATSServer, nil, "-c", conf)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return url, p
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not accept connections within %s", addr, d)
}
