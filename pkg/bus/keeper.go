package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goretry "github.com/sethvargo/go-retry"
)

// Assets are the JetStream streams and consumers a service needs, and how to make them.
type Assets struct {
	// Streams are the names of the streams that must exist (a key-value bucket is the
	// stream "KV_" + its name: see BucketStream).
	Streams []string
	// Consumers are the durable consumers that must exist, by stream.
	Consumers map[string][]string
	// Ensure creates or updates every asset; it must be safe to call at any time. Nil for a
	// service that makes none (the aggregator): it waits for others to make them again, and
	// follows them then.
	Ensure func(ctx context.Context) error
}

// BucketStream is the stream that holds key-value bucket.
func BucketStream(bucket string) string { return "KV_" + bucket }

// DefaultKeepEvery is how often a Keeper checks that the assets are there.
const DefaultKeepEvery = 2 * time.Second

// Keeper keeps a service's assets in place. A nats-server that restarts with an empty store
// (a lost volume, a new cluster) has none of them: requests would find no stream, workers no
// consumer, watchers no bucket. The keeper checks that they exist every few seconds and as
// soon as the connection is back after an outage, re-creates what is missing, and says the
// bus is not ready until they all are, so a readiness probe takes the instance out of
// rotation meanwhile instead of the process exiting.
type Keeper struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	assets Assets
	every  time.Duration
	log    *slog.Logger

	ready    atomic.Bool
	mu       sync.Mutex
	restored []func()             // called after assets were re-created
	created  map[string]time.Time // when each asset the last check saw was made
}

// NewKeeper returns a keeper of assets; the assets must exist when Run starts (services create
// them before they serve), so it starts ready.
func NewKeeper(nc *nats.Conn, js jetstream.JetStream, assets Assets, every time.Duration, log *slog.Logger) *Keeper {
	if every <= 0 {
		every = DefaultKeepEvery
	}
	k := &Keeper{nc: nc, js: js, assets: assets, every: every, log: log}
	k.ready.Store(true)
	return k
}

// Ready reports whether every asset was there at the last check.
func (k *Keeper) Ready() bool { return k.ready.Load() }

// OnRestore registers f to run after the keeper re-created missing assets: what holds state
// from the server (a consumer's iterator, a watch) starts again there.
func (k *Keeper) OnRestore(f func()) {
	k.mu.Lock()
	k.restored = append(k.restored, f)
	k.mu.Unlock()
}

// Restarts returns a channel that receives when the keeper has re-created or found re-created
// assets: a watch or a consumer's iterator that follows one must start again. Each caller
// gets a channel of its own.
func (k *Keeper) Restarts() <-chan struct{} {
	c := make(chan struct{}, 1)
	k.OnRestore(func() {
		select {
		case c <- struct{}{}:
		default:
		}
	})
	return c
}

// Run checks the assets until ctx ends. It never fails: a bus that cannot be reached is
// waited for, and so is one that refuses to make an asset.
func (k *Keeper) Run(ctx context.Context) error {
	status := k.nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED)
	defer k.nc.RemoveStatusListener(status)
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case st := <-status:
			if st != nats.CONNECTED {
				continue
			}
			// Back after an outage: the server may be a new one. Not ready until checked.
			k.ready.Store(false)
		case <-t.C:
		}
		k.keep(ctx)
	}
}

// checkTimeout bounds one check of the assets.
const checkTimeout = 5 * time.Second

// keep checks the assets once and re-creates them if some are missing.
func (k *Keeper) keep(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	missing, replaced, err := k.check(cctx)
	cancel()
	switch {
	case err != nil:
		if ctx.Err() == nil && k.nc.IsConnected() {
			k.log.Warn("could not check the bus's streams and consumers", "error", err)
		}
		return // unknown: readiness stays as it was (the connection's state fails it if down)
	case len(missing) == 0 && !replaced:
		k.ready.Store(true)
		return
	}
	k.ready.Store(false)
	if len(missing) > 0 && k.assets.Ensure == nil {
		k.log.Warn("the bus lost streams or consumers (a nats-server with an empty store?): waiting for them", "missing", missing)
		return // the check that finds them made again restarts what follows them
	}
	if len(missing) > 0 {
		k.log.Warn("the bus lost streams or consumers (a nats-server with an empty store?): re-creating them", "missing", missing)
	} else {
		// Made again by another instance: brought to this one's configuration (where its
		// credentials may change it), and followed.
		k.log.Warn("the bus's streams or consumers were re-created elsewhere: following them")
	}
	backoff := goretry.WithCappedDuration(2*time.Second, goretry.NewExponential(100*time.Millisecond))
	if err := goretry.Do(ctx, backoff, func(ctx context.Context) error {
		if k.assets.Ensure == nil {
			return nil
		}
		ectx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		if err := k.assets.Ensure(ectx); err != nil {
			k.log.Warn("re-creating the bus's assets", "error", err)
			return goretry.RetryableError(err)
		}
		return nil
	}); err != nil {
		return // ctx ended
	}
	// Remember the new assets, so that they do not count as replaced at the next check.
	cctx, cancel = context.WithTimeout(ctx, checkTimeout)
	_, _, _ = k.check(cctx)
	cancel()
	k.mu.Lock()
	restored := slices.Clone(k.restored)
	k.mu.Unlock()
	for _, f := range restored {
		f()
	}
	k.ready.Store(true)
	k.log.Info("the bus's streams and consumers are in place again")
}

// check lists the assets the server does not have, and reports whether one of those it has
// is not the one the last check saw (another instance re-created it): what was following the
// old one (a watch from its last sequence, say) must start again.
func (k *Keeper) check(ctx context.Context) (missing []string, replaced bool, err error) {
	created := map[string]time.Time{}
	streams := k.js.ListStreams(ctx)
	for info := range streams.Info() {
		if _, ok := k.assets.Consumers[info.Config.Name]; ok || slices.Contains(k.assets.Streams, info.Config.Name) {
			created[info.Config.Name] = info.Created
		}
	}
	if err := streams.Err(); err != nil {
		return nil, false, fmt.Errorf("list streams: %w", err)
	}
	for _, s := range k.assets.Streams {
		if _, ok := created[s]; !ok {
			missing = append(missing, s)
		}
	}
	for stream, want := range k.assets.Consumers {
		if _, ok := created[stream]; !ok {
			continue // the stream is missing: so are they
		}
		st, err := k.js.Stream(ctx, stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			missing = append(missing, stream)
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("stream %s: %w", stream, err)
		}
		consumers := st.ListConsumers(ctx)
		for info := range consumers.Info() {
			created[stream+"/"+info.Name] = info.Created
		}
		if err := consumers.Err(); err != nil {
			return nil, false, fmt.Errorf("list consumers of %s: %w", stream, err)
		}
		for _, c := range want {
			if _, ok := created[stream+"/"+c]; !ok {
				missing = append(missing, stream+"/"+c)
			}
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.created != nil {
		for name, at := range created {
			if was, ok := k.created[name]; ok && !was.Equal(at) {
				replaced = true
			}
		}
		for name, at := range k.created {
			if _, ok := created[name]; !ok {
				created[name] = at // missing now: remembered, so its return counts as replaced
			}
		}
	}
	k.created = created
	return missing, replaced, nil
}
