package limiter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// group builds limiters that share one set of limits: the gateways of one cluster.
type group func(t *testing.T, cfg Config) []Limiter

func localGroup(t *testing.T, cfg Config) []Limiter {
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return []Limiter{l}
}

// redisGroup is two gateways, each with its own client, sharing one real Redis.
func redisGroup(t *testing.T, cfg Config) []Limiter {
	srv := startRedis(t)
	var ls []Limiter
	for range 2 {
		l, err := NewRedis(srv.Client(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		ls = append(ls, l)
	}
	return ls
}

func TestLocalSemantics(t *testing.T) { testSemantics(t, localGroup) }
func TestRedisSemantics(t *testing.T) { testSemantics(t, redisGroup) }

// limited asserts err is a refusal for reason with a positive RetryAfter and returns it.
func limited(t *testing.T, err error, reason string) *LimitedError {
	t.Helper()
	var le *LimitedError
	if !errors.Is(err, ErrLimited) || !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LimitedError (%s)", err, reason)
	}
	if le.Reason != reason || le.RetryAfter <= 0 {
		t.Fatalf("err = %q, reason %q, retry after %s; want reason %q and a positive RetryAfter", err, le.Reason, le.RetryAfter, reason)
	}
	if d, ok := RetryAfter(err); !ok || d != le.RetryAfter {
		t.Fatalf("RetryAfter(err) = %s, %v", d, ok)
	}
	return le
}

func acquire(t *testing.T, l Limiter) Lease {
	t.Helper()
	lease, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return lease
}

func testSemantics(t *testing.T, newGroup group) {
	ctx := context.Background()

	t.Run("in-flight limit holds across gateways", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 5
		ls := newGroup(t, cfg)
		type result struct {
			lease Lease
			err   error
		}
		results := make(chan result, 20)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				lease, err := ls[i%len(ls)].Acquire(ctx)
				results <- result{lease, err}
			})
		}
		wg.Wait()
		close(results)
		var held []Lease
		for r := range results {
			if r.err != nil {
				limited(t, r.err, ReasonInFlight)
				continue
			}
			held = append(held, r.lease)
		}
		if len(held) != 5 {
			t.Fatalf("%d of 20 concurrent Acquires admitted, limit 5", len(held))
		}

		held[0].Release()
		held[1].Release()
		held[0], held[1] = acquire(t, ls[0]), acquire(t, ls[len(ls)-1])
		_, err := ls[0].Acquire(ctx)
		limited(t, err, ReasonInFlight)

		for _, l := range held {
			l.Release()
		}
		for i := range 5 {
			acquire(t, ls[i%len(ls)])
		}
	})

	t.Run("release is idempotent", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 1
		ls := newGroup(t, cfg)
		first := acquire(t, ls[0])
		first.Release()
		second := acquire(t, ls[0])
		first.Release() // again, after its slot went to another request
		first.Release()
		_, err := ls[len(ls)-1].Acquire(ctx)
		limited(t, err, ReasonInFlight)
		second.Release()
		acquire(t, ls[len(ls)-1])
	})

	t.Run("zero limits are unlimited", func(t *testing.T) {
		ls := newGroup(t, DefaultConfig())
		for i := range 200 {
			acquire(t, ls[i%len(ls)]) // never released
		}
	})

	t.Run("rate admits at most burst plus rate times the window", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Rate, cfg.Burst = 20, 5
		ls := newGroup(t, cfg)
		admitted, refused := 0, 0
		start := time.Now()
		for i := 0; time.Since(start) < 600*time.Millisecond; i++ {
			_, err := ls[i%len(ls)].Acquire(ctx)
			if err == nil {
				admitted++
				continue
			}
			refused++
			le := limited(t, err, ReasonRate)
			if le.RetryAfter > 50*time.Millisecond {
				t.Fatalf("RetryAfter %s, more than one interval (50ms) at 20/s", le.RetryAfter)
			}
		}
		window := time.Since(start).Seconds()
		if most := float64(cfg.Burst) + cfg.Rate*window + 1; float64(admitted) > most {
			t.Errorf("%d admitted in %.3fs at 20/s burst 5: more than %.1f", admitted, window, most)
		}
		if admitted <= cfg.Burst || refused == 0 {
			t.Errorf("%d admitted, %d refused in %.3fs: want the burst, some refills, and refusals", admitted, refused, window)
		}
	})

	t.Run("a rate refusal gives the in-flight slot back", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight, cfg.Rate, cfg.Burst = 1, 0.01, 1
		ls := newGroup(t, cfg)
		acquire(t, ls[0]).Release()
		_, err := ls[0].Acquire(ctx)
		limited(t, err, ReasonRate)
		_, err = ls[0].Acquire(ctx)
		limited(t, err, ReasonRate) // not in_flight: the refused request held no slot
	})

	t.Run("an in-flight refusal takes no rate", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight, cfg.Rate, cfg.Burst = 1, 0.01, 2
		ls := newGroup(t, cfg)
		first := acquire(t, ls[0])
		for range 3 {
			_, err := ls[0].Acquire(ctx)
			limited(t, err, ReasonInFlight)
		}
		first.Release()
		acquire(t, ls[0]) // the second unit of burst is still there
	})

	t.Run("closed", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 3
		ls := newGroup(t, cfg)
		lease := acquire(t, ls[0])
		if err := ls[0].Close(); err != nil {
			t.Fatal(err)
		}
		if err := ls[0].Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := ls[0].Acquire(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
		}
		lease.Release()
	})

	t.Run("cancelled context", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 3
		ls := newGroup(t, cfg)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := ls[0].Acquire(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with a cancelled context: %v", err)
		}
	})
}

// A REDIS_URL that cannot be parsed is named in the error, but its password is not.
func TestBadRedisURLKeepsItsPasswordOutOfTheError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RedisURL = "redis://lynkr:hunter2-secret@cache:63%zz/0"
	_, err := New(context.Background(), cfg)
	if err == nil {
		t.Fatal("New accepted an unparsable REDIS_URL")
	}
	if !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %q: want REDIS_URL named and no password", err)
	}
}
