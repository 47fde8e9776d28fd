package ratelimit

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/internal/redistest"
	"github.com/lynkr/lynkr/pkg/tenant"
)

// Two gateways, each with its own client and limiter, sharing one Redis admit R between
// them.
func TestRedisGatewaysShareTheLimit(t *testing.T) {
	srv := redistest.Start(t)
	gateways := []*Redis{NewRedis(srv.Client(t), ""), NewRedis(srv.Client(t), "")}
	const r = 15
	start := time.Now()
	var admitted [2]atomic.Int64
	var wg sync.WaitGroup
	for g, lim := range gateways {
		for range 5 {
			wg.Go(func() {
				for range 8 {
					d, err := lim.Allow(context.Background(), []tenant.Scope{keyA, teamT},
						[]tenant.Policy{{}, {RPM: r}}, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted[g].Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	a, b := admitted[0].Load(), admitted[1].Load()
	if a+b < r || a+b > r+refilled(start, r) {
		t.Fatalf("admitted %d + %d of 80, want %d together", a, b, r)
	}
	if a == 0 || b == 0 {
		t.Logf("one gateway took every request (%d, %d)", a, b)
	}
}

// The limits' keys: redis_rate's "rate:", the prefix, the scope and the unit, expiring once
// the limit is full again.
func TestRedisKeys(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	lim := NewRedis(client, "gw")
	allow(t, lim, 100, on{keyA, tenant.Policy{RPM: 10, TPM: 1000}}, on{teamT, tenant.Policy{RPM: 50}})
	ctx := context.Background()
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		"rate:gw:key:key_a:rpm": 6 * time.Second, // 1 of 10 a minute
		"rate:gw:key:key_a:tpm": 6 * time.Second, // 100 of 1000
		"rate:gw:team:t:rpm":    2 * time.Second, // 1 of 50: 1.2s, rounded up
	}
	if len(keys) != len(want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	for k, ttl := range want {
		got, err := client.TTL(ctx, k).Result()
		if err != nil || got <= 0 || got > ttl {
			t.Errorf("TTL %s = %v, %v; want (0, %v]", k, got, err, ttl)
		}
	}
	if lim := NewRedis(client, ""); lim.prefix != DefaultRedisPrefix {
		t.Errorf("empty prefix = %q, want %q", lim.prefix, DefaultRedisPrefix)
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Without a limit, Allow does not call Redis: with nothing listening, it still answers.
// With one, the dial error comes back wrapped.
func TestRedisNoLimitsNoCall(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	var calls atomic.Int64
	client.AddHook(countHook{&calls})
	lim := NewRedis(client, "")
	for _, c := range [][]on{
		nil,
		{{keyA, tenant.Policy{}}, {teamT, tenant.Policy{MonthlyCostUSD: 10}}},
		{{keyA, tenant.Policy{TPM: 100}}}, // no tokens
	} {
		if d := allow(t, lim, 0, c...); d != (Decision{Allowed: true}) {
			t.Errorf("%v: %+v", c, d)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d Redis calls without a limit", n)
	}

	d, err := lim.Allow(context.Background(), []tenant.Scope{keyA}, []tenant.Policy{{RPM: 1}}, 0)
	var opErr *net.OpError
	if !errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), "ratelimit: ") || d != (Decision{}) {
		t.Fatalf("Allow = %+v, %v; want no decision and a wrapped *net.OpError", d, err)
	}
	if calls.Load() == 0 {
		t.Fatal("the hook saw no call: it proves nothing")
	}
}

// countHook counts the commands and scripts sent.
type countHook struct{ n *atomic.Int64 }

func (countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Redis going away is an error, never a decision; when it is back, so are the decisions.
func TestRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	lim := NewRedis(client, "")
	key := on{keyA, tenant.Policy{RPM: 10}}
	allow(t, lim, 0, key)

	srv.Stop()
	d, err := lim.Allow(context.Background(), []tenant.Scope{keyA}, []tenant.Policy{{RPM: 10}}, 0)
	if err == nil || !strings.HasPrefix(err.Error(), "ratelimit: ") || errors.Unwrap(err) == nil || d != (Decision{}) {
		t.Fatalf("Allow with Redis down = %+v, %v; want no decision and a wrapped error", d, err)
	}

	srv.Start()
	if d := allow(t, lim, 0, key); !d.Allowed || d.Limit != 10 {
		t.Fatalf("Redis back: %+v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lim.Allow(ctx, []tenant.Scope{keyA}, []tenant.Policy{{RPM: 10}}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Allow with a cancelled context: %v, want context.Canceled", err)
	}
}

// redis_rate cannot check a limit without taking from it: a request refused by its team's
// limit has taken from its key's (see Redis). Local does not (TestLocalRefusedCostsNothing).
func TestRedisRefusedTakesEarlierLimits(t *testing.T) {
	srv := redistest.Start(t)
	lim := NewRedis(srv.Client(t), "")
	key, team := on{keyA, tenant.Policy{RPM: 5}}, on{teamT, tenant.Policy{RPM: 1}}
	allow(t, lim, 0, key, team)
	wantRefused(t, allow(t, lim, 0, key, team), teamT, UnitRequests, 1)
	if d := allow(t, lim, 0, key); d.Remaining != 2 {
		t.Fatalf("key's remaining = %d, want 2: 1 admitted, 1 refused by the team, this one", d.Remaining)
	}
}
