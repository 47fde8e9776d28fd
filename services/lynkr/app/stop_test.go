package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/metrics"
)

// TestStopUnderLoad starts the all-in-one, loads it with streaming and non-streaming
// requests, stops it while requests are in flight, and does so again several times. Every
// request the gateway took must be answered: 200 with the whole answer, or an error in
// Anthropic's format, never a connection closed under it. Once stopped, the process must have
// no goroutine of its own left.
func TestStopUnderLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "one two three four five six seven eight", HeaderDelay: 50 * time.Millisecond, ChunkDelay: 20 * time.Millisecond}))
	defer fake.Close()
	before := goleak.IgnoreCurrent() // the fake upstream's listener
	const rounds, clients = 4, 12
	var totalInFlight int64
	for round := range rounds {
		var logs bytes.Buffer
		env := map[string]string{
			"LYNKR_DATA_DIR":  t.TempDir(),
			"PORT":            "0",
			"LOG_LEVEL":       "warn",
			"MODEL_PROVIDER":  "openai",
			"OPENAI_API_KEY":  "sk-test",
			"OPENAI_ENDPOINT": fake.URL() + "/v1/chat/completions",
		}
		ctx, cancel := context.WithCancel(context.Background())
		reg := metrics.NewRegistry()
		a, err := New(ctx, Config{Targets: Targets, Lookup: config.Map(env), Metrics: reg}, slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			cancel()
			t.Fatalf("round %d: New: %v", round, err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		url := "http://" + a.Gateway().Addr().String() + "/v1/messages"

		// Each client sends requests one after the other, on a connection of its own, until
		// told to stop; the gateway is stopped once it holds every request still sent. The
		// clients stop sending first, as a load balancer stops routing to an instance before
		// it stops (the gateway's READINESS_DELAY): a connection still in the kernel's accept
		// queue when the listener closes is reset by the kernel, unseen by the gateway.
		hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var answered, sending atomic.Int64
		var stopSending atomic.Bool
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for c := range clients {
			wg.Go(func() {
				for i := 0; !stopSending.Load(); i++ {
					sending.Add(1)
					err := send(hc, url, (c+i)%2 == 0)
					sending.Add(-1)
					if err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
						return
					}
					answered.Add(1)
				}
			})
		}
		for answered.Load() < 2*clients {
			time.Sleep(10 * time.Millisecond) // until the load runs in earnest
		}
		stopSending.Store(true)
		inFlight := sending.Load()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			// A request is sent and not yet answered until the gateway has taken it.
			if inFlight = sending.Load(); int64(gauge(t, reg, "lynkr_active_requests")) >= inFlight {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the gateway did not take the %d requests sent within 10s", round, inFlight)
			}
		}
		totalInFlight += inFlight
		cancel()
		wg.Wait()
		if err := <-done; err != nil {
			t.Errorf("round %d: Run: %v", round, err)
		}
		// Run has returned: no goroutine of lynkr's may run on, not even one on its way out.
		for _, g := range lynkrGoroutines() {
			t.Errorf("round %d: a goroutine runs on after Run returned:\n%s", round, g)
		}
		hc.CloseIdleConnections()
		// Nor any other goroutine, the upstream's connections included, once the test's
		// client has let its own go.
		if err := goleak.Find(before); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		if len(failures) > 0 {
			t.Errorf("round %d: %d requests not answered cleanly, the first: %s\nlog:\n%s", round, len(failures), failures[0], logs.String())
		}
		t.Logf("round %d: %d requests answered, %d in flight as the stop began", round, answered.Load(), inFlight)
	}
	if totalInFlight == 0 {
		t.Error("no request was in flight as the all-in-one stopped: the test tested nothing")
	}
}

// send posts one Anthropic request and reads its answer whole. It returns nil for a 200
// with the whole answer or an error status with an Anthropic error body, and an error for
// anything else.
func send(hc *http.Client, url string, stream bool) error {
	body := fmt.Sprintf(`{"model":"gpt-4o","max_tokens":64,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`, stream)
	res, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("status %d, body cut after %d bytes: %w", res.StatusCode, len(b), err)
	}
	switch {
	case res.StatusCode != http.StatusOK:
		var e struct {
			Type  string `json:"type"`
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Type != "error" || e.Error.Type == "" {
			return fmt.Errorf("status %d with a body not in Anthropic's error format: %q", res.StatusCode, b)
		}
	case stream && !bytes.Contains(b, []byte("event: message_stop")):
		return fmt.Errorf("stream without its end: %q", b)
	case !stream && !json.Valid(b):
		return fmt.Errorf("answer not JSON: %q", b)
	}
	return nil
}

// lynkrGoroutines are the stacks of the goroutines running lynkr's code, other than the
// test's own and the fake upstream's.
func lynkrGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/lynkr/lynkr/") && !strings.Contains(g, "TestStopUnderLoad") && !strings.Contains(g, "pkg/fakeupstream.") {
			out = append(out, g)
		}
	}
	return out
}

// gauge is the value of the gauge named name in reg.
func gauge(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// syncWriter lets the parts' goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
