package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSIGTERMToGatewayFinishesInFlightRequestsAndRefusesNewOnes(t *testing.T) {
	c := startCluster(t, 1, 2, nil, fakeupstream.Reply{Echo: true, HeaderDelay: 2 * time.Second})
	const n = 100
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prompt := fmt.Sprintf("in flight %d", i)
			got, err := send(context.Background(), client, c.gateways[0], kind(i%int(kinds)), prompt)
			if err == nil && got != "echo: "+prompt {
				err = fmt.Errorf("answer %q", got)
			}
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
			}
		}()
	}
	waitFor(t, 10*time.Second, "100 requests at the upstream", func() bool { return c.fake.InFlight() == n })
	if err := c.gwProcs[0].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(c.gateways[0], "http://")
	waitFor(t, 2*time.Second, "the gateway to refuse new connections", func() bool {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if code := c.gwProcs[0].Wait(30 * time.Second); code != 0 {
		t.Fatalf("gateway exit code %d, want 0", code)
	}
}

func TestSIGTERMToWorkerMidRequestTheRequestCompletes(t *testing.T) {
	c := startCluster(t, 1, 1, nil, fakeupstream.Reply{Echo: true, HeaderDelay: 1500 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		got, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "finish me")
		if err == nil && got != "echo: finish me" {
			err = fmt.Errorf("answer %q", got)
		}
		done <- err
	}()
	waitFor(t, 10*time.Second, "the request at the upstream", func() bool { return c.fake.InFlight() == 1 })
	if err := c.workers[0].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("request: %v", err)
	}
	if code := c.workers[0].Wait(30 * time.Second); code != 0 {
		t.Fatalf("worker exit code %d, want 0", code)
	}
}

func TestWorkerKilledMidStreamEndsTheStreamWithAnErrorEvent(t *testing.T) {
	c := startCluster(t, 1, 2, map[string]string{"WORKER_ACK_WAIT": "1500"},
		fakeupstream.Reply{Text: strings.Repeat("word ", 40), Chunks: 40, ChunkDelay: 100 * time.Millisecond})
	body := `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"stream"}]}`
	req, _ := http.NewRequest(http.MethodPost, c.gateways[0]+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read until some text has arrived, then kill the worker that is streaming it.
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.Contains(got.Bytes(), []byte("text_delta")) {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended before any text: %v\n%s", err, got.String())
		}
	}
	var holder *harness.Proc
	for _, w := range c.workers {
		if strings.Contains(w.Output(), `"msg":"request taken"`) {
			holder = w
		}
	}
	if holder == nil {
		t.Fatal("no worker took the request")
	}
	holder.Kill()
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, resp.Body)
		readDone <- err
	}()
	select {
	case <-readDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream hung after its worker died")
	}
	out := got.String()
	if strings.Contains(out, "message_stop") {
		t.Fatalf("a cut stream was presented as complete:\n%s", out)
	}
	if !strings.Contains(out, "event: error") || !strings.Contains(out, "stopped after part of the answer") {
		t.Fatalf("the stream did not end with an error event:\n%s", out)
	}
}

func TestAWorkerNeverStartsARequestWhoseDeadlinePassed(t *testing.T) {
	c := startClusterWith(t, 1, 1, nil, map[string]string{"REQUEST_TIMEOUT": "1000"}, fakeupstream.Reply{Echo: true})
	// No worker while the request waits: it times out at the gateway.
	if err := c.workers[0].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.workers[0].Wait(10 * time.Second); code != 0 {
		t.Fatalf("worker exit code %d", code)
	}
	_, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "too late")
	if err == nil || !strings.Contains(err.Error(), "status 504") {
		t.Fatalf("request without a worker: %v, want a 504", err)
	}
	// A worker that comes later finds the expired request and drops it unanswered.
	late := harness.Start(t, "late-worker", bin.Worker, workerEnv(c.natsURL, c.fake.URL(), nil))
	waitFor(t, 15*time.Second, "the late worker to drop the expired request", func() bool {
		return strings.Contains(late.Output(), "request expired before a worker took it")
	})
	if n := c.fake.Calls(); n != 0 {
		t.Fatalf("the upstream was called %d times for a request nobody waited for", n)
	}
}

// A request that takes several AckWaits upstream stays with its worker: progress reports keep
// JetStream from handing it to the other worker, so the upstream is called once.
func TestALongRequestIsNotRedeliveredWhileItsWorkerReportsProgress(t *testing.T) {
	c := startCluster(t, 1, 2, map[string]string{"WORKER_ACK_WAIT": "1000"},
		fakeupstream.Reply{Echo: true, HeaderDelay: 3500 * time.Millisecond})
	got, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "take your time")
	if err != nil || got != "echo: take your time" {
		t.Fatalf("answer %q, %v", got, err)
	}
	if n := c.fake.Calls(); n != 1 {
		t.Fatalf("the upstream was called %d times, want 1: the request was redelivered", n)
	}
	for _, w := range c.workers {
		if strings.Contains(w.Output(), "request redelivered") {
			t.Errorf("%s logged a redelivery", w.Name)
		}
	}
}

// Workers whose every slot is busy take no more requests than they can start: none waits in a
// worker's buffer past its AckWait to be handed to another worker and then answered twice.
// Two workers of two slots each, six long requests: six upstream calls, not more.
func TestBusyWorkersPrefetchNothingThatCouldRunTwice(t *testing.T) {
	c := startCluster(t, 1, 2, map[string]string{"WORKER_ACK_WAIT": "1000", "WORKER_CONCURRENCY": "2"},
		fakeupstream.Reply{Echo: true, HeaderDelay: 2500 * time.Millisecond})
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prompt := fmt.Sprintf("long %d", i)
			got, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, prompt)
			if err == nil && got != "echo: "+prompt {
				err = fmt.Errorf("answer %q", got)
			}
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	time.Sleep(3 * time.Second) // a duplicate would reach the upstream by now
	for _, w := range c.workers {
		t.Logf("%s: %d redelivered, %d answered", w.Name, strings.Count(w.Output(), "request redelivered"), strings.Count(w.Output(), `"msg":"request answered"`))
	}
	if calls := c.fake.Calls(); calls != n {
		t.Fatalf("the upstream was called %d times for %d requests: a prefetched request ran twice", calls, n)
	}
}
