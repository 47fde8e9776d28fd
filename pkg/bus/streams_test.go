package bus_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
)

func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(bustest.Conn(t, bustest.Server(t), "test"))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func storageOf(t *testing.T, js jetstream.JetStream, name string) jetstream.StorageType {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().Config.Storage
}

// The all-in-one keeps requests in memory and usage on disk; it replaces a requests stream a
// file-storing run left behind, and a separate process that joins keeps what it finds.
func TestSetupKeepsRequestsInMemoryForTheAllInOne(t *testing.T) {
	ctx := context.Background()
	js := startJetStream(t)
	cfg := bus.DefaultStreamConfig()
	if err := bus.Setup(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	if got := storageOf(t, js, bus.RequestStream); got != jetstream.FileStorage {
		t.Fatalf("requests stream storage %v, want file by default", got)
	}
	cfg.MemoryRequests = true
	if err := bus.Setup(ctx, js, cfg); err != nil {
		t.Fatalf("Setup with MemoryRequests over a file stream: %v", err)
	}
	if got := storageOf(t, js, bus.RequestStream); got != jetstream.MemoryStorage {
		t.Fatalf("requests stream storage %v, want memory", got)
	}
	if got := storageOf(t, js, bus.UsageStream); got != jetstream.FileStorage {
		t.Fatalf("usage stream storage %v, want file", got)
	}
	if err := bus.Setup(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatalf("Setup of a joining process: %v", err)
	}
	if got := storageOf(t, js, bus.RequestStream); got != jetstream.MemoryStorage {
		t.Fatalf("a joining process changed the requests stream to %v", got)
	}
}
