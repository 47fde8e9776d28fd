// Package registry keeps this gateway's view of the providers that workers serve, as they
// announce them in the bus's provider bucket.
package registry

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lynkr/lynkr/pkg/bus"
)

// Registry is a live copy of the provider bucket.
type Registry struct {
	providers atomic.Pointer[map[string]bus.ProviderInfo]
	synced    chan struct{}
	once      sync.Once
	following atomic.Bool
}

// New returns an empty registry; Run fills it.
func New() *Registry {
	r := &Registry{synced: make(chan struct{})}
	empty := map[string]bus.ProviderInfo{}
	r.providers.Store(&empty)
	return r
}

// Get returns a provider that some worker serves.
func (r *Registry) Get(name string) (bus.ProviderInfo, bool) {
	p, ok := (*r.providers.Load())[name]
	return p, ok
}

// All returns every provider, sorted by name.
func (r *Registry) All() []bus.ProviderInfo {
	m := *r.providers.Load()
	out := make([]bus.ProviderInfo, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b bus.ProviderInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Synced is closed once the registry holds everything the bucket held when Run started.
func (r *Registry) Synced() <-chan struct{} { return r.synced }

// Following reports whether the registry follows the bucket now: false while its watch is
// being started again (the bus lost its state, say), when it may miss a change.
func (r *Registry) Following() bool { return r.following.Load() }

// Run watches the bucket until ctx ends, starting the watch again whenever it ends or restart
// receives (see bus.Watch). Providers known before a restart stay known: the workers that
// serve them announce them again within seconds.
func (r *Registry) Run(ctx context.Context, kv jetstream.KeyValue, restart <-chan struct{}, log *slog.Logger) {
	bus.Watch(ctx, kv, watcher{r, log}, restart, log)
}

// watcher is the registry as bus.Watch drives it.
type watcher struct {
	r   *Registry
	log *slog.Logger
}

func (w watcher) Begin()                          {}
func (w watcher) Apply(e jetstream.KeyValueEntry) { w.r.apply(e, w.log) }
func (w watcher) Synced(on bool) {
	w.r.following.Store(on)
	if on {
		w.r.once.Do(func() { close(w.r.synced) })
	}
}

func (r *Registry) apply(e jetstream.KeyValueEntry, log *slog.Logger) {
	old := *r.providers.Load()
	next := make(map[string]bus.ProviderInfo, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		delete(next, e.Key())
		log.Info("provider gone", "provider", e.Key())
	default:
		info, err := bus.DecodeProviderInfo(e.Value())
		if err != nil {
			log.Error("bad provider announcement", "key", e.Key(), "error", err)
			return
		}
		if _, known := old[info.Name]; !known {
			log.Info("provider available", "provider", info.Name, "format", info.Format)
		}
		next[info.Name] = info
	}
	r.providers.Store(&next)
}
