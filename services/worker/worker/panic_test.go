package worker

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/proto/busv1"
)

// panicking is a provider with a bug: building its call panics.
type panicking struct{ provider.Provider }

func (panicking) NewRequest(context.Context, []byte, bool, http.Header) (*http.Request, error) {
	var m map[string]int
	m["boom"]++ // a nil map write: a real panic, not a panic() call
	return nil, nil
}

// A request that panics is answered with a 500 and its stack is logged; the worker lives on.
func TestPanicIsAnsweredNotFatal(t *testing.T) {
	fake := fakeupstream.New()
	t.Cleanup(fake.Close)
	w, _, p := testWorker(t, fake)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	req := &busv1.Request{Id: "req-panic", Operation: busv1.Operation_OPERATION_CHAT_COMPLETIONS, Model: "gpt-4o",
		Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)}
	rep := newReply(w.nc, req, 1)
	_, panicked, err := w.answerGuarded(context.Background(), req, panicking{p}, rep, log)
	if !panicked {
		t.Fatalf("no panic reported, error %v", err)
	}
	if e := apierror.As(err); e.Status != http.StatusInternalServerError || !strings.Contains(e.Message, "req-panic") {
		t.Errorf("error %d %q", e.Status, e.Message)
	}
	if out := logs.String(); !strings.Contains(out, "request panicked") || !strings.Contains(out, "assignment to entry in nil map") ||
		!strings.Contains(out, "panic_test.go") {
		t.Errorf("log has no panic and stack: %s", out)
	}
	// The same worker answers the next request.
	fake.Enqueue(fakeupstream.Reply{Text: "fine"})
	req2 := &busv1.Request{Id: "req-next", Operation: busv1.Operation_OPERATION_CHAT_COMPLETIONS, Model: "gpt-4o",
		Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)}
	if _, panicked, err := w.answerGuarded(context.Background(), req2, p, newReply(w.nc, req2, 1), log); panicked || err != nil {
		t.Errorf("next request: panicked %v, error %v", panicked, err)
	}
}

// A poison request, delivered by JetStream, is answered 500 to its gateway and terminated: the
// bus holds it no more, so it cannot take down the next worker, and the worker serves on.
func TestAPanickingRequestIsTerminatedNotRedelivered(t *testing.T) {
	fake := fakeupstream.New()
	t.Cleanup(fake.Close)
	w, nc, p := testWorker(t, fake)
	ctx := t.Context()
	cons, err := bus.EnsureConsumer(ctx, w.js, "openai", bus.ConsumerConfig{MaxInFlight: 8, AckWait: time.Second, MaxDeliver: 5})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(id string) jetstream.Msg {
		t.Helper()
		now := time.Now()
		req := &busv1.Request{Id: id, ReplySubject: bus.ReplySubject("gw-test", id), Operation: busv1.Operation_OPERATION_CHAT_COMPLETIONS,
			Model: "gpt-4o", Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`),
			AcceptedUnixNano: now.UnixNano(), DeadlineUnixNano: now.Add(time.Minute).UnixNano()}
		data, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.js.Publish(ctx, bus.RequestSubject("openai"), data); err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			return m
		}
		t.Fatal("no request delivered")
		return nil
	}
	sub, err := nc.SubscribeSync(bus.ReplySubject("gw-test", ">"))
	if err != nil {
		t.Fatal(err)
	}
	w.handle(ctx, deliver("req-poison"), panicking{p})
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no answer to the poison request: %v", err)
		}
		var c busv1.Chunk
		if err := proto.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		if c.End == nil {
			continue
		}
		if e := c.End.GetError(); e.GetStatus() != http.StatusInternalServerError {
			t.Fatalf("the poison request ended %v, want a 500", c.End)
		}
		break
	}
	// Past its ack wait the request is still not delivered again: the bus no longer holds it.
	time.Sleep(1500 * time.Millisecond)
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumRedelivered != 0 || info.NumPending != 0 {
		t.Fatalf("after the panic the consumer has %d pending acks, %d redelivered, %d waiting: the request would run again",
			info.NumAckPending, info.NumRedelivered, info.NumPending)
	}
	// The worker serves the next request.
	fake.Enqueue(fakeupstream.Reply{Text: "fine"})
	w.handle(ctx, deliver("req-next"), p)
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no answer to the next request: %v", err)
		}
		var c busv1.Chunk
		if err := proto.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		if c.End != nil {
			if c.End.GetError() != nil {
				t.Fatalf("the next request failed: %v", c.End.GetError())
			}
			break
		}
	}
}
