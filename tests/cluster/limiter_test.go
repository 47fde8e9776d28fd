package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// burst sends n concurrent slow requests spread over the gateways and returns how many got
// 200 and how many got 503 with a Retry-After; anything else fails the test.
func burst(t *testing.T, gateways []string, n int) (ok, refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"model":"gpt-4o","messages":[{"role":"user","content":"slow %d"}]}`, i)
			resp, err := http.Post(gateways[i%len(gateways)]+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == http.StatusOK:
				ok++
			case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && strings.Contains(string(b), "limit"):
				refused++
			default:
				t.Errorf("request %d: status %d Retry-After %q: %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), b)
			}
		}()
	}
	wg.Wait()
	return ok, refused
}

func TestTwoGatewaysShareOneRedisInFlightLimit(t *testing.T) {
	const n = 6
	redisURL, _ := harness.Redis(t)
	gw := map[string]string{
		"REDIS_URL":             redisURL,
		"LIMITER_MAX_IN_FLIGHT": fmt.Sprint(n),
		"LIMITER_LEASE_TTL":     "2000",
	}
	c := startClusterWith(t, 2, 2, nil, gw, fakeupstream.Reply{Echo: true, HeaderDelay: 1500 * time.Millisecond})

	ok, refused := burst(t, c.gateways, 4*n)
	if peak := c.fake.PeakInFlight(); peak > n {
		t.Fatalf("%d requests reached the upstream at once; the limit is %d", peak, n)
	}
	if ok < n/2 || ok > n || ok+refused != 4*n {
		t.Fatalf("%d answered and %d refused of %d; want at most %d answered and the rest refused", ok, refused, 4*n, n)
	}
	t.Logf("burst of %d: %d answered, %d refused with 503, peak at the upstream %d", 4*n, ok, refused, c.fake.PeakInFlight())

	// Gateway 1 takes half the slots with slow requests and is killed while it holds them.
	var wg sync.WaitGroup
	for i := range n / 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, fmt.Sprintf("held %d", i))
		}()
	}
	waitFor(t, 5*time.Second, "gateway 1's requests at the upstream", func() bool { return c.fake.InFlight() == n/2 })
	killed := time.Now()
	c.gwProcs[0].Kill()
	wg.Wait()
	// Its slots come back when their leases run out: gateway 2 then gets all n. Each try
	// takes as long as a slow answer (1.5 s), so allow the lease time and a few tries.
	deadline := killed.Add(2*time.Second + 6*time.Second)
	for {
		ok, _ := burst(t, c.gateways[1:], n)
		if ok == n {
			t.Logf("all %d slots back %s after the kill", n, time.Since(killed).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed gateway's slots did not come back within the lease time (only %d of %d admitted)", ok, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
