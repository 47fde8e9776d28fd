package worker

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tidwall/gjson"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/sse"
	"github.com/lynkr/lynkr/proto/busv1"
)

// handling is a worker serving OpenAI at a fake upstream, not running, with the provider's
// consumer, and what a test of handle watches: the answers sent to gateway "gw-test" and the
// requests JetStream was told to terminate.
type handling struct {
	w          *Worker
	nc         *nats.Conn
	p          provider.Provider
	fake       *fakeupstream.Server
	cons       jetstream.Consumer
	replies    *nats.Subscription
	terminated *nats.Subscription
	seq        uint64 // the stream sequence of the request last taken
}

const testGateway = "gw-test"

// newHandling starts it; env adds to or overrides the worker's settings. Upstream errors are
// not retried unless env says so.
func newHandling(t *testing.T, env map[string]string) *handling {
	t.Helper()
	fake := fakeupstream.New()
	t.Cleanup(fake.Close)
	vars := map[string]string{
		"MODEL_PROVIDER":        "openai",
		"OPENAI_API_KEY":        "sk-operator",
		"OPENAI_ENDPOINT":       fake.URL() + "/v1/chat/completions",
		"OPENAI_MODEL":          "gpt-4o",
		"WORKER_ID":             "handle-test",
		"USAGE_FLUSH_INTERVAL":  "1000",
		"API_RETRY_MAX_RETRIES": "0",
	}
	maps.Copy(vars, env)
	set, err := provider.Load(config.Map(vars))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromEnv(config.Map(vars))
	if err != nil {
		t.Fatal(err)
	}
	nc := bustest.Conn(t, bustest.Server(t), "handle-test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := New(ctx, cfg, Deps{NATS: nc, Logger: slog.New(slog.DiscardHandler), Providers: set, HTTP: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := bus.EnsureConsumer(ctx, w.js, "openai", cfg.consumer())
	if err != nil {
		t.Fatal(err)
	}
	replies, err := nc.SubscribeSync(bus.ReplySubject(testGateway, ">"))
	if err != nil {
		t.Fatal(err)
	}
	terminated, err := nc.SubscribeSync(server.JSAdvisoryConsumerMsgTerminatedPre + "." + bus.RequestStream + "." + bus.ConsumerName("openai"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := set.Get("openai")
	return &handling{w: w, nc: nc, p: p, fake: fake, cons: cons, replies: replies, terminated: terminated}
}

// chatRequest is a Chat Completions request accepted by testGateway now, due in a minute.
func chatRequest(id string, stream bool) *busv1.Request {
	now := time.Now()
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	}
	return &busv1.Request{Id: id, ReplySubject: bus.ReplySubject(testGateway, id), Operation: busv1.Operation_OPERATION_CHAT_COMPLETIONS,
		Provider: "openai", Model: "gpt-4o", Stream: stream, Body: []byte(body),
		AcceptedUnixNano: now.UnixNano(), DeadlineUnixNano: now.Add(time.Minute).UnixNano()}
}

// publish puts req on the bus as a gateway does.
func (h *handling) publish(t *testing.T, req *busv1.Request) {
	t.Helper()
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.w.js.Publish(t.Context(), bus.RequestSubject("openai"), data); err != nil {
		t.Fatal(err)
	}
}

// take fetches the next delivery, as the worker's pull does, and notes its sequence.
func (h *handling) take(t *testing.T) jetstream.Msg {
	t.Helper()
	batch, err := h.cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		h.seq = meta.Sequence.Stream
		return m
	}
	t.Fatal("no request delivered")
	return nil
}

// deliver publishes req and hands its delivery to handle.
func (h *handling) deliver(t *testing.T, req *busv1.Request) {
	t.Helper()
	h.publish(t, req)
	h.w.handle(t.Context(), h.take(t), h.p)
}

// answer reads the chunks sent to the gateway, up to the end.
func (h *handling) answer(t *testing.T) []*busv1.Chunk {
	t.Helper()
	var out []*busv1.Chunk
	for {
		m, err := h.replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("answer incomplete after %d chunks: %v", len(out), err)
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

// settled checks, once the server has seen everything the worker sent, that no answer went
// to the gateway unless answered, that the last request taken was terminated or not, and that
// the bus holds it no more: it will not run again.
func (h *handling) settled(t *testing.T, answered, terminated bool) {
	t.Helper()
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := h.replies.Pending(); !answered && n > 0 {
		t.Errorf("%d chunks sent to the gateway, want none", n)
	}
	// The server takes acknowledgements and announces terminations on its own time, in order:
	// terminate a marker and read the announcements up to it.
	seq := h.seq
	if _, err := h.w.js.Publish(t.Context(), bus.RequestSubject("openai"), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if err := h.take(t).Term(); err != nil {
		t.Fatal(err)
	}
	marker, was := h.seq, false
	for {
		m, err := h.terminated.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no termination announced for the marker: %v", err)
		}
		switch gjson.GetBytes(m.Data, "stream_seq").Uint() {
		case seq:
			was = true
		case marker:
			if was != terminated {
				t.Errorf("terminated %v, want %v", was, terminated)
			}
			info, err := h.cons.Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if info.NumAckPending != 0 || info.NumPending != 0 {
				t.Errorf("the consumer has %d unacknowledged and %d waiting: the request would run again", info.NumAckPending, info.NumPending)
			}
			return
		}
	}
}

func (h *handling) upstreamCalls() int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.Endpoint != fakeupstream.Models {
			n++
		}
	}
	return n
}

// A streamed answer goes to the gateway as numbered chunks: the head with the first data,
// the events in the client's format, then the end with the usage; the request is
// acknowledged.
func TestHandleStreamsAnAnswer(t *testing.T) {
	h := newHandling(t, nil)
	h.fake.Enqueue(fakeupstream.Reply{Text: "hello from the fake", Usage: fakeupstream.Usage{InputTokens: 12, OutputTokens: 4}})
	h.deliver(t, chatRequest("req-stream", true))
	chunks := h.answer(t)

	var body []byte
	for i, c := range chunks {
		if c.RequestId != "req-stream" || c.Seq != uint64(i+1) || c.Attempt != 1 {
			t.Errorf("chunk %d: request %q, seq %d, attempt %d", i, c.RequestId, c.Seq, c.Attempt)
		}
		if (c.Head != nil) != (i == 0) {
			t.Errorf("chunk %d has a head: %v", i, c.Head != nil)
		}
		body = append(body, c.Data...)
	}
	if head := chunks[0].Head; head.GetStatus() != http.StatusOK || head.GetContentType() != "text/event-stream" {
		t.Errorf("head %v", head)
	}
	if len(chunks) < 3 {
		t.Errorf("%d chunks: a stream should go out as it comes", len(chunks))
	}
	var text strings.Builder
	r := sse.NewReader(bytes.NewReader(body), 0)
	last := sse.Event{}
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		last = ev
		if s := gjson.GetBytes(ev.Data, "choices.0.delta.content").String(); s != "" {
			text.WriteString(s)
		}
	}
	if text.String() != "hello from the fake" || !last.IsDone() {
		t.Errorf("streamed text %q, last event %q; want the reply and [DONE]\n%s", text.String(), last.Data, body)
	}
	end := chunks[len(chunks)-1].End
	if end.GetError() != nil {
		t.Fatalf("ended with an error: %v", end.GetError())
	}
	if u := end.GetUsage(); u.GetProvider() != "openai" || u.GetInputTokens() != 12 || u.GetOutputTokens() != 4 {
		t.Errorf("usage %v, want openai's 12 in and 4 out", u)
	}
	h.settled(t, true, false)
	calls := h.fake.Requests()
	if h.upstreamCalls() != 1 || calls[len(calls)-1].Endpoint != fakeupstream.ChatCompletions {
		t.Errorf("upstream calls %d", h.upstreamCalls())
	}
	if h.w.answered.Load() != 1 || h.w.failed.Load() != 0 || h.w.active.Load() != 0 {
		t.Errorf("answered %d, failed %d, active %d", h.w.answered.Load(), h.w.failed.Load(), h.w.active.Load())
	}
}

// A whole answer travels as one message: head, body and end together.
func TestHandleWholeAnswer(t *testing.T) {
	h := newHandling(t, nil)
	h.fake.Enqueue(fakeupstream.Reply{Text: "all at once"})
	h.deliver(t, chatRequest("req-whole", false))
	chunks := h.answer(t)
	if len(chunks) != 1 {
		t.Fatalf("%d chunks, want one", len(chunks))
	}
	c := chunks[0]
	if c.Head.GetStatus() != http.StatusOK || c.Head.GetContentType() != "application/json" || c.End.GetError() != nil {
		t.Errorf("head %v, end %v", c.Head, c.End)
	}
	if got := gjson.GetBytes(c.Data, "choices.0.message.content").String(); got != "all at once" {
		t.Errorf("answer %s", c.Data)
	}
	if c.End.GetUsage().GetInputTokens() == 0 {
		t.Errorf("no usage: %v", c.End.GetUsage())
	}
	h.settled(t, true, false)
}

// An upstream's error is the answer: the client gets its status and type, with the
// provider named and the upstream's words, and a Retry-After the upstream gave; the request
// is acknowledged, not run again.
func TestHandleUpstreamErrorReachesTheClient(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fault        fakeupstream.Fault
		deadline     time.Duration
		status       int32
		typ, message string
		retryAfterMs int64
	}{
		{"bad request", fakeupstream.Fault{Status: 400, Type: "invalid_request_error", Message: "Unknown parameter: 'foo'."}, time.Minute,
			400, "invalid_request_error", "openai: Unknown parameter: 'foo'.", 0},
		// OpenAI's own type for a bad key, one the API knows, is kept.
		{"bad key", fakeupstream.Fault{Status: 401, Message: "Incorrect API key provided."}, time.Minute,
			401, "invalid_request_error", "openai: Incorrect API key provided.", 0},
		{"forbidden, type unknown to the API", fakeupstream.Fault{Status: 403, Type: "insufficient_quota", Message: "Quota exceeded."}, time.Minute,
			403, "permission_error", "openai: Quota exceeded.", 0},
		// A wait past the request's deadline is not retried: the client learns when to come back.
		{"rate limited past the deadline", fakeupstream.Fault{Status: 429, Message: "Rate limit reached", RetryAfter: "30"}, 10 * time.Second,
			429, "rate_limit_error", "openai: Rate limit reached", 30000},
		{"overloaded", fakeupstream.Fault{Status: 503, Message: "The engine is currently overloaded"}, time.Minute,
			503, "overloaded_error", "openai: The engine is currently overloaded", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retries := map[string]string{}
			if tc.status == 429 {
				retries["API_RETRY_MAX_RETRIES"] = "3" // retries are on: the deadline stops them
			}
			h := newHandling(t, retries)
			h.fake.FailNext(1, tc.fault)
			req := chatRequest("req-"+strings.ReplaceAll(tc.name, " ", "-"), false)
			req.DeadlineUnixNano = time.Now().Add(tc.deadline).UnixNano()
			h.deliver(t, req)
			chunks := h.answer(t)
			if len(chunks) != 1 || chunks[0].Head != nil || len(chunks[0].Data) != 0 {
				t.Errorf("%d chunks, the first with head %v and %d bytes: want the error alone", len(chunks), chunks[0].Head, len(chunks[0].Data))
			}
			e := chunks[len(chunks)-1].End.GetError()
			if e.GetStatus() != tc.status || e.GetType() != tc.typ || e.GetMessage() != tc.message || e.GetRetryAfterMs() != tc.retryAfterMs {
				t.Errorf("error %d %q %q, retry after %d ms; want %d %q %q, %d ms",
					e.GetStatus(), e.GetType(), e.GetMessage(), e.GetRetryAfterMs(), tc.status, tc.typ, tc.message, tc.retryAfterMs)
			}
			h.settled(t, true, false)
			if n := h.upstreamCalls(); n != 1 {
				t.Errorf("%d upstream calls, want 1", n)
			}
			if h.w.failed.Load() != 1 || h.w.answered.Load() != 0 {
				t.Errorf("failed %d, answered %d", h.w.failed.Load(), h.w.answered.Load())
			}
		})
	}
}

// A request whose deadline passed while it waited is dropped: no upstream call, no answer
// (its gateway answered the client already), and JetStream is told not to deliver it again.
func TestHandleExpiredRequestIsTerminated(t *testing.T) {
	h := newHandling(t, nil)
	req := chatRequest("req-expired", true)
	req.AcceptedUnixNano = time.Now().Add(-2 * time.Minute).UnixNano()
	req.DeadlineUnixNano = time.Now().Add(-time.Minute).UnixNano()
	h.deliver(t, req)
	h.settled(t, false, true)
	if n := h.upstreamCalls(); n != 0 {
		t.Errorf("%d upstream calls for an expired request", n)
	}
}

// A request its client canceled before a worker took it is acknowledged and not run.
func TestHandleCanceledBeforeItStarted(t *testing.T) {
	h := newHandling(t, nil)
	h.w.cancel("req-canceled") // as the cancellation subscription does
	h.deliver(t, chatRequest("req-canceled", true))
	h.settled(t, false, false)
	if n := h.upstreamCalls(); n != 0 {
		t.Errorf("%d upstream calls for a canceled request", n)
	}
	// The cancellation was used up: the same id, sent again, runs.
	h.fake.Enqueue(fakeupstream.Reply{Text: "ran"})
	h.deliver(t, chatRequest("req-canceled", false))
	if e := h.answer(t)[0].End.GetError(); e != nil {
		t.Errorf("the next request failed: %v", e)
	}
}

// A request canceled while it streams stops: its upstream call ends, the gateway is told,
// and it is acknowledged, not handed to another worker.
func TestHandleCanceledWhileStreaming(t *testing.T) {
	h := newHandling(t, nil)
	h.fake.Enqueue(fakeupstream.Reply{Text: strings.Repeat("word ", 200), ChunkDelay: 20 * time.Millisecond})
	h.publish(t, chatRequest("req-cut", true))
	msg := h.take(t)
	done := make(chan struct{})
	go func() { defer close(done); h.w.handle(context.Background(), msg, h.p) }()
	if _, err := h.replies.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("no first chunk: %v", err)
	}
	h.w.cancel("req-cut")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handle did not return after the cancellation")
	}
	var end *busv1.End
	for end == nil {
		m, err := h.replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no end: %v", err)
		}
		c := new(busv1.Chunk)
		if err := proto.Unmarshal(m.Data, c); err != nil {
			t.Fatal(err)
		}
		end = c.End
	}
	if e := end.GetError(); e.GetStatus() != 499 || !strings.Contains(e.GetMessage(), ErrCanceled.Error()) {
		t.Errorf("end %v, want a 499 for the canceled client", end)
	}
	h.settled(t, true, false)
	for deadline := time.Now().Add(5 * time.Second); h.fake.InFlight() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d upstream calls still open 5s after the cancellation", h.fake.InFlight())
		}
	}
}

// holder answers the worker's question whether testGateway still holds requests: with the
// ids of gone, of those asked.
func holder(t *testing.T, nc *nats.Conn, gone ...string) {
	t.Helper()
	sub, err := nc.Subscribe(bus.HoldingSubject(testGateway), func(m *nats.Msg) {
		var out []string
		for id := range strings.FieldsSeq(string(m.Data)) {
			for _, g := range gone {
				if id == g {
					out = append(out, id)
				}
			}
		}
		_ = m.Respond([]byte(strings.Join(out, " ")))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A request delivered again, or one JetStream stored long after its gateway accepted it,
// may have been given up by its gateway: the worker asks first, runs it only for a gateway
// that still holds its client, and otherwise terminates it without an upstream call.
func TestHandleARequestItIsUnsureOf(t *testing.T) {
	for _, tc := range []struct {
		name      string
		late      bool   // stored late on its first delivery, rather than delivered again
		gateway   string // "holds", "gone" (no gateway answers) or "let go"
		wantsRun  bool
		wantsTerm bool
	}{
		{"redelivered, held", false, "holds", true, false},
		{"redelivered, gateway gone", false, "gone", false, true},
		{"redelivered, let go", false, "let go", false, true},
		{"stored late, held", true, "holds", true, false},
		{"stored late, gateway gone", true, "gone", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandling(t, nil)
			id := "req-" + strings.ReplaceAll(tc.name, " ", "-")
			switch tc.gateway {
			case "holds":
				holder(t, h.nc)
			case "let go":
				holder(t, h.nc, id)
			}
			h.fake.Enqueue(fakeupstream.Reply{Text: "ran"})
			req := chatRequest(id, false)
			if tc.late {
				req.AcceptedUnixNano = time.Now().Add(-5 * time.Second).UnixNano()
			}
			h.publish(t, req)
			msg := h.take(t)
			attempt := uint64(1)
			if !tc.late {
				if err := msg.Nak(); err != nil { // the first worker gave it back
					t.Fatal(err)
				}
				msg, attempt = h.take(t), 2
			}
			h.w.handle(t.Context(), msg, h.p)
			if tc.wantsRun {
				chunks := h.answer(t)
				if c := chunks[0]; c.Attempt != attempt || c.End.GetError() != nil {
					t.Errorf("attempt %d, end %v; want attempt %d answered", c.Attempt, c.End, attempt)
				}
			}
			h.settled(t, tc.wantsRun, tc.wantsTerm)
			if n, want := h.upstreamCalls(), map[bool]int{true: 1, false: 0}[tc.wantsRun]; n != want {
				t.Errorf("%d upstream calls, want %d", n, want)
			}
			v, err := metrics.Read(h.w.gatherer)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := v.Sum("lynkr_redeliveries_total"), float64(attempt-1); got != want {
				t.Errorf("redeliveries counted %v, want %v", got, want)
			}
		})
	}
}

// A request that cannot be decoded is terminated: no worker could ever run it.
func TestHandleUndecodableRequestIsTerminated(t *testing.T) {
	h := newHandling(t, nil)
	if _, err := h.w.js.Publish(t.Context(), bus.RequestSubject("openai"), []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	h.w.handle(t.Context(), h.take(t), h.p)
	h.settled(t, false, true)
	if n := h.upstreamCalls(); n != 0 {
		t.Errorf("%d upstream calls", n)
	}
}
