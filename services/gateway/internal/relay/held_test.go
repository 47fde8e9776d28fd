package relay

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// sendChunks publishes n chunks of size bytes of data each as the answer to request id, in
// order from seq 1, and waits until the server has passed them on.
func sendChunks(t *testing.T, nc *nats.Conn, id string, n, size int) {
	t.Helper()
	data := make([]byte, size)
	for i := range n {
		b, err := proto.Marshal(&busv1.Chunk{Attempt: 1, Seq: uint64(i + 1), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(bus.ReplySubject("gw", id), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An answer nobody takes holds at most MaxHeld: past it the answer ends with
// ErrClientBehind, what it held is dropped, the request is cancelled on the bus, the handler is
// kicked once, and the relay counts it.
func TestAnAnswerNobodyTakesIsEndedPastMaxHeld(t *testing.T) {
	r, nc := startRelay(t, time.Minute)
	cancels, err := nc.SubscribeSync(bus.CancelSubject("unread"))
	if err != nil {
		t.Fatal(err)
	}
	a := r.Expect("unread", time.Now().Add(time.Minute))
	t.Cleanup(func() { r.Done(a) })
	var kicks atomic.Int32
	a.OnBehind(func() { kicks.Add(1) })

	const size = 64 << 10
	sendChunks(t, nc, "unread", 2*MaxHeld/size, size)
	waitFor(t, "the answer ended", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.ended != nil
	})
	chunks, err := a.Take(nil)
	if !errors.Is(err, ErrClientBehind) || len(chunks) != 0 {
		t.Fatalf("Take = %d chunks, %v; want none and ErrClientBehind", len(chunks), err)
	}
	if _, err := cancels.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no cancellation of the request: %v", err)
	}
	if n := kicks.Load(); n != 1 {
		t.Errorf("kicked %d times, want once", n)
	}
	if n := r.Abandoned(); n != 1 {
		t.Errorf("Abandoned = %d, want 1", n)
	}
	a.mu.Lock()
	held, queued := a.held, len(a.queue)
	a.mu.Unlock()
	if held != 0 || queued != 0 {
		t.Errorf("after the end the answer holds %d bytes in %d chunks, want nothing", held, queued)
	}

	// A handler that sets its kick only after the end is kicked at once.
	a.OnBehind(func() { kicks.Add(1) })
	if n := kicks.Load(); n != 2 {
		t.Errorf("a kick set after the end was not called")
	}
}

// A handler that takes the chunks as they come is never cut off, however long the answer,
// and one message larger than MaxHeld is held whole.
func TestAnAnswerTakenAsItComesIsNotBounded(t *testing.T) {
	r, nc := startRelay(t, time.Minute)
	a := r.Expect("read", time.Now().Add(time.Minute))
	t.Cleanup(func() { r.Done(a) })
	a.OnBehind(func() { t.Error("kicked a handler that keeps up") })

	b, err := proto.Marshal(&busv1.Chunk{Attempt: 1, Seq: 1, Data: make([]byte, MaxHeld+1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(bus.ReplySubject("gw", "read"), b); err != nil {
		t.Fatal(err)
	}
	chunks, err := outcome(t, a)
	if err != nil || len(chunks) != 1 || len(chunks[0].Data) != MaxHeld+1<<20 {
		t.Fatalf("one message larger than MaxHeld: got %d chunks, %v", len(chunks), err)
	}

	const size, n = 256 << 10, 3 * MaxHeld / (256 << 10)
	got := 0
	for i := range n {
		b, err := proto.Marshal(&busv1.Chunk{Attempt: 1, Seq: uint64(i + 2), Data: make([]byte, size)})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(bus.ReplySubject("gw", "read"), b); err != nil {
			t.Fatal(err)
		}
		chunks, err := outcome(t, a)
		if err != nil {
			t.Fatalf("after %d chunks taken as they came: %v", got, err)
		}
		got += len(chunks)
	}
	if got != n || r.Abandoned() != 0 {
		t.Errorf("took %d of %d chunks, %d answers abandoned", got, n, r.Abandoned())
	}
}
