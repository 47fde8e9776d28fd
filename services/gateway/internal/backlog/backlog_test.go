package backlog_test

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/services/gateway/internal/backlog"
)

// requests is the request stream of a new embedded JetStream server with a consumer for each
// of providers, made as the services make them.
func requests(t *testing.T, providers ...string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(bustest.Conn(t, bustest.Server(t), "backlog-test"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	for _, p := range providers {
		if _, err := bus.EnsureConsumer(t.Context(), js, p, bus.ConsumerConfig{MaxInFlight: 10, AckWait: time.Minute, MaxDeliver: 3}); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, provider string, n int) {
	t.Helper()
	for range n {
		if _, err := js.Publish(t.Context(), bus.RequestSubject(provider), []byte("request")); err != nil {
			t.Fatal(err)
		}
	}
}

// monitor runs a monitor of the providers that list returns until the test ends.
func monitor(t *testing.T, js jetstream.JetStream, every time.Duration, list func() []string) *backlog.Monitor {
	t.Helper()
	m := backlog.New(js, list, every, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return when its context ended")
		}
	})
	return m
}

// eventually polls cond for up to 10 s: the monitor sees a change at its next sample.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

// The backlog is the requests no worker has taken: a request a worker holds, acknowledged or
// not, no longer waits.
func TestPendingIsWhatNoWorkerTook(t *testing.T) {
	js := requests(t, "openai", "anthropic")
	publish(t, js, "openai", 5)
	publish(t, js, "anthropic", 2)
	m := monitor(t, js, 10*time.Millisecond, func() []string { return []string{"openai", "anthropic"} })
	eventually(t, "the first sample", func() bool { return m.Pending("openai") == 5 && m.Pending("anthropic") == 2 })

	cons, err := js.Consumer(t.Context(), bus.RequestStream, bus.ConsumerName("openai"))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for msg := range batch.Messages() {
		if taken == 0 {
			if err := msg.Ack(); err != nil {
				t.Fatal(err)
			}
		} // the others are held, not acknowledged
		taken++
	}
	if taken != 3 {
		t.Fatalf("fetched %d requests, want 3", taken)
	}
	eventually(t, "openai's backlog after 3 were taken", func() bool { return m.Pending("openai") == 2 })
	if got := m.Pending("anthropic"); got != 2 {
		t.Errorf("anthropic's backlog = %d, want 2", got)
	}
	publish(t, js, "anthropic", 1)
	eventually(t, "anthropic's new request", func() bool { return m.Pending("anthropic") == 3 })
}

// A provider without a consumer (no worker ever served it) has no backlog, and is left out
// of All rather than shown at zero; the providers are asked again at each sample.
func TestProvidersWithoutConsumersAndChangingLists(t *testing.T) {
	js := requests(t, "openai")
	publish(t, js, "openai", 1)
	var mu sync.Mutex
	list := []string{"openai", "ghost"}
	m := monitor(t, js, 10*time.Millisecond, func() []string { mu.Lock(); defer mu.Unlock(); return list })
	eventually(t, "openai's backlog", func() bool { return m.Pending("openai") == 1 })
	if got := m.All(); !maps.Equal(got, map[string]uint64{"openai": 1}) {
		t.Errorf("All = %v, want openai's alone", got)
	}
	if got := m.Pending("ghost"); got != 0 {
		t.Errorf("Pending(ghost) = %d", got)
	}

	if _, err := bus.EnsureConsumer(t.Context(), js, "ghost", bus.ConsumerConfig{MaxInFlight: 1, AckWait: time.Minute, MaxDeliver: 1}); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "ghost", 4)
	eventually(t, "ghost's backlog once it has a consumer", func() bool { return m.Pending("ghost") == 4 })

	mu.Lock()
	list = []string{"ghost"}
	mu.Unlock()
	eventually(t, "openai dropped from the sample", func() bool { return maps.Equal(m.All(), map[string]uint64{"ghost": 4}) })
}

// Run samples at once, not an interval after it starts: a gateway knows the backlog from its
// first request.
func TestRunSamplesAtOnce(t *testing.T) {
	js := requests(t, "openai")
	publish(t, js, "openai", 2)
	m := monitor(t, js, time.Hour, func() []string { return []string{"openai"} })
	eventually(t, "the first sample, an hour before the first tick", func() bool { return m.Pending("openai") == 2 })
}
