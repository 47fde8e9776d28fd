package worker

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tidwall/sjson"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/header"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/proto/busv1"
)

// compacting is a provider that serves OpenAI's compaction at url, as provider.Compactor.
type compacting struct {
	provider.Provider
	url string
}

func (c compacting) NewCompactRequest(ctx context.Context, body []byte, clientHeader http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	header.Forward(req.Header, clientHeader, llm.FormatResponses)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-operator")
	return req, nil
}

// testWorker is a worker serving an OpenAI provider at the fake upstream, not running: tests
// call its methods.
func testWorker(t *testing.T, fake *fakeupstream.Server) (*Worker, *nats.Conn, provider.Provider) {
	t.Helper()
	env := config.Map(map[string]string{
		"MODEL_PROVIDER":       "openai",
		"OPENAI_API_KEY":       "sk-operator",
		"OPENAI_ENDPOINT":      fake.URL() + "/v1/chat/completions",
		"OPENAI_MODEL":         "gpt-4o",
		"WORKER_ID":            "compact-test",
		"USAGE_FLUSH_INTERVAL": "1000",
	})
	set, err := provider.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	nc := bustest.Conn(t, bustest.Server(t), "compact-test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := New(ctx, cfg, Deps{NATS: nc, Logger: slog.New(slog.DiscardHandler), Providers: set, HTTP: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := set.Get("openai")
	return w, nc, p
}

// answerOf runs req through p and returns the chunks the gateway would get.
func answerOf(t *testing.T, w *Worker, nc *nats.Conn, p provider.Provider, req *busv1.Request, before func(*reply)) []*busv1.Chunk {
	t.Helper()
	sub, err := nc.SubscribeSync(req.ReplySubject)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	rep := newReply(nc, req, 1)
	if before != nil {
		before(rep)
	}
	usage, err := w.answer(context.Background(), req, p, rep, w.log)
	if err != nil {
		_ = rep.fail(apierror.As(err))
	} else {
		_ = rep.end(usage)
	}
	var out []*busv1.Chunk
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("answer incomplete: %v", err)
		}
		c := new(busv1.Chunk)
		if err := proto.Unmarshal(m.Data, c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
		if c.End != nil {
			return out
		}
	}
}

// TestCompact: a compaction request goes upstream byte for byte but for the mapped model,
// with the client's OpenAI headers; its answer comes back whole, with the upstream's request
// id, lynkr's own headers and its usage.
func TestCompact(t *testing.T) {
	fake := fakeupstream.New()
	defer fake.Close()
	w, nc, p := testWorker(t, fake)
	cp := compacting{Provider: p, url: fake.URL() + "/v1/responses/compact"}
	for _, tc := range []struct{ name, model, body string }{
		{"model kept", "gpt-4o", `{ "model" : "gpt-4o",  "input":[{"role":"user","content":"keep   me"}], "x_unknown": [1, 2] }`},
		{"model mapped", "claude-sonnet-4-5", `{"model":"claude-sonnet-4-5","input":[{"role":"user","content":"hello"}],"instructions":"be brief"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &busv1.Request{Id: "c-" + strings.ReplaceAll(tc.name, " ", "-"), ReplySubject: "lynkr.resp.test." + strings.ReplaceAll(tc.name, " ", "-"),
				Operation: busv1.Operation_OPERATION_RESPONSES_COMPACT, Provider: "openai", Model: tc.model,
				Body: []byte(tc.body), Headers: map[string]string{"Session-Id": "s-1", "Anthropic-Version": "2023-06-01"}}
			chunks := answerOf(t, w, nc, cp, req, func(r *reply) { r.header("X-Lynkr-Dropped", "web_search") })
			if len(chunks) != 1 {
				t.Fatalf("%d chunks, want the whole answer in one", len(chunks))
			}
			c := chunks[0]
			if e := c.End.GetError(); e != nil {
				t.Fatalf("error %d: %s", e.Status, e.Message)
			}
			if c.Head.GetStatus() != http.StatusOK || c.Head.GetContentType() != "application/json" {
				t.Errorf("head %v", c.Head)
			}
			if !bytes.Contains(c.Data, []byte(`"object":"response.compaction"`)) {
				t.Errorf("answer %s", c.Data)
			}
			if h := c.Head.GetHeaders(); !strings.HasPrefix(h["X-Upstream-Request-Id"], "req_") || h["X-Lynkr-Dropped"] != "web_search" {
				t.Errorf("head headers %v", h)
			}
			if u := c.End.GetUsage(); u.GetInputTokens() == 0 {
				t.Errorf("no usage: %v", u)
			}
			calls := fake.Requests()
			got := calls[len(calls)-1]
			if got.Endpoint != fakeupstream.ResponsesCompact {
				t.Fatalf("upstream endpoint %q", got.Endpoint)
			}
			want := []byte(tc.body)
			if tc.model != "gpt-4o" {
				want, _ = sjson.SetBytes(want, "model", "gpt-4o")
			}
			if !bytes.Equal(got.Body, want) {
				t.Errorf("upstream body\n got  %s\n want %s", got.Body, want)
			}
			if got.Header.Get("Session-Id") != "s-1" || got.Header.Get("Anthropic-Version") != "" {
				t.Errorf("upstream headers %v", got.Header)
			}
		})
	}
}

// TestCompactNotServed: a provider without compaction answers 404 and calls nothing.
func TestCompactNotServed(t *testing.T) {
	fake := fakeupstream.New()
	defer fake.Close()
	w, nc, p := testWorker(t, fake)
	req := &busv1.Request{Id: "n-1", ReplySubject: "lynkr.resp.test.n-1", Operation: busv1.Operation_OPERATION_RESPONSES_COMPACT,
		Provider: "openai", Model: "gpt-4o", Body: []byte(`{"model":"gpt-4o","input":[]}`)}
	chunks := answerOf(t, w, nc, p, req, nil)
	e := chunks[len(chunks)-1].End.GetError()
	if e.GetStatus() != http.StatusNotFound || e.GetMessage() != "provider openai does not serve /v1/responses/compact" {
		t.Errorf("error %v", e)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d upstream calls", n)
	}
}

// TestReplyHeaders: headers travel with the head, the upstream's under the allow-list; once
// the head is out, none can be added.
func TestReplyHeaders(t *testing.T) {
	nc := bustest.Conn(t, bustest.Server(t), "reply-test")
	req := &busv1.Request{Id: "h-1", ReplySubject: "lynkr.resp.test.h-1"}
	sub, err := nc.SubscribeSync(req.ReplySubject)
	if err != nil {
		t.Fatal(err)
	}
	rep := newReply(nc, req, 1)
	rep.upstream(http.Header{"Request-Id": {"req_1"}, "Set-Cookie": {"a=b"}, "X-Ratelimit-Limit-Requests": {"10"}})
	rep.header("X-Lynkr-Dropped", "web_search,context_management")
	rep.header("X-Lynkr-Gone", "x")
	rep.header("X-Lynkr-Gone", "")
	rep.begin(http.StatusOK, "text/event-stream")
	if err := rep.data([]byte("data: 1\n\n")); err != nil {
		t.Fatal(err)
	}
	if rep.header("X-Lynkr-Late", "x") {
		t.Error("a header was taken after the head went out")
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := new(busv1.Chunk)
	if err := proto.Unmarshal(m.Data, c); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Request-Id": "req_1", "X-Ratelimit-Limit-Requests": "10", "X-Lynkr-Dropped": "web_search,context_management"}
	got := c.GetHead().GetHeaders()
	if len(got) != len(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
