package breaker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// bucket opens the breaker bucket on a connection of its own, as another process would.
func bucket(tb testing.TB, s *server.Server, name string) jetstream.KeyValue {
	tb.Helper()
	js, err := jetstream.New(bustest.Conn(tb, s, name))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	kv, err := breaker.EnsureBucket(context.Background(), js, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return kv
}

// run runs a long-running part until the test ends, and fails the test if it fails.
func run(tb testing.TB, part func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- part(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			tb.Errorf("run: %v", err)
		}
	})
}

func board(tb testing.TB, kv jetstream.KeyValue, now func() time.Time) *breaker.Board {
	tb.Helper()
	b := breaker.NewBoard(kv, quiet(), now)
	run(tb, func(ctx context.Context) error { return b.Run(ctx, nil) })
	select {
	case <-b.Synced():
	case <-time.After(5 * time.Second):
		tb.Fatal("board did not read the bucket")
	}
	return b
}

// worker is a Set whose changes are published to the bucket, as a worker process has.
func worker(tb testing.TB, s *server.Server, instance string, cfg breaker.Config, b *breaker.Board) (*breaker.Set, *breaker.Publisher) {
	pub := breaker.NewPublisher(bucket(tb, s, instance), instance, quiet())
	run(tb, pub.Run)
	return breaker.NewSet(cfg, breaker.Options{Instance: instance, OnStateChange: pub.Notify, Board: b}), pub
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 2s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fail(t *testing.T, s *breaker.Set, provider string, n int) {
	t.Helper()
	for range n {
		done, err := s.Allow(provider)
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		done(breaker.Fault)
	}
}

func TestBoardSeesAWorkersBreaker(t *testing.T) {
	s := bustest.Server(t)
	cfg := breaker.Config{FailureThreshold: 5, SuccessThreshold: 2, Timeout: time.Second}
	workerA, _ := worker(t, s, "worker-a", cfg, nil)
	gateway := board(t, bucket(t, s, "gateway"), nil)
	// Another worker of the same provider, whose own breaker has seen nothing wrong.
	workerB, _ := worker(t, s, "worker-b", cfg, board(t, bucket(t, s, "worker-b-board"), nil))

	if _, open := gateway.Open("openai"); open {
		t.Fatal("open before any call")
	}
	fail(t, workerA, "openai", 5)
	_, err := workerA.Allow("openai")
	var local *breaker.OpenError
	if !errors.As(err, &local) {
		t.Fatalf("worker A's breaker did not open: %v", err)
	}

	eventually(t, "the gateway's board sees openai open", func() bool { _, open := gateway.Open("openai"); return open })
	until, _ := gateway.Open("openai")
	if d := until.Sub(local.Until); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("board until %v, breaker until %v", until, local.Until)
	}
	e, _ := gateway.Entry("openai")
	if e.Provider != "openai" || e.State != breaker.StateOpen || e.By != "worker-a" || e.Since.IsZero() || !e.Since.Before(e.Until) {
		t.Errorf("entry %+v, want openai open by worker-a", e)
	}
	if _, open := gateway.Open("anthropic"); open {
		t.Error("another provider reads as open")
	}

	// Worker B fails fast too, on A's word.
	eventually(t, "worker B fails fast", func() bool { _, err := workerB.Allow("openai"); return errors.Is(err, breaker.ErrOpen) })
	_, err = workerB.Allow("openai")
	var remote *breaker.OpenError
	if !errors.As(err, &remote) || remote.By != "worker-a" || !remote.Until.Equal(until) {
		t.Errorf("worker B: %v, want open by worker-a until %v", err, until)
	}
	if st := workerB.State("openai"); st != breaker.StateClosed {
		t.Errorf("worker B's own breaker is %v; the board's word must not change it", st)
	}

	// Past Until the entry reads as not open, so traffic goes through to probe, although no
	// one has written anything since.
	time.Sleep(time.Until(until) + 5*time.Millisecond)
	if _, open := gateway.Open("openai"); open {
		t.Error("open after its until passed")
	}
	if e, _ := gateway.Entry("openai"); e.State != breaker.StateOpen {
		t.Errorf("entry %+v changed with no write", e)
	}
	if _, err := workerB.Allow("openai"); err != nil {
		t.Errorf("worker B refused after the until passed: %v", err)
	}

	// Two successful probes close A's breaker, and the board sees it closed.
	for range 2 {
		done, err := workerA.Allow("openai")
		if err != nil {
			t.Fatalf("probe refused: %v", err)
		}
		done(breaker.Success)
	}
	eventually(t, "the board sees openai closed", func() bool {
		e, ok := gateway.Entry("openai")
		return ok && e.State == breaker.StateClosed && e.By == "worker-a" && e.Until.IsZero()
	})
	if _, open := gateway.Open("openai"); open {
		t.Error("closed entry reads as open")
	}
}

func TestPublisherKeepsAnotherInstancesOpen(t *testing.T) {
	s := bustest.Server(t)
	ctx := context.Background()
	long := breaker.Config{FailureThreshold: 1, SuccessThreshold: 1, Timeout: time.Minute}
	short := breaker.Config{FailureThreshold: 1, SuccessThreshold: 1, Timeout: 50 * time.Millisecond}
	a, pubA := worker(t, s, "worker-a", long, nil)
	b, pubB := worker(t, s, "worker-b", short, nil)
	kv := bucket(t, s, "reader")
	read := func() breaker.Entry {
		t.Helper()
		kve, err := kv.Get(ctx, "openai")
		if err != nil {
			t.Fatal(err)
		}
		e, err := breaker.DecodeEntry(kve.Value())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	fail(t, b, "openai", 1) // B opens for 50 ms
	if err := pubB.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := read(); e.By != "worker-b" || e.State != breaker.StateOpen {
		t.Fatalf("entry %+v, want B's open", e)
	}
	fail(t, a, "openai", 1) // A opens for a minute: a longer open replaces a shorter one
	if err := pubA.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := read(); e.By != "worker-a" || e.State != breaker.StateOpen {
		t.Fatalf("entry %+v, want A's open", e)
	}

	// B half-opens and closes: its own recovery must not clear what A found.
	time.Sleep(60 * time.Millisecond)
	done, err := b.Allow("openai")
	if err != nil {
		t.Fatal(err)
	}
	done(breaker.Success)
	if st := b.State("openai"); st != breaker.StateClosed {
		t.Fatalf("B's breaker %v, want closed", st)
	}
	if err := pubB.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := read(); e.By != "worker-a" || e.State != breaker.StateOpen {
		t.Errorf("entry %+v: B's close undid A's open", e)
	}
	// B opening again for a shorter time does not shorten A's open either.
	fail(t, b, "openai", 1)
	if err := pubB.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := read(); e.By != "worker-a" {
		t.Errorf("entry %+v: B's shorter open replaced A's", e)
	}
}

func TestBoardClock(t *testing.T) {
	s := bustest.Server(t)
	kv := bucket(t, s, "writer")
	now := time.Now()
	until := now.Add(time.Minute)
	pub := breaker.NewPublisher(kv, "worker-a", quiet())
	run(t, pub.Run)
	pub.Notify(breaker.Change{Provider: "openai", From: breaker.StateClosed, To: breaker.StateOpen, At: now, Until: until})
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var clock time.Time
	b := board(t, bucket(t, s, "reader"), func() time.Time { return clock })
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{
		{now, true},
		{until.Add(-time.Nanosecond), true},
		{until, false},
		{until.Add(time.Hour), false},
	} {
		clock = tc.at
		if _, open := b.Open("openai"); open != tc.open {
			t.Errorf("at until%+v: open = %v, want %v", tc.at.Sub(until), open, tc.open)
		}
	}

	// A deleted entry leaves the board.
	if err := kv.Delete(context.Background(), "openai"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted entry leaves the board", func() bool { _, ok := b.Entry("openai"); return !ok })
}

// openBoard is a board with four providers open for an hour.
func openBoard(b *testing.B) *breaker.Board {
	s := bustest.Server(b)
	kv := bucket(b, s, "bench")
	pub := breaker.NewPublisher(kv, "worker-a", quiet())
	run(b, pub.Run)
	now := time.Now()
	for _, p := range []string{"openai", "anthropic", "bedrock", "ollama"} {
		pub.Notify(breaker.Change{Provider: p, To: breaker.StateOpen, At: now, Until: now.Add(time.Hour)})
	}
	if err := pub.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	bd := board(b, kv, nil)
	for deadline := time.Now().Add(5 * time.Second); len(bd.Entries()) < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("board did not see the entries")
		}
	}
	return bd
}

func BenchmarkBoardOpen(b *testing.B) {
	bd := openBoard(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, open := bd.Open("anthropic"); !open {
			b.Fatal("not open")
		}
	}
}

func BenchmarkBoardOpenParallel(b *testing.B) {
	bd := openBoard(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, open := bd.Open("anthropic"); !open {
				b.Error("not open")
				return
			}
		}
	})
}
