package cluster

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// A nats-server that comes back with an empty store (a lost volume) has none of lynkr's
// streams, consumers or buckets. Under load, no gateway, worker or aggregator exits: they say they are not
// ready, re-create what is missing, and requests are answered again well within 30 s of NATS
// returning.
func TestServicesSurviveTheBusLosingItsState(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Echo: true}))
	t.Cleanup(fake.Close)
	natsPort := harness.FreePort(t)
	natsURL, natsProc := harness.NATSAt(t, bin, natsPort, t.TempDir())
	var procs []*harness.Proc
	var workers, gateways []string
	for i := range 2 {
		port := harness.FreePort(t)
		procs = append(procs, harness.Start(t, fmt.Sprintf("worker-%d", i+1), bin.Worker, workerEnv(natsURL, fake.URL(), map[string]string{
			"WORKER_ID": fmt.Sprintf("worker-%d", i+1), "WORKER_PORT": strconv.Itoa(port), "HOST": "127.0.0.1", "LOG_LEVEL": "info"})))
		workers = append(workers, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	// Keys and spend are on: the usage charger's consumer is lost with the rest, and spend
	// must be charged again after.
	redisURL, _ := harness.Redis(t)
	for i := range 2 {
		port := harness.FreePort(t)
		procs = append(procs, harness.Start(t, fmt.Sprintf("gateway-%d", i+1), bin.Gateway, tenancyEnv(redisURL, map[string]string{
			"NATS_URL": natsURL, "MODEL_PROVIDER": "openai", "HOST": "127.0.0.1", "PORT": strconv.Itoa(port),
			"GATEWAY_ID": fmt.Sprintf("gateway-%d", i+1), "LOG_LEVEL": "info",
		})))
		gateways = append(gateways, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	aggPort := harness.FreePort(t)
	procs = append(procs, harness.Start(t, "aggregator", bin.Aggregator, map[string]string{
		"NATS_URL": natsURL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(aggPort), "AGGREGATOR_ID": "aggregator-1", "LOG_LEVEL": "info"}))
	for _, base := range append(append([]string{}, gateways...), workers...) {
		waitReady(t, base)
	}

	// Load on both gateways for the whole test; each success is noted with its time.
	ctx, stop := context.WithCancel(context.Background())
	var (
		mu        sync.Mutex
		successes []time.Time
		sent      atomic.Int64
		wg        sync.WaitGroup
	)
	key, keyID := createKey(t, gateways[0], `{"name":"load","team":"chaos"}`)
	client := &http.Client{Timeout: 10 * time.Second, Transport: withKey{key}}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				prompt := fmt.Sprintf("load %d-%d", i, n)
				sent.Add(1)
				got, err := send(ctx, client, gateways[i%2], kind(n%int(kinds)), prompt)
				if err == nil && got == "echo: "+prompt {
					mu.Lock()
					successes = append(successes, time.Now())
					mu.Unlock()
					continue
				}
				time.Sleep(50 * time.Millisecond) // refused while the bus is away: try again soon
			}
		}()
	}
	successesSince := func(at time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range successes {
			if s.After(at) {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "load to flow before the outage", func() bool { return successesSince(time.Time{}) >= 20 })

	natsProc.Kill()
	notReady := map[string]bool{}
	waitFor(t, 10*time.Second, "every service to say it is not ready without NATS", func() bool {
		for _, base := range append(append([]string{}, gateways...), workers...) {
			if readyStatus(base) == http.StatusServiceUnavailable {
				notReady[base] = true
			}
		}
		return len(notReady) == 4
	})
	time.Sleep(time.Second)

	// The same address, an empty store: every stream, consumer and bucket is gone.
	harness.NATSAt(t, bin, natsPort, t.TempDir())
	back := time.Now()
	waitFor(t, 30*time.Second, "requests to be answered again after NATS returned empty", func() bool { return successesSince(back) >= 20 })
	recovered := time.Now()
	for _, base := range append(append([]string{}, gateways...), workers...) {
		waitFor(t, 10*time.Second, base+" to be ready again", func() bool { return readyStatus(base) == http.StatusOK })
	}
	stop()
	wg.Wait()
	// Spend is charged again: a request now shows in the key's usage.
	spent, _ := usageOf(t, gateways[1], "key="+keyID)
	if got, err := send(context.Background(), client, gateways[1], chatPlain, "charged"); err != nil || got != "echo: charged" {
		t.Fatalf("after recovery: %q, %v", got, err)
	}
	waitFor(t, 10*time.Second, "the usage charger to charge again", func() bool {
		now, _ := usageOf(t, gateways[1], "key="+keyID)
		return now > spent
	})
	t.Logf("requests answered again %v after NATS returned with an empty store (%d requests sent in all)",
		recovered.Sub(back).Round(time.Millisecond), sent.Load())

	for _, p := range procs {
		if p.Exited() {
			t.Errorf("%s exited when the bus lost its state:\n%s", p.Name, p.Output())
		}
	}
	recreated := 0
	for _, p := range procs {
		if strings.Contains(p.Output(), "re-creating them") {
			recreated++
		}
	}
	if recreated == 0 {
		t.Error("no service logged that it re-created the bus's assets")
	}
}

// withKey is a transport that sends every request with a lynkr key.
type withKey struct{ key string }

func (k withKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+k.key)
	r.Header.Set("X-Api-Key", k.key)
	return http.DefaultTransport.RoundTrip(r)
}
