package relay

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/proto/busv1"
)

// startRelay runs a relay of instance "gw" on an embedded nats-server with JetStream, with a
// stream "T" that takes the subjects t.> and holds at most one message.
func startRelay(t *testing.T, acceptWithin time.Duration) (*Relay, *nats.Conn) {
	t.Helper()
	nc := bustest.Conn(t, bustest.Server(t), "relay-test")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"},
		Storage: jetstream.MemoryStorage, MaxMsgs: 1, Discard: jetstream.DiscardNew, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	r, err := Start(nc, "gw", acceptWithin, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return r, nc
}

func publish(t *testing.T, r *Relay, id, subject, msgID string) *Answer {
	t.Helper()
	return publishBy(t, r, id, subject, msgID, time.Now().Add(time.Minute))
}

func publishBy(t *testing.T, r *Relay, id, subject, msgID string, deadline time.Time) *Answer {
	t.Helper()
	a := r.Expect(id, deadline)
	t.Cleanup(func() { r.Done(a) })
	if err := r.Publish(a, subject, nats.Header{nats.MsgIdHdr: []string{msgID}}, []byte("request "+id)); err != nil {
		t.Fatal(err)
	}
	return a
}

// outcome waits for the answer to be woken and returns what Take gives.
func outcome(t *testing.T, a *Answer) ([]*busv1.Chunk, error) {
	t.Helper()
	select {
	case <-a.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the answer was never woken")
	}
	return a.Take(nil)
}

func TestAConfirmedRequestIsWokenOnlyByItsAnswer(t *testing.T) {
	r, nc := startRelay(t, time.Minute)
	a := publish(t, r, "r1", "t.one", "r1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		accepted := a.accepted
		a.mu.Unlock()
		if accepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("JetStream's confirmation never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-a.Ready():
		t.Fatal("the confirmation woke the request")
	default:
	}

	b, err := proto.Marshal(&busv1.Chunk{RequestId: "r1", Seq: 1, Attempt: 1, Data: []byte("hello"), End: &busv1.End{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(bus.ReplySubject("gw", "r1"), b); err != nil {
		t.Fatal(err)
	}
	chunks, err := outcome(t, a)
	if err != nil || len(chunks) != 1 || string(chunks[0].Data) != "hello" {
		t.Fatalf("got %v, %v; want the one chunk and no error", chunks, err)
	}
}

func TestABusThatDoesNotTakeTheRequestEndsItsAnswer(t *testing.T) {
	r, nc := startRelay(t, 200*time.Millisecond)
	// Something listens on n.silent but never answers: neither JetStream nor "no responders".
	if _, err := nc.Subscribe("n.silent", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}

	if _, err := outcome(t, publish(t, r, "nostream", "n.none", "nostream")); !errors.Is(err, ErrNoStream) {
		t.Errorf("no stream for the subject: %v, want ErrNoStream", err)
	}

	if _, err := outcome(t, publish(t, r, "silent", "n.silent", "silent")); !errors.Is(err, ErrNotAccepted) {
		t.Errorf("no confirmation: %v, want ErrNotAccepted", err)
	}

	first := publish(t, r, "first", "t.x", "first")
	for _, c := range []struct{ id, msgID string }{{"dup", "first"}, {"full", "full"}} {
		a := publish(t, r, c.id, "t.x", c.msgID)
		_, err := outcome(t, a)
		var refused *RefusedError
		switch c.id {
		case "dup":
			if !errors.Is(err, ErrDuplicate) {
				t.Errorf("same message id again: %v, want ErrDuplicate", err)
			}
		case "full":
			if !errors.As(err, &refused) || refused.Code == 0 || refused.Description == "" {
				t.Errorf("stream full: %v, want a RefusedError with JetStream's code and description", err)
			}
		}
	}
	select {
	case <-first.Ready():
		t.Error("the stored request was woken without an answer")
	default:
	}
}

func TestAnAnswerEndsAtItsDeadline(t *testing.T) {
	r, nc := startRelay(t, time.Minute)
	a := publishBy(t, r, "slow", "t.slow", "slow", time.Now().Add(300*time.Millisecond))
	b, err := proto.Marshal(&busv1.Chunk{RequestId: "slow", Seq: 1, Attempt: 1, Data: []byte("part")})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(bus.ReplySubject("gw", "slow"), b); err != nil {
		t.Fatal(err)
	}
	var got []*busv1.Chunk
	for {
		chunks, err := outcome(t, a)
		got = append(got, chunks...)
		if err != nil {
			if !errors.Is(err, ErrDeadline) {
				t.Fatalf("ended with %v, want ErrDeadline", err)
			}
			break
		}
	}
	if len(got) != 1 || string(got[0].Data) != "part" {
		t.Fatalf("chunks before the deadline: %v, want the one sent", got)
	}
}
