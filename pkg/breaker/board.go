package breaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
)

// Bucket is the JetStream key-value bucket of breaker states: key = provider, value = Entry
// as JSON.
const Bucket = bus.BreakerBucket

// EnsureBucket creates the bucket, or updates it to this configuration; gateways and workers
// both call it at start. cfg's Replicas and Memory apply.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, cfg bus.StreamConfig) (jetstream.KeyValue, error) {
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Circuit breaker state of each provider, as the workers found it",
		Storage:     storage,
		Replicas:    max(cfg.Replicas, 1),
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("set up key-value bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// Entry is a provider's breaker state in the bucket.
type Entry struct {
	Provider string `json:"provider"`
	State    State  `json:"state"`
	// Since is when the breaker entered State.
	Since time.Time `json:"since"`
	// Until is when an open breaker lets probes through again; zero for other states.
	Until time.Time `json:"until,omitzero"`
	// By is the instance whose breaker this is.
	By string `json:"by"`
}

// OpenAt reports whether the entry says the provider is down at time now: open, and its
// Until not passed. Past Until it reads as half-open, so traffic goes through to probe.
func (e Entry) OpenAt(now time.Time) bool {
	return e.State == StateOpen && now.Before(e.Until)
}

// StateAt is the state the entry stands for at time now: an open breaker whose Until has
// passed lets probes through, so it reads as half-open.
func (e Entry) StateAt(now time.Time) State {
	if e.State == StateOpen && !now.Before(e.Until) {
		return StateHalfOpen
	}
	return e.State
}

// DecodeEntry reads one bucket value.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("decode breaker entry: %w", err)
	}
	if e.Provider == "" {
		return Entry{}, errors.New("decode breaker entry: no provider")
	}
	return e, nil
}

func encodeEntry(e Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode breaker entry of %s: %w", e.Provider, err)
	}
	return b, nil
}

// Board is a watched copy of the bucket: which providers some instance found down. Open is
// an atomic read of a snapshot and costs nanoseconds; Run keeps the snapshot current.
type Board struct {
	kv     jetstream.KeyValue
	log    *slog.Logger
	now    func() time.Time
	snap   atomic.Pointer[map[string]Entry]
	synced chan struct{}
	once   sync.Once

	following atomic.Bool
}

// NewBoard returns a board of bucket kv; it is empty until Run has read the bucket. now is
// the clock that Until is compared with (nil: time.Now).
func NewBoard(kv jetstream.KeyValue, log *slog.Logger, now func() time.Time) *Board {
	if now == nil {
		now = time.Now
	}
	b := &Board{kv: kv, log: log, now: now, synced: make(chan struct{})}
	empty := map[string]Entry{}
	b.snap.Store(&empty)
	return b
}

// Open reports whether some instance found the provider down, and until when.
func (b *Board) Open(provider string) (until time.Time, open bool) {
	e, open := b.entry(provider)
	return e.Until, open
}

func (b *Board) entry(provider string) (Entry, bool) {
	e, ok := (*b.snap.Load())[provider]
	if !ok || !e.OpenAt(b.now()) {
		return Entry{}, false
	}
	return e, true
}

// Entry is the bucket's entry of a provider, whatever its state.
func (b *Board) Entry(provider string) (Entry, bool) {
	e, ok := (*b.snap.Load())[provider]
	return e, ok
}

// Entries is a copy of every entry, for health checks and metrics.
func (b *Board) Entries() map[string]Entry {
	cur := *b.snap.Load()
	m := make(map[string]Entry, len(cur))
	for k, v := range cur {
		m[k] = v
	}
	return m
}

// States is every provider's state as the bucket says at this moment (see Entry.StateAt).
func (b *Board) States() map[string]State {
	now := b.now()
	cur := *b.snap.Load()
	m := make(map[string]State, len(cur))
	for k, e := range cur {
		m[k] = e.StateAt(now)
	}
	return m
}

// Synced is closed once Run has read the bucket's entries as they were when it started.
func (b *Board) Synced() <-chan struct{} { return b.synced }

// Following reports whether the board follows the bucket now: false while its watch is
// being started again (the bus lost its state, say).
func (b *Board) Following() bool { return b.following.Load() }

// Run watches the bucket until ctx ends, starting the watch again whenever it ends or restart
// receives (see bus.Watch); it returns nil when ctx ends. Entries known before a restart
// stay: a breaker that opened is still open, and its worker publishes its state again.
func (b *Board) Run(ctx context.Context, restart <-chan struct{}) error {
	bus.Watch(ctx, b.kv, boardWatcher{b}, restart, b.log)
	return nil
}

// boardWatcher is the board as bus.Watch drives it.
type boardWatcher struct{ b *Board }

func (w boardWatcher) Begin()                            {}
func (w boardWatcher) Apply(kve jetstream.KeyValueEntry) { w.b.apply(kve) }
func (w boardWatcher) Synced(on bool) {
	w.b.following.Store(on)
	if on {
		w.b.once.Do(func() { close(w.b.synced) })
	}
}

// apply copies the snapshot with one entry changed; there are few providers and their states
// change seldom.
func (b *Board) apply(kve jetstream.KeyValueEntry) {
	cur := *b.snap.Load()
	next := make(map[string]Entry, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	switch kve.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		delete(next, kve.Key())
	default:
		e, err := DecodeEntry(kve.Value())
		if err != nil {
			b.log.Warn("breaker board: bad entry", "key", kve.Key(), "err", err)
			return
		}
		next[kve.Key()] = e
	}
	b.snap.Store(&next)
}
