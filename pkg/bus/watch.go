package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	goretry "github.com/sethvargo/go-retry"
)

// Watcher is what keeps a copy of a key-value bucket: Watch calls it as the watch goes.
type Watcher interface {
	// Begin is called when a watch (re)starts, before the bucket's current values.
	Begin()
	// Apply takes one entry: a value, or the deletion of a key.
	Apply(jetstream.KeyValueEntry)
	// Synced is called with true once the current values are in, and with false when the
	// watch ends and the copy no longer follows the bucket.
	Synced(bool)
}

// Watch keeps w a copy of the bucket kv names until ctx ends. A watch that ends (the bucket
// was deleted, the server lost its store) starts again, as it does whenever restart receives
// (a Keeper's Restarts: the bucket was re-created, and a watch of the old one would wait for
// sequences the new one will not have for long). Watch returns only when ctx ends.
//
// kv is a handle on the bucket: it names the bucket, so it stays good when the bucket is
// re-created.
func Watch(ctx context.Context, kv jetstream.KeyValue, w Watcher, restart <-chan struct{}, log *slog.Logger) {
	watch(ctx, kv.Bucket(), func(context.Context) (jetstream.KeyValue, error) { return kv, nil }, w, restart, log)
}

// WatchNamed is Watch of the bucket called bucket, for a watcher that does not make the
// bucket: one that does not exist yet is waited for.
func WatchNamed(ctx context.Context, js jetstream.JetStream, bucket string, w Watcher, restart <-chan struct{}, log *slog.Logger) {
	watch(ctx, bucket, func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, bucket) }, w, restart, log)
}

func watch(ctx context.Context, bucket string, open func(context.Context) (jetstream.KeyValue, error), w Watcher, restart <-chan struct{}, log *slog.Logger) {
	backoff := watchBackoff()
	for {
		started := time.Now()
		err := watchOnce(ctx, bucket, open, w, restart)
		if errors.Is(err, errRestart) {
			w.Synced(false)
			continue
		}
		w.Synced(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = watchBackoff() // it had been watching: start again quickly
		}
		wait, _ := backoff.Next()
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			log.Debug("waiting for key-value bucket", "bucket", bucket)
		} else {
			log.Warn("watch of key-value bucket ended: starting it again", "bucket", bucket, "error", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func watchBackoff() goretry.Backoff {
	return goretry.WithCappedDuration(2*time.Second, goretry.NewExponential(100*time.Millisecond))
}

var errRestart = errors.New("restart the watch")

func watchOnce(ctx context.Context, bucket string, open func(context.Context) (jetstream.KeyValue, error), w Watcher, restart <-chan struct{}) error {
	kv, err := open(ctx)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	kw, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch bucket %s: %w", bucket, err)
	}
	defer func() { _ = kw.Stop() }()
	w.Begin()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-restart:
			return errRestart
		case e, ok := <-kw.Updates():
			if !ok {
				return fmt.Errorf("watch bucket %s: ended", bucket)
			}
			if e == nil { // the end of the values the bucket held when the watch began
				w.Synced(true)
				continue
			}
			w.Apply(e)
		}
	}
}
