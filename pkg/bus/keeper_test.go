package bus_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keeperOf runs a keeper of the standard streams and one provider's consumer until the test
// ends.
func keeperOf(t *testing.T, js jetstream.JetStream) (*bus.Keeper, <-chan struct{}) {
	t.Helper()
	ctx := context.Background()
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	ensure := func(ctx context.Context) error {
		if err := bus.Setup(ctx, js, cfg); err != nil {
			return err
		}
		_, err := bus.EnsureConsumer(ctx, js, "openai", bus.ConsumerConfig{MaxInFlight: 8, AckWait: time.Second, MaxDeliver: 3})
		return err
	}
	if err := ensure(ctx); err != nil {
		t.Fatal(err)
	}
	k := bus.NewKeeper(js.Conn(), js, bus.Assets{
		Streams:   []string{bus.RequestStream, bus.UsageStream, bus.BucketStream(bus.ProviderBucket)},
		Consumers: map[string][]string{bus.RequestStream: {bus.ConsumerName("openai")}},
		Ensure:    ensure,
	}, 20*time.Millisecond, quiet())
	restarts := k.Restarts()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = k.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return k, restarts
}

// What a server lost (a stream, a bucket, a consumer) the keeper makes again, and says so on
// Restarts, so what followed the old ones starts again.
func TestKeeperRecreatesWhatTheServerLost(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	k, restarts := keeperOf(t, js)
	for _, lose := range []struct {
		what string
		do   func() error
	}{
		{"the request stream", func() error { return js.DeleteStream(ctx, bus.RequestStream) }},
		{"the provider bucket", func() error { return js.DeleteKeyValue(ctx, bus.ProviderBucket) }},
		{"a provider's consumer", func() error { return js.DeleteConsumer(ctx, bus.RequestStream, bus.ConsumerName("openai")) }},
	} {
		if err := lose.do(); err != nil {
			t.Fatalf("delete %s: %v", lose.what, err)
		}
		select {
		case <-restarts:
		case <-time.After(10 * time.Second):
			t.Fatalf("the keeper did not re-create %s", lose.what)
		}
		if _, err := js.Consumer(ctx, bus.RequestStream, bus.ConsumerName("openai")); err != nil {
			t.Fatalf("after losing %s, the consumer: %v", lose.what, err)
		}
		if _, err := js.KeyValue(ctx, bus.ProviderBucket); err != nil {
			t.Fatalf("after losing %s, the bucket: %v", lose.what, err)
		}
		eventually(t, "the keeper to be ready", k.Ready)
	}
}

// A stream another instance re-created (it noticed the loss first) is not missing, but what
// followed the old one must start again: the keeper tells by the stream's creation time.
func TestKeeperNoticesAStreamReplacedElsewhere(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	_, restarts := keeperOf(t, js)
	time.Sleep(100 * time.Millisecond) // a few checks: the keeper knows the streams as they are
	select {
	case <-restarts:
		t.Fatal("the keeper restarted with nothing lost")
	default:
	}
	kv, err := js.KeyValue(ctx, bus.ProviderBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, bus.BucketStream(bus.ProviderBucket))
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if err := js.DeleteKeyValue(ctx, kv.Bucket()); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil { // as another instance's keeper would
		t.Fatal(err)
	}
	select {
	case <-restarts:
	case <-time.After(10 * time.Second):
		t.Fatal("the keeper did not notice the re-created bucket")
	}
}

// recorder is a Watcher that keeps what it was told.
type recorder struct {
	mu     sync.Mutex
	values map[string]string
	begun  int
	synced bool
}

func (r *recorder) Begin() {
	r.mu.Lock()
	r.begun++
	r.mu.Unlock()
}

func (r *recorder) Apply(e jetstream.KeyValueEntry) {
	r.mu.Lock()
	r.values[e.Key()] = string(e.Value())
	r.mu.Unlock()
}

func (r *recorder) Synced(on bool) {
	r.mu.Lock()
	r.synced = on
	r.mu.Unlock()
}

func (r *recorder) get(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[key], r.synced
}

// A watch follows its bucket through the bucket's loss and re-creation: it starts again, and
// the values put into the new bucket reach the watcher.
func TestWatchFollowsABucketThroughItsRecreation(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	k, _ := keeperOf(t, js)
	kv, err := js.KeyValue(ctx, bus.ProviderBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "openai", "one"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{values: map[string]string{}}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); bus.Watch(wctx, kv, rec, k.Restarts(), quiet()) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "the first value", func() bool { v, synced := rec.get("openai"); return v == "one" && synced })

	if err := js.DeleteKeyValue(ctx, bus.ProviderBucket); err != nil {
		t.Fatal(err)
	}
	// The keeper re-creates it; a put waits until it has.
	eventually(t, "a put into the re-created bucket", func() bool {
		_, err := kv.PutString(ctx, "anthropic", "two")
		return err == nil
	})
	eventually(t, "the watch to see the new bucket's value", func() bool { v, synced := rec.get("anthropic"); return v == "two" && synced })
	rec.mu.Lock()
	begun := rec.begun
	rec.mu.Unlock()
	if begun < 2 {
		t.Errorf("the watch began %d times, want a new start after the bucket was re-created", begun)
	}
}
