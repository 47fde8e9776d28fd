package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cluster is a running set of processes.
type cluster struct {
	natsURL  string
	fake     *fakeupstream.Server
	gateways []string // base URLs
	workers  []*harness.Proc
	gwProcs  []*harness.Proc
}

func workerEnv(natsURL, fakeURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"NATS_URL":           natsURL,
		"MODEL_PROVIDER":     "openai",
		"OPENAI_API_KEY":     "sk-test",
		"OPENAI_ENDPOINT":    fakeURL + "/v1/chat/completions",
		"OPENAI_MODEL":       "gpt-4o",
		"WORKER_CONCURRENCY": "64",
		"WORKER_PORT":        "0", // several workers share this host
		"LOG_LEVEL":          "debug",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startCluster starts a nats-server, the fake upstream, and the given numbers of gateways and
// workers, and waits until every gateway is ready.
func startCluster(t *testing.T, gateways, workers int, workerExtra map[string]string, reply fakeupstream.Reply) *cluster {
	return startClusterWith(t, gateways, workers, workerExtra, nil, reply)
}

// startClusterWith is startCluster with extra settings for the gateways too.
func startClusterWith(t *testing.T, gateways, workers int, workerExtra, gatewayExtra map[string]string, reply fakeupstream.Reply) *cluster {
	t.Helper()
	c := &cluster{fake: fakeupstream.New(fakeupstream.WithReply(reply))}
	t.Cleanup(c.fake.Close)
	c.natsURL, _ = harness.NATS(t, bin)
	for i := range workers {
		c.workers = append(c.workers, harness.Start(t, fmt.Sprintf("worker-%d", i+1), bin.Worker,
			workerEnv(c.natsURL, c.fake.URL(), mergeEnv(workerExtra, map[string]string{"WORKER_ID": fmt.Sprintf("worker-%d", i+1)}))))
	}
	for i := range gateways {
		port := harness.FreePort(t)
		p := harness.Start(t, fmt.Sprintf("gateway-%d", i+1), bin.Gateway, mergeEnv(map[string]string{
			"NATS_URL":       c.natsURL,
			"MODEL_PROVIDER": "openai",
			"HOST":           "127.0.0.1",
			"PORT":           strconv.Itoa(port),
			"GATEWAY_ID":     fmt.Sprintf("gateway-%d", i+1),
			"LOG_LEVEL":      "warn",
		}, gatewayExtra))
		c.gwProcs = append(c.gwProcs, p)
		c.gateways = append(c.gateways, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	for _, g := range c.gateways {
		waitReady(t, g)
	}
	return c
}

func mergeEnv(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 30s", base)
}

// kind is one of the request shapes the mixed load sends.
type kind int

const (
	anthropicPlain kind = iota
	anthropicStream
	chatPlain
	chatStream
	responsesPlain
	kinds
)

// send makes one request of kind k carrying prompt and returns the answer text the client
// got, read from the wire format of its API.
func send(ctx context.Context, client *http.Client, base string, k kind, prompt string) (string, error) {
	var path, body string
	switch k {
	case anthropicPlain, anthropicStream:
		path = "/v1/messages"
		body = fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":%t,"messages":[{"role":"user","content":%q}]}`, k == anthropicStream, prompt)
	case chatPlain, chatStream:
		path = "/v1/chat/completions"
		body = fmt.Sprintf(`{"model":"gpt-4o","stream":%t,"messages":[{"role":"user","content":%q}]}`, k == chatStream, prompt)
	case responsesPlain:
		path = "/v1/responses"
		body = fmt.Sprintf(`{"model":"gpt-4o","input":%q}`, prompt)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return answerText(k, b)
}

// answerText extracts the assistant text from a response body of kind k.
func answerText(k kind, b []byte) (string, error) {
	var text strings.Builder
	switch k {
	case anthropicPlain:
		var m struct {
			Content []struct{ Text string } `json:"content"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return "", fmt.Errorf("%w: %s", err, b)
		}
		for _, c := range m.Content {
			text.WriteString(c.Text)
		}
	case chatPlain:
		var m struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(b, &m); err != nil || len(m.Choices) == 0 {
			return "", fmt.Errorf("bad chat completion: %s", b)
		}
		text.WriteString(m.Choices[0].Message.Content)
	case responsesPlain:
		var m struct {
			Output []struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"output"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return "", fmt.Errorf("%w: %s", err, b)
		}
		for _, o := range m.Output {
			for _, c := range o.Content {
				text.WriteString(c.Text)
			}
		}
	case anthropicStream, chatStream:
		complete := false
		for _, line := range bytes.Split(b, []byte("\n")) {
			data, ok := bytes.CutPrefix(line, []byte("data: "))
			if !ok {
				continue
			}
			if string(data) == "[DONE]" {
				complete = true
				continue
			}
			var ev struct {
				Type  string `json:"type"`
				Delta struct {
					Text string `json:"text"`
				} `json:"delta"`
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
				Error *json.RawMessage `json:"error"` // a Chat stream's error event
			}
			if err := json.Unmarshal(data, &ev); err != nil {
				return "", fmt.Errorf("bad event %s", data)
			}
			switch {
			case ev.Type == "error", ev.Error != nil:
				return "", fmt.Errorf("error event: %s", data)
			case ev.Type == "message_stop":
				complete = true
			case ev.Type == "content_block_delta":
				text.WriteString(ev.Delta.Text)
			case len(ev.Choices) > 0:
				text.WriteString(ev.Choices[0].Delta.Content)
			}
		}
		if !complete {
			return "", fmt.Errorf("stream ended without its closing event: %s", b)
		}
	}
	return text.String(), nil
}

// answeredBy counts the requests each worker answered, from its log.
func answeredBy(workers []*harness.Proc) map[string]int {
	out := map[string]int{}
	for _, w := range workers {
		out[w.Name] = strings.Count(w.Output(), `"msg":"request answered"`)
	}
	return out
}

func TestTwoGatewaysThreeWorkersShareFiveHundredMixedRequests(t *testing.T) {
	// Each answer takes a moment upstream, as real ones do, so the load spreads over workers.
	c := startCluster(t, 2, 3, nil, fakeupstream.Reply{Echo: true, HeaderDelay: 20 * time.Millisecond})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 500}, Timeout: 60 * time.Second}
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := kind(i % int(kinds))
			prompt := fmt.Sprintf("request %d of kind %d", i, k)
			got, err := send(t.Context(), client, c.gateways[i%len(c.gateways)], k, prompt)
			if err != nil {
				errs <- fmt.Errorf("request %d (kind %d): %w", i, k, err)
				return
			}
			if want := "echo: " + prompt; got != want {
				errs <- fmt.Errorf("request %d (kind %d): answer %q, want %q", i, k, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 10 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d requests failed", failed, n)
	}
	if calls := c.fake.Calls(); calls != n {
		t.Errorf("upstream saw %d calls for %d requests", calls, n)
	}
	byWorker := answeredBy(c.workers)
	total := 0
	for name, k := range byWorker {
		total += k
		if k == 0 {
			t.Errorf("%s did no work: %v", name, byWorker)
		}
	}
	if total != n {
		t.Errorf("workers answered %d requests in all, want %d: %v", total, n, byWorker)
	}
	t.Logf("answers per worker: %v", byWorker)
}

func TestWorkerKilledWhileHoldingARequestAnotherFinishesIt(t *testing.T) {
	// The first answer is slow: the worker that takes it is killed while it waits.
	c := startCluster(t, 1, 2, map[string]string{"WORKER_ACK_WAIT": "1500"},
		fakeupstream.Reply{Echo: true, HeaderDelay: 3 * time.Second})
	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		text, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "survive a dead worker")
		done <- result{text, err}
	}()

	// Find the worker that took the request, and kill it.
	var holder *harness.Proc
	deadline := time.Now().Add(10 * time.Second)
	for holder == nil && time.Now().Before(deadline) {
		for _, w := range c.workers {
			if strings.Contains(w.Output(), `"msg":"request taken"`) {
				holder = w
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if holder == nil {
		t.Fatal("no worker took the request")
	}
	holder.Kill()
	// The remaining worker gets the request once its ack wait runs out; the slow reply applies
	// to every call, so it answers after another 3 s.
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		if r.text != "echo: survive a dead worker" {
			t.Fatalf("answer %q", r.text)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("request did not complete after its worker died")
	}
	if calls := c.fake.Calls(); calls != 2 {
		t.Errorf("upstream saw %d calls, want 2 (the killed attempt and the redelivery)", calls)
	}
	var survivor *harness.Proc
	for _, w := range c.workers {
		if w != holder {
			survivor = w
		}
	}
	if !strings.Contains(survivor.Output(), `"delivery":2`) {
		t.Errorf("the surviving worker did not answer the redelivered attempt:\n%s", survivor.Output())
	}
}

// jetStreamAt is a JetStream client of the server at natsURL, closed when the test ends.
func jetStreamAt(t *testing.T, natsURL string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
