package cluster

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

func readyStatus(base string) int {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(base + "/health/ready")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// /health/ready of a gateway and a worker goes 503 while their NATS server is down and back to
// 200 when it returns (same port, same store).
func TestReadinessFollowsNATS(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Echo: true}))
	t.Cleanup(fake.Close)
	natsPort, natsDir := harness.FreePort(t), t.TempDir()
	natsURL, natsProc := harness.NATSAt(t, bin, natsPort, natsDir)
	workerPort := harness.FreePort(t)
	harness.Start(t, "worker", bin.Worker, workerEnv(natsURL, fake.URL(), map[string]string{
		"WORKER_ID": "worker-1", "WORKER_PORT": strconv.Itoa(workerPort), "HOST": "127.0.0.1"}))
	gwPort := harness.FreePort(t)
	harness.Start(t, "gateway", bin.Gateway, map[string]string{
		"NATS_URL": natsURL, "MODEL_PROVIDER": "openai", "HOST": "127.0.0.1", "PORT": strconv.Itoa(gwPort),
		"GATEWAY_ID": "gateway-1", "LOG_LEVEL": "warn",
	})
	gw, wk := fmt.Sprintf("http://127.0.0.1:%d", gwPort), fmt.Sprintf("http://127.0.0.1:%d", workerPort)
	waitReady(t, gw)
	waitReady(t, wk)

	natsProc.Kill()
	down := time.Now()
	waitFor(t, 10*time.Second, "the gateway's readiness to fail without NATS", func() bool { return readyStatus(gw) == http.StatusServiceUnavailable })
	waitFor(t, 10*time.Second, "the worker's readiness to fail without NATS", func() bool { return readyStatus(wk) == http.StatusServiceUnavailable })
	t.Logf("both not ready %v after NATS died", time.Since(down).Round(time.Millisecond))
	if resp, err := http.Get(gw + "/health/live"); err != nil || resp.Body.Close() != nil || resp.StatusCode != http.StatusOK {
		t.Fatal("the gateway stopped answering HTTP while NATS was down")
	}

	harness.NATSAt(t, bin, natsPort, natsDir)
	back := time.Now()
	waitFor(t, 20*time.Second, "the gateway to be ready again", func() bool { return readyStatus(gw) == http.StatusOK })
	waitFor(t, 20*time.Second, "the worker to be ready again", func() bool { return readyStatus(wk) == http.StatusOK })
	t.Logf("both ready %v after NATS returned", time.Since(back).Round(time.Millisecond))
	got, err := send(context.Background(), http.DefaultClient, gw, chatPlain, "after the outage")
	if err != nil || got != "echo: after the outage" {
		t.Fatalf("request after NATS returned: %q, %v", got, err)
	}
}

// At SIGTERM a gateway's readiness fails at once, while for SHUTDOWN_READINESS_DELAY it still
// answers requests; then it stops accepting and exits 0. A worker's readiness fails at once too.
func TestReadinessFailsWhenShutdownBegins(t *testing.T) {
	c := startClusterWith(t, 1, 1, map[string]string{"WORKER_PORT": "0"},
		map[string]string{"SHUTDOWN_READINESS_DELAY": "3000"}, fakeupstream.Reply{Echo: true})
	gw := c.gateways[0]
	if code := readyStatus(gw); code != http.StatusOK {
		t.Fatalf("ready before shutdown: %d", code)
	}
	if err := c.gwProcs[0].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sig := time.Now()
	waitFor(t, time.Second, "readiness to fail after SIGTERM", func() bool { return readyStatus(gw) == http.StatusServiceUnavailable })
	t.Logf("not ready %v after SIGTERM", time.Since(sig).Round(time.Millisecond))
	got, err := send(context.Background(), http.DefaultClient, gw, chatPlain, "still served")
	if err != nil || got != "echo: still served" {
		t.Fatalf("request during the readiness delay: %q, %v", got, err)
	}
	if time.Since(sig) > 3*time.Second {
		t.Fatal("the checks took longer than the readiness delay; the test proves nothing")
	}
	if code := c.gwProcs[0].Wait(30 * time.Second); code != 0 {
		t.Fatalf("gateway exit code %d, want 0", code)
	}
}

// A worker's readiness fails as soon as its graceful shutdown begins, while it finishes the
// request it holds.
func TestWorkerReadinessFailsWhenShutdownBegins(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Echo: true, HeaderDelay: 1500 * time.Millisecond}))
	t.Cleanup(fake.Close)
	natsURL, _ := harness.NATS(t, bin)
	workerPort := harness.FreePort(t)
	w := harness.Start(t, "worker", bin.Worker, workerEnv(natsURL, fake.URL(), map[string]string{
		"WORKER_ID": "worker-1", "WORKER_PORT": strconv.Itoa(workerPort), "HOST": "127.0.0.1"}))
	gwPort := harness.FreePort(t)
	harness.Start(t, "gateway", bin.Gateway, map[string]string{
		"NATS_URL": natsURL, "MODEL_PROVIDER": "openai", "HOST": "127.0.0.1", "PORT": strconv.Itoa(gwPort),
		"GATEWAY_ID": "gateway-1", "LOG_LEVEL": "warn",
	})
	gw, wk := fmt.Sprintf("http://127.0.0.1:%d", gwPort), fmt.Sprintf("http://127.0.0.1:%d", workerPort)
	waitReady(t, gw)
	waitReady(t, wk)
	done := make(chan error, 1)
	go func() {
		got, err := send(context.Background(), http.DefaultClient, gw, chatPlain, "finish me")
		if err == nil && got != "echo: finish me" {
			err = fmt.Errorf("answer %q", got)
		}
		done <- err
	}()
	waitFor(t, 5*time.Second, "the request at the upstream", func() bool { return fake.InFlight() == 1 })
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the worker's readiness to fail", func() bool { return readyStatus(wk) == http.StatusServiceUnavailable })
	if err := <-done; err != nil {
		t.Fatalf("the request the worker held: %v", err)
	}
	if code := w.Wait(30 * time.Second); code != 0 {
		t.Fatalf("worker exit code %d, want 0", code)
	}
}
