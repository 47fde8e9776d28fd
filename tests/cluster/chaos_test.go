package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// outcome of one chaos request.
type outcome int

const (
	correct outcome = iota // the right answer, once
	clean                  // a clear error in the client's format
	wrong                  // a wrong, doubled or malformed answer
	hung                   // no end before the deadline
	outcomes
)

// chaosSend makes one request and judges how it ended.
func chaosSend(ctx context.Context, client *http.Client, base string, k kind, prompt string) (outcome, string) {
	got, err := send(ctx, client, base, k, prompt)
	switch {
	case err == nil && got == "echo: "+prompt:
		return correct, ""
	case err == nil:
		return wrong, fmt.Sprintf("answer %q", got)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return hung, err.Error()
	case isCleanError(err.Error()):
		return clean, err.Error()
	default:
		return wrong, err.Error()
	}
}

// isCleanError reports an error status with an API error body, or a stream that ended with an
// error event: what a client can tell apart from an answer.
func isCleanError(msg string) bool {
	if strings.HasPrefix(msg, "error event: ") {
		return true
	}
	if !strings.HasPrefix(msg, "status ") {
		return false
	}
	_, body, ok := strings.Cut(msg, ": ")
	if !ok {
		return false
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	return json.Unmarshal([]byte(body), &e) == nil && e.Error.Message != ""
}

func TestChaosWorkersDieAndTheUpstreamFailsYetEveryRequestEndsOnce(t *testing.T) {
	workerExtra := map[string]string{
		"WORKER_ACK_WAIT":                   "1500",
		"API_RETRY_INITIAL_DELAY":           "20",
		"API_RETRY_MAX_DELAY":               "200",
		"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "25",
		"LOG_LEVEL":                         "info",
	}
	c := startCluster(t, 2, 3, workerExtra, fakeupstream.Reply{Echo: true, HeaderDelay: 200 * time.Millisecond})
	c.fake.FailRate(10, 42, fakeupstream.Fault{Status: http.StatusInternalServerError})

	// Kill a worker every two seconds and start a new one in its place.
	stop := make(chan struct{})
	var killer sync.WaitGroup
	var kills atomic.Int32
	killer.Add(1)
	go func() {
		defer killer.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
			}
			j := rng.IntN(len(c.workers))
			c.workers[j].Kill()
			kills.Add(1)
			c.workers[j] = harness.Start(t, fmt.Sprintf("worker-%d-restart-%d", j+1, i), bin.Worker,
				workerEnv(c.natsURL, c.fake.URL(), mergeEnv(workerExtra, map[string]string{"WORKER_ID": fmt.Sprintf("worker-%d-%d", j+1, i)})))
		}
	}()

	const n, parallel = 2000, 25
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: parallel}}
	var counts [outcomes]atomic.Int32
	var mu sync.Mutex
	var examples []string
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				k := kind(i % int(kinds))
				// The gateways' deadline is 30 s; a request still open 10 s later hangs.
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				o, detail := chaosSend(ctx, client, c.gateways[i%2], k, fmt.Sprintf("chaos %d", i))
				cancel()
				counts[o].Add(1)
				if o != correct && o != clean {
					mu.Lock()
					examples = append(examples, fmt.Sprintf("request %d kind %d: %s", i, k, detail))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stop)
	killer.Wait()

	t.Logf("%d requests: %d correct, %d clear errors, %d wrong, %d hung; %d workers killed; upstream calls %d",
		n, counts[correct].Load(), counts[clean].Load(), counts[wrong].Load(), counts[hung].Load(), kills.Load(), c.fake.Calls())
	for i, e := range examples {
		if i == 10 {
			break
		}
		t.Error(e)
	}
	if counts[wrong].Load() > 0 || counts[hung].Load() > 0 {
		t.Fatalf("%d wrong and %d hung requests", counts[wrong].Load(), counts[hung].Load())
	}
	if kills.Load() == 0 {
		t.Fatal("no worker was killed: the test did not test anything")
	}
	// Retries absorb the upstream's failures; only requests caught by a dying worker, or
	// unlucky past every retry, may end in a clear error.
	if ok := counts[correct].Load(); ok < n*9/10 {
		t.Fatalf("only %d of %d requests were answered correctly", ok, n)
	}
}
