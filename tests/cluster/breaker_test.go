package cluster

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// A breaker one worker opens is every process's: the other worker, whose own breaker saw fewer
// failures, gets no more work for the provider, because the gateway stops queueing it.
func TestABreakerOpenedByOneWorkerStopsTheWholeCluster(t *testing.T) {
	c := startCluster(t, 1, 2, map[string]string{
		"API_RETRY_MAX_RETRIES":             "0",
		"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "5",
		"CIRCUIT_BREAKER_TIMEOUT":           "60000",
	}, fakeupstream.Reply{Echo: true})
	c.fake.FailRate(100, 1, fakeupstream.Fault{Status: http.StatusInternalServerError})

	// Fail until the first refusal: one worker's breaker has opened.
	callsAtOpen := int64(-1)
	for i := 0; i < 20 && callsAtOpen < 0; i++ {
		_, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "down")
		if err == nil {
			t.Fatalf("request %d succeeded against a failing upstream", i)
		}
		if strings.Contains(err.Error(), "status 503") && strings.Contains(err.Error(), "circuit breaker") {
			callsAtOpen = c.fake.Calls()
			t.Logf("first refusal after %d requests, %d upstream calls", i+1, callsAtOpen)
		}
	}
	if callsAtOpen < 0 {
		t.Fatal("the breaker never opened")
	}
	// The state travels the bus in milliseconds. After that, no request reaches a worker,
	// although the other worker's own breaker has seen at most four failures (9 calls or
	// fewer split over two workers) and would still let requests through.
	time.Sleep(200 * time.Millisecond)
	for i := range 20 {
		_, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "down")
		if err == nil || !strings.Contains(err.Error(), "status 503") || !strings.Contains(err.Error(), "circuit breaker") {
			t.Fatalf("request %d after the breaker opened: %v, want a 503 from the breaker", i+1, err)
		}
	}
	if calls := c.fake.Calls(); calls != callsAtOpen {
		t.Fatalf("the upstream saw %d calls after the breaker opened at %d", calls, callsAtOpen)
	}
}
