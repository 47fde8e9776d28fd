package worker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/proto/busv1"
)

func usageStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(bustest.Conn(t, bustest.Server(t), "usage-test"))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// storedUsage reads every usage record on the stream.
func storedUsage(t *testing.T, js jetstream.JetStream) (records []*busv1.Usage, messages int) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, bus.UsageStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var b busv1.UsageBatch
		if err := proto.Unmarshal(m.Data, &b); err != nil {
			t.Fatal(err)
		}
		records = append(records, b.Usages...)
		messages++
	}
	return records, messages
}

func quietLog() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// Usage waits while the stream is missing, is sent again under the same message ids when it
// returns, and a batch published twice is stored once.
func TestUsageBatchesSurviveAnUnavailableStreamAndAreStoredOnce(t *testing.T) {
	js := usageStream(t)
	ctx := context.Background()
	b := newUsageBatcher(js, "w1", time.Hour, quietLog())
	b.maxBatch = 3
	for i := range 5 {
		b.add(&busv1.Usage{RequestId: "r" + string(rune('a'+i)), Provider: "openai", OutputTokens: 1})
	}
	// No stream yet: nothing is acknowledged, everything is held.
	if err := b.flush(); err == nil {
		t.Fatal("flush succeeded without a usage stream")
	}
	if len(b.unsent) != 2 || b.held != 5 {
		t.Fatalf("unsent batches %d, held %d; want 2 and 5", len(b.unsent), b.held)
	}
	ids := []string{b.unsent[0].msgID, b.unsent[1].msgID}
	b.add(&busv1.Usage{RequestId: "rf", Provider: "openai", OutputTokens: 1})

	if err := bus.Setup(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	// The first sealed batch reaches the stream once already, as if its acknowledgement had
	// been lost: sending it again must not store it twice.
	if err := b.publish(b.unsent[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.flush(); err != nil {
		t.Fatalf("flush with the stream back: %v", err)
	}
	if len(b.unsent) != 0 || b.held != 0 {
		t.Fatalf("after the flush: unsent %d, held %d", len(b.unsent), b.held)
	}
	records, messages := storedUsage(t, js)
	if len(records) != 6 || messages != 3 {
		t.Fatalf("stored %d records in %d messages, want 6 in 3 (the republished batch once)", len(records), messages)
	}
	seen := map[string]bool{}
	for _, r := range records {
		if seen[r.RequestId] {
			t.Errorf("request %s stored twice", r.RequestId)
		}
		seen[r.RequestId] = true
	}
	if ids[0] == ids[1] {
		t.Errorf("two batches share the message id %s", ids[0])
	}
	// Another process of the same worker id (a restart) numbers its batches from 1 again;
	// its ids must not collide with these.
	b2 := newUsageBatcher(js, "w1", time.Hour, quietLog())
	b2.add(&busv1.Usage{RequestId: "rg", Provider: "openai"})
	if err := b2.flush(); err != nil {
		t.Fatal(err)
	}
	if records, _ := storedUsage(t, js); len(records) != 7 {
		t.Fatalf("the restarted worker's batch was not stored: %d records, want 7", len(records))
	}
}

// While the stream takes nothing, the batcher holds at most maxHeld records and drops the
// rest, rather than growing without bound.
func TestUsageBatcherBoundsWhatItHolds(t *testing.T) {
	js := usageStream(t)
	b := newUsageBatcher(js, "w1", time.Hour, quietLog())
	b.maxHeld = 10
	for range 25 {
		b.add(&busv1.Usage{RequestId: "r", Provider: "openai"})
	}
	if b.held != 10 || b.dropped != 15 {
		t.Fatalf("held %d dropped %d, want 10 and 15", b.held, b.dropped)
	}
}
