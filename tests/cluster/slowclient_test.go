package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// Slow and greedy clients against a real gateway process (issue 14): connections that stall
// their bodies hold neither the shared request slots nor the memory they announce, one address
// cannot open more than its cap, and the gateway gives memory back after a burst.

// otherClient is an HTTP client whose connections come from 127.0.0.2, another address than
// the stalled connections' 127.0.0.1 (Linux routes all of 127/8 to the loopback interface),
// so that the per-address cap those fill does not apply to it.
func otherClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext}}
}

// stallBody connects to addr from 127.0.0.1 and sends the headers of a request announcing an
// 8 MiB body, and one byte of it, then nothing.
func stallBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("stalled connection: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", addr, 8<<20); err != nil {
		t.Fatalf("stalled connection: %v", err)
	}
	return c
}

// raiseOpenFiles makes sure this process may open n files: a thousand connections held open
// need as many descriptors, beyond what the shell's default soft limit of 1,024 allows. The
// gateway, a Go program, raises its own soft limit to its hard limit as it starts.
func raiseOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("this test needs %d open files; the hard limit is %d (raise it with ulimit -Hn)", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// gatewayMetric reads an unlabelled metric of the gateway at base.
func gatewayMetric(t *testing.T, client *http.Client, base, name string) float64 {
	t.Helper()
	v, err := harness.Metric(client, base+"/metrics", name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// settleConnections waits until the gateway at base counts at most the one connection client
// scrapes it with: the readiness checks' connections from 127.0.0.1 are gone.
func settleConnections(t *testing.T, client *http.Client, base string) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections() // waitReady's
	deadline := time.Now().Add(10 * time.Second)
	for gatewayMetric(t, client, base, "lynkr_connections_open") > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still counts %g connections open", gatewayMetric(t, client, base, "lynkr_connections_open"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rssOf(t *testing.T, p *harness.Proc) int64 {
	t.Helper()
	n, err := p.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestThousandStalledBodiesLockNobodyOut is issue 14's first finding on real processes:
// 1,010 connections that send their headers and one byte of body, then stall, are held
// open from one address. A normal client from another address is answered within 2 s
// meanwhile, the gateway stays under 150 MB of resident memory, the 1,011th connection from
// the stalling address is refused by the per-address cap (set to 1,010 here), and every
// stalled connection is answered 408 and closed at the body deadline.
func TestThousandStalledBodiesLockNobodyOut(t *testing.T) {
	const stalls = 1010
	raiseOpenFiles(t, 2*stalls+256)
	bodyTimeout := 3 * time.Second
	c := startClusterWith(t, 1, 1, nil, map[string]string{
		"MAX_CONNECTIONS_PER_IP": fmt.Sprint(stalls),
		"REQUEST_BODY_TIMEOUT":   fmt.Sprint(bodyTimeout.Milliseconds()),
	}, fakeupstream.Reply{Text: "still here"})
	base, gw := c.gateways[0], c.gwProcs[0]
	addr := strings.TrimPrefix(base, "http://")
	other := otherClient(2 * time.Second)
	settleConnections(t, other, base)
	idle := rssOf(t, gw)

	start := time.Now()
	stalled := make([]net.Conn, stalls)
	for i := range stalled {
		stalled[i] = stallBody(t, addr)
	}
	// Once the gateway counts them all, the next one from the same address is refused.
	deadline := time.Now().Add(10 * time.Second)
	for gatewayMetric(t, other, base, "lynkr_connections_open") < stalls+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway counts %g connections open, want the %d stalled ones and the scraper's",
				gatewayMetric(t, other, base, "lynkr_connections_open"), stalls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d stalled connections open in %s", stalls, time.Since(start).Round(time.Millisecond))
	over, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("connection %d from the stalling address: %v %v, want a 503 with Retry-After from MAX_CONNECTIONS_PER_IP", stalls+1, resp, err)
	}
	resp.Body.Close()

	// A normal client is answered while they are held: the client gives up after 2 s.
	asked := time.Now()
	text, err := send(context.Background(), other, base, chatPlain, "hello")
	if err != nil || text != "still here" {
		t.Fatalf("a normal client while %d bodies stall: %q, %v", stalls, text, err)
	}
	t.Logf("a normal client was answered in %s while %d bodies stalled", time.Since(asked).Round(time.Millisecond), stalls)
	rss := rssOf(t, gw)
	t.Logf("gateway resident memory: %d MiB idle, %d MiB with %d stalled bodies", idle>>20, rss>>20, stalls)
	if rss > 150<<20 {
		t.Errorf("the gateway holds %d MiB of resident memory with %d stalled bodies, want under 150 MB", rss>>20, stalls)
	}
	if refused := gatewayMetric(t, other, base, `lynkr_connections_refused_total{reason="per_address"}`); refused != 1 {
		t.Errorf("lynkr_connections_refused_total{reason=\"per_address\"} = %g, want 1", refused)
	}

	// The body deadline answers each stalled connection 408 and closes it.
	for i, sc := range stalled {
		_ = sc.SetReadDeadline(time.Now().Add(bodyTimeout + 20*time.Second))
		r := bufio.NewReader(sc)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("stalled connection %d: %v, want a 408", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "REQUEST_BODY_TIMEOUT") {
			t.Fatalf("stalled connection %d: %d %s", i, resp.StatusCode, body)
		}
		if _, err := r.ReadByte(); err == nil {
			t.Fatalf("stalled connection %d is still open after its 408", i)
		}
	}
	t.Logf("all %d stalled connections closed %s after they stalled (REQUEST_BODY_TIMEOUT=%s)", stalls,
		time.Since(start).Round(time.Millisecond), bodyTimeout)
	settleConnections(t, other, base)
}

// TestAnnouncedBodiesAreNotAllocated is issue 14's second finding on real processes: 64
// connections announcing 8 MiB bodies and sending one byte cost the gateway's heap less than
// 64 MB above idle (the finding was 596 MB).
func TestAnnouncedBodiesAreNotAllocated(t *testing.T) {
	c := startClusterWith(t, 1, 1, nil, nil, fakeupstream.Reply{Text: "ok"})
	base := c.gateways[0]
	addr := strings.TrimPrefix(base, "http://")
	client := otherClient(5 * time.Second)
	const heap = "go_memstats_heap_inuse_bytes"
	idle := gatewayMetric(t, client, base, heap)

	for range 64 {
		stallBody(t, addr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gatewayMetric(t, client, base, "lynkr_connections_open") < 65 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway counts %g connections open, want the 64 stalled ones", gatewayMetric(t, client, base, "lynkr_connections_open"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // each connection's handler has read its byte
	held := gatewayMetric(t, client, base, heap)
	t.Logf("gateway heap in use: %.1f MiB idle, %.1f MiB with 64 stalled bodies announcing 8 MiB", idle/(1<<20), held/(1<<20))
	if held-idle > 64<<20 {
		t.Errorf("the heap grew by %.0f MiB for 64 stalled bodies announcing 8 MiB each, want under 64", (held-idle)/(1<<20))
	}
}

// TestMemoryGoesBackAfterABurst: after bursts of 64 requests of 1 MiB the gateway's resident
// memory comes back down once it is quiet (package gcpolicy's Reclaim): under GOGC=400 alone it
// stayed at 15 times its idle size until the runtime's forced collection, two minutes later.
func TestMemoryGoesBackAfterABurst(t *testing.T) {
	c := startClusterWith(t, 1, 1, nil, nil, fakeupstream.Reply{Text: "ok"})
	base, gw := c.gateways[0], c.gwProcs[0]
	idle := rssOf(t, gw)
	client := &http.Client{Timeout: 60 * time.Second}
	prompt := strings.Repeat("x", 1<<20)
	var peak int64
	for range 2 {
		errs := make(chan error, 64)
		for range 64 {
			go func() {
				_, err := send(context.Background(), client, base, chatPlain, prompt)
				errs <- err
			}()
		}
		for range 64 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		peak = max(peak, rssOf(t, gw))
	}
	client.CloseIdleConnections()
	t.Logf("gateway resident memory: %d MiB idle, %d MiB after two bursts of 64 × 1 MiB", idle>>20, peak>>20)
	if peak < idle+100<<20 {
		t.Fatalf("the bursts grew the gateway by %d MiB only: nothing to give back", (peak-idle)>>20)
	}
	// The reclaimer looks every 5 s and collects once a whole interval passed without a
	// collection; then the scavenger works: well within a minute.
	want := idle + 48<<20
	quiet := time.Now()
	for rss := rssOf(t, gw); rss > want; rss = rssOf(t, gw) {
		if time.Since(quiet) > time.Minute {
			t.Fatalf("the gateway still holds %d MiB a minute after the bursts (idle %d MiB)", rss>>20, idle>>20)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("back under %d MiB %s after the bursts", want>>20, time.Since(quiet).Round(time.Second))
}
