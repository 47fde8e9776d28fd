package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// startStream sends a streamed Chat request and returns once its first event arrived: the
// answer is under way.
func startStream(t *testing.T, base, prompt string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":%q}]}`, prompt)
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream %q: status %d", prompt, resp.StatusCode)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatalf("stream %q: %v", prompt, err)
	}
}

// A gateway SIGKILLed while it holds streamed and non-streamed requests sends no cancellation;
// the workers find it gone (nobody answers their question whether it still holds the
// requests) and stop every upstream call within seconds, not at the request's deadline.
func TestAKilledGatewaysUpstreamCallsAreCanceled(t *testing.T) {
	// Streams trickle for 30 s; the non-streamed answers are held 30 s before their headers.
	stream := fakeupstream.Reply{Text: strings.Repeat("word ", 60), ChunkDelay: 500 * time.Millisecond}
	c := startCluster(t, 1, 2, nil, stream)
	c.fake.Enqueue(fakeupstream.Reply{Text: "late", HeaderDelay: 30 * time.Second}, fakeupstream.Reply{Text: "late", HeaderDelay: 30 * time.Second})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			_, _ = send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, fmt.Sprintf("held %d", i))
		})
	}
	waitFor(t, 10*time.Second, "the two non-streamed calls to reach the upstream", func() bool { return c.fake.InFlight() == 2 })
	startStream(t, c.gateways[0], "stream 1")
	startStream(t, c.gateways[0], "stream 2")
	if n := c.fake.InFlight(); n != 4 {
		t.Fatalf("%d upstream calls in flight, want 4", n)
	}

	c.gwProcs[0].Kill()
	killed := time.Now()
	waitFor(t, 5*time.Second, "every upstream call to be canceled within 5 s of the gateway's death", func() bool { return c.fake.InFlight() == 0 })
	t.Logf("all 4 upstream calls canceled %v after the gateway was killed", time.Since(killed).Round(time.Millisecond))
	wg.Wait()
	stopped := 0
	for _, w := range c.workers {
		if strings.Contains(w.Output(), "a gateway is gone") {
			stopped++
		}
	}
	if stopped == 0 {
		t.Error("no worker logged that it stopped the requests of the gone gateway")
	}
}

// With NATS down, a gateway answers 503 once JetStream has not confirmed a request within the
// accept timeout; its publish waits in the client's buffer and reaches JetStream when NATS is
// back, followed by its cancellation — which a worker not yet reconnected never receives. The
// client was told the request failed, so it retries: a worker must not run it too.
func TestARequestAnswered503BecauseItWasNotQueuedNeverRuns(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Echo: true}))
	t.Cleanup(fake.Close)
	natsPort, natsDir := harness.FreePort(t), t.TempDir()
	natsURL, natsProc := harness.NATSAt(t, bin, natsPort, natsDir)
	workerPort := harness.FreePort(t)
	worker := harness.Start(t, "worker", bin.Worker, workerEnv(natsURL, fake.URL(), map[string]string{
		"WORKER_ID": "worker-1", "LOG_LEVEL": "info", "WORKER_PORT": strconv.Itoa(workerPort), "HOST": "127.0.0.1"}))
	gwPort := harness.FreePort(t)
	gw := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	harness.Start(t, "gateway", bin.Gateway, map[string]string{
		"NATS_URL": natsURL, "MODEL_PROVIDER": "openai", "HOST": "127.0.0.1", "PORT": strconv.Itoa(gwPort),
		"GATEWAY_ID": "gateway-1", "LOG_LEVEL": "warn",
	})
	waitReady(t, gw)
	if got, err := send(context.Background(), http.DefaultClient, gw, chatPlain, "before"); err != nil || got != "echo: before" {
		t.Fatalf("before the outage: %q, %v", got, err)
	}
	before := fake.Calls()

	natsProc.Kill()
	// The worker comes back after the gateway has flushed its buffer: the cancellations are lost.
	if err := worker.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for i := range 30 {
		wg.Go(func() {
			_, err := send(context.Background(), &http.Client{Timeout: 20 * time.Second}, gw, kind(i%int(kinds)), fmt.Sprintf("during %d", i))
			status := 200
			if err != nil {
				status = 0
				if _, rest, ok := strings.Cut(err.Error(), "status "); ok {
					status, _ = strconv.Atoi(rest[:3])
				}
			}
			mu.Lock()
			statuses[strconv.Itoa(status)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses["503"] != 30 {
		t.Fatalf("with NATS down the 30 requests were answered %v, want 30 × 503", statuses)
	}
	harness.NATSAt(t, bin, natsPort, natsDir)
	time.Sleep(2 * time.Second) // the gateway reconnects within a second
	if err := worker.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d", workerPort))
	waitReady(t, gw)
	if got, err := send(context.Background(), http.DefaultClient, gw, chatPlain, "after"); err != nil || got != "echo: after" {
		t.Fatalf("after the outage: %q, %v", got, err)
	}
	// The publishes buffered through the outage reached JetStream at the reconnect, before the
	// request above; give the worker time to have taken them all.
	time.Sleep(2 * time.Second)
	if calls := fake.Calls() - before; calls != 1 {
		t.Errorf("the upstream got %d calls after the outage, want 1: requests answered 503 were run", calls)
	}
}

// Three workers, one SIGKILLed while it holds requests: another worker runs them as soon as
// their short ack wait runs out, and every client has its answer within 5 s of the kill.
func TestAKilledWorkersRequestsCompleteWithinSeconds(t *testing.T) {
	c := startCluster(t, 1, 3, map[string]string{"WORKER_CONCURRENCY": "4"},
		fakeupstream.Reply{Echo: true, HeaderDelay: 500 * time.Millisecond})
	for _, w := range c.workers {
		waitReady(t, workerBase(t, w)) // every worker pulls before the requests come
	}
	type result struct {
		at  time.Time
		err error
	}
	results := make(chan result, 12)
	for i := range 12 {
		go func() {
			got, err := send(context.Background(), http.DefaultClient, c.gateways[0], kind(i%int(kinds)), fmt.Sprintf("job %d", i))
			if err == nil && got != fmt.Sprintf("echo: job %d", i) {
				err = fmt.Errorf("answer %q", got)
			}
			results <- result{time.Now(), err}
		}()
	}
	// Each worker takes 4 requests at once: the 12 are spread over all three.
	waitFor(t, 10*time.Second, "every worker to hold requests", func() bool { return c.fake.InFlight() == 12 })
	c.workers[0].Kill()
	killed := time.Now()
	var latest time.Duration
	for range 12 {
		r := <-results
		if r.err != nil {
			t.Fatalf("a request failed after a worker was killed: %v", r.err)
		}
		latest = max(latest, r.at.Sub(killed))
	}
	t.Logf("every request answered within %v of the kill", latest.Round(time.Millisecond))
	if latest > 5*time.Second {
		t.Errorf("the last request completed %v after the kill, want within 5 s", latest)
	}
	if calls := c.fake.Calls(); calls <= 12 {
		t.Errorf("the upstream saw %d calls: the killed worker held no request, so this proved nothing", calls)
	}
}

// A worker stopped (SIGSTOP) for half its ack wait, a long GC pause or a throttled CPU, keeps
// its requests: none is handed to another worker and run twice.
func TestAStalledWorkersRequestsDoNotRunTwice(t *testing.T) {
	c := startCluster(t, 1, 1, map[string]string{"WORKER_ACK_WAIT": "3000"},
		fakeupstream.Reply{Echo: true, HeaderDelay: 6 * time.Second})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			got, err := send(context.Background(), http.DefaultClient, c.gateways[0], kind(i%int(kinds)), fmt.Sprintf("stall %d", i))
			if err != nil || got != fmt.Sprintf("echo: stall %d", i) {
				t.Errorf("request %d: %q, %v", i, got, err)
			}
		})
	}
	waitFor(t, 10*time.Second, "the first worker to hold the 8 requests", func() bool { return c.fake.InFlight() == 8 })
	// A second worker waits to take whatever the first one loses.
	port := harness.FreePort(t)
	harness.Start(t, "worker-2", bin.Worker, workerEnv(c.natsURL, c.fake.URL(), map[string]string{
		"WORKER_ID": "worker-2", "WORKER_ACK_WAIT": "3000", "WORKER_PORT": strconv.Itoa(port), "HOST": "127.0.0.1"}))
	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	if err := c.workers[0].Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := c.workers[0].Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if calls := c.fake.Calls(); calls != 8 {
		t.Errorf("the upstream saw %d calls for 8 requests: a stalled worker's requests ran twice", calls)
	}
}

// workerBase is where a worker started with WORKER_PORT=0 serves its health, read from its log.
func workerBase(t *testing.T, w *harness.Proc) string {
	t.Helper()
	re := regexp.MustCompile(`"msg":"worker serving metrics and health".*?"addr":"[^"]*:(\d+)"`)
	var port string
	waitFor(t, 10*time.Second, w.Name+" to serve its health", func() bool {
		m := re.FindStringSubmatch(w.Output())
		if m != nil {
			port = m[1]
		}
		return m != nil
	})
	return "http://127.0.0.1:" + port
}
