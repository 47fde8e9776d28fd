package registry_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/services/gateway/internal/registry"
)

// bucket is the provider bucket of a new embedded JetStream server, made as the services
// make it.
func bucket(t *testing.T) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	js, err := jetstream.New(bustest.Conn(t, bustest.Server(t), "registry-test"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), bus.ProviderBucket)
	if err != nil {
		t.Fatal(err)
	}
	return js, kv
}

// run runs r on kv until the test ends, and returns the channel that restarts its watch.
func run(t *testing.T, r *registry.Registry, kv jetstream.KeyValue) chan<- struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	restart := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, kv, restart, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return when its context ended")
		}
		if r.Following() {
			t.Error("the registry says it follows the bucket after Run returned")
		}
	})
	return restart
}

func announce(t *testing.T, kv jetstream.KeyValue, info bus.ProviderInfo) {
	t.Helper()
	if err := bus.Announce(t.Context(), kv, info); err != nil {
		t.Fatal(err)
	}
}

func synced(t *testing.T, r *registry.Registry) {
	t.Helper()
	select {
	case <-r.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("the registry did not sync")
	}
}

// eventually polls cond for up to 10 s: the registry learns of a change when the watch
// delivers it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

func names(r *registry.Registry) []string {
	var out []string
	for _, p := range r.All() {
		out = append(out, p.Name)
	}
	return out
}

// Once Synced, the registry holds every provider the bucket held when Run started, sorted.
func TestSyncedHoldsWhatTheBucketHeld(t *testing.T) {
	_, kv := bucket(t)
	announce(t, kv, bus.ProviderInfo{Name: "openai", Format: "openai-chat", Models: []string{"gpt-4o"}, Embeddings: true})
	announce(t, kv, bus.ProviderInfo{Name: "anthropic", Format: "anthropic", CountTokens: true})
	announce(t, kv, bus.ProviderInfo{Name: "bedrock", Format: "bedrock-converse"})

	r := registry.New()
	if len(r.All()) != 0 || r.Following() {
		t.Fatalf("a new registry holds %v, following %v", names(r), r.Following())
	}
	run(t, r, kv)
	synced(t, r)
	if got := names(r); !slices.Equal(got, []string{"anthropic", "bedrock", "openai"}) {
		t.Errorf("All = %v, want every announced provider by name", got)
	}
	p, ok := r.Get("openai")
	if !ok || p.Format != "openai-chat" || !slices.Equal(p.Models, []string{"gpt-4o"}) || !p.Embeddings || p.CountTokens {
		t.Errorf("Get(openai) = %+v, %v", p, ok)
	}
	if _, ok := r.Get("ollama"); ok {
		t.Error("Get of a provider nobody announced found one")
	}
	if !r.Following() {
		t.Error("a synced registry does not say it follows the bucket")
	}
}

// Announcements, deletions and purges after the sync reach the registry; an announcement it
// cannot read changes nothing.
func TestFollowsTheBucket(t *testing.T) {
	_, kv := bucket(t)
	r := registry.New()
	run(t, r, kv)
	synced(t, r) // an empty bucket syncs too

	announce(t, kv, bus.ProviderInfo{Name: "openai", Format: "openai-chat"})
	eventually(t, "openai known", func() bool { _, ok := r.Get("openai"); return ok })

	announce(t, kv, bus.ProviderInfo{Name: "openai", Format: "openai-chat", Models: []string{"gpt-5"}})
	eventually(t, "openai's new models", func() bool { p, _ := r.Get("openai"); return slices.Equal(p.Models, []string{"gpt-5"}) })

	// A bad value under a known key leaves what was known; then a good announcement of another
	// provider shows the bad one was passed over, not stuck on.
	if _, err := kv.Put(t.Context(), "openai", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "nameless", []byte(`{"format":"anthropic"}`)); err != nil {
		t.Fatal(err)
	}
	announce(t, kv, bus.ProviderInfo{Name: "anthropic", Format: "anthropic"})
	eventually(t, "anthropic known", func() bool { _, ok := r.Get("anthropic"); return ok })
	if p, ok := r.Get("openai"); !ok || !slices.Equal(p.Models, []string{"gpt-5"}) {
		t.Errorf("after a bad announcement openai is %+v, %v; want as it was", p, ok)
	}
	if got := names(r); !slices.Equal(got, []string{"anthropic", "openai"}) {
		t.Errorf("All = %v", got)
	}

	if err := kv.Delete(t.Context(), "openai"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "openai gone after a delete", func() bool { _, ok := r.Get("openai"); return !ok })
	if err := kv.Purge(t.Context(), "anthropic"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "anthropic gone after a purge", func() bool { return len(r.All()) == 0 })
}

// A registry started before the bucket exists waits for it, and syncs once it is made.
func TestWaitsForTheBucket(t *testing.T) {
	s := bustest.Server(t)
	js, err := jetstream.New(bustest.Conn(t, s, "registry-test"))
	if err != nil {
		t.Fatal(err)
	}
	// A handle on a bucket that is not there yet, as a gateway has after the bus lost its store.
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: bus.ProviderBucket, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(t.Context(), bus.ProviderBucket); err != nil {
		t.Fatal(err)
	}
	r := registry.New()
	run(t, r, kv)
	select {
	case <-r.Synced():
		t.Fatal("synced with no bucket")
	case <-time.After(300 * time.Millisecond):
	}
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	kv2, err := js.KeyValue(t.Context(), bus.ProviderBucket)
	if err != nil {
		t.Fatal(err)
	}
	announce(t, kv2, bus.ProviderInfo{Name: "ollama", Format: "openai-chat"})
	synced(t, r)
	eventually(t, "ollama known", func() bool { _, ok := r.Get("ollama"); return ok })
}

// A restarted watch (the bucket was re-created) keeps the providers known before it, and
// the registry follows the bucket again.
func TestRestartKeepsWhatItKnew(t *testing.T) {
	js, kv := bucket(t)
	announce(t, kv, bus.ProviderInfo{Name: "openai", Format: "openai-chat"})
	r := registry.New()
	restart := run(t, r, kv)
	synced(t, r)

	// The bucket is lost and made again, empty: the workers have not announced again yet.
	if err := js.DeleteKeyValue(t.Context(), bus.ProviderBucket); err != nil {
		t.Fatal(err)
	}
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case restart <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not take the restart")
	}
	eventually(t, "following again", r.Following)
	if _, ok := r.Get("openai"); !ok {
		t.Error("openai forgotten across the restart")
	}
	announce(t, kv, bus.ProviderInfo{Name: "anthropic", Format: "anthropic"})
	eventually(t, "anthropic known from the new bucket", func() bool { _, ok := r.Get("anthropic"); return ok })
}
