package spend

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/internal/redistest"
	"github.com/lynkr/lynkr/pkg/tenant"
)

func TestRedisLedger(t *testing.T) {
	client := redistest.Start(t).Client(t)
	var n atomic.Int64
	testLedger(t, func(t *testing.T) Ledger {
		// A prefix per subtest keeps them apart in the one server.
		l := NewRedis(client, "test"+strconv.FormatInt(n.Add(1), 10))
		t.Cleanup(func() { _ = l.Close() })
		return l
	})
}

func TestRedisReservations(t *testing.T) {
	client := redistest.Start(t).Client(t)
	var n atomic.Int64
	testReservations(t, func(t *testing.T) Ledger {
		return NewRedis(client, "test"+strconv.FormatInt(n.Add(1), 10))
	})
}

func TestRedisKeysAndExpiry(t *testing.T) {
	client := redistest.Start(t).Client(t)
	l := NewRedis(client, "")
	charge(t, l, 1, Charge{RequestID: "req-1", Scopes: []tenant.Scope{team}, Tokens: 12, Cost: 34, At: feb1Noon})
	ctx := t.Context()
	for _, tc := range []struct {
		key string
		ttl time.Duration
	}{
		{"{lynkr:spend}:charged:req-1", DedupeWindow},
		{"{lynkr:spend}:team:platform:d:2026-02-01", dayRetention},
		{"{lynkr:spend}:team:platform:m:2026-02", monthRetention},
	} {
		ttl, err := client.TTL(ctx, tc.key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < tc.ttl-time.Minute || ttl > tc.ttl {
			t.Errorf("TTL of %s = %v, want %v", tc.key, ttl, tc.ttl)
		}
	}
	h, err := client.HGetAll(ctx, "{lynkr:spend}:team:platform:d:2026-02-01").Result()
	if err != nil || h["tokens"] != "12" || h["cost"] != "34" || h["requests"] != "1" {
		t.Errorf("day window = %v, %v", h, err)
	}

	// Once the id's key expires, the request would be charged again.
	client.Del(ctx, "{lynkr:spend}:charged:req-1")
	charge(t, l, 1, Charge{RequestID: "req-1", Scopes: []tenant.Scope{team}, Tokens: 12, Cost: 34, At: feb1Noon})
	checkWindow(t, "day", spent(t, l, feb1Noon, team)[0].Day, feb1, 24, 68, 2)
}

// TestRedisHoldKeys: a hold is a field of the scope's held hash and a member of its
// held:until set, both living no longer than the hold; ending it leaves no trace.
func TestRedisHoldKeys(t *testing.T) {
	client := redistest.Start(t).Client(t)
	l := NewRedis(client, "")
	ctx := t.Context()
	r := reservation("req-1", tenant.Policy{DailyTokens: 100}, 10, 40)
	r.Most.Cost = 7
	if e := reserve(t, l, r); e != nil {
		t.Fatal(e)
	}
	held, until := "{lynkr:spend}:team:platform:held", "{lynkr:spend}:team:platform:held:until"
	h, err := client.HGetAll(ctx, held).Result()
	if err != nil || h["r:req-1"] != "40 7" || h["tokens"] != "40" || h["cost"] != "7" || h["tail"] != "" {
		t.Errorf("held = %v, %v", h, err)
	}
	for _, k := range []string{held, until} {
		if ttl, err := client.PTTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > r.TTL {
			t.Errorf("TTL of %s = %v, %v; want within the hold's %v", k, ttl, err, r.TTL)
		}
	}
	if n, err := client.Exists(ctx, "{lynkr:spend}:key:key_a:held").Result(); err != nil || n != 0 {
		t.Errorf("the key, which has no budget, holds: %d, %v", n, err)
	}
	if err := l.Release(ctx, "req-1", r.Scopes, Lapse{}); err != nil {
		t.Fatal(err)
	}
	h, err = client.HGetAll(ctx, held).Result()
	if err != nil || len(h) != 2 || h["tokens"] != "0" || h["cost"] != "0" {
		t.Errorf("held after the release = %v, %v; want zero sums", h, err)
	}
	if n, err := client.ZCard(ctx, until).Result(); err != nil || n != 0 {
		t.Errorf("held:until after the release has %d members, %v", n, err)
	}
}

// BenchmarkRedisReserveRelease is one request's round trips to Redis for its budget: its
// reservation at admission and its release at the end.
func BenchmarkRedisReserveRelease(b *testing.B) {
	client := redistest.Start(b).Client(b)
	l := NewRedis(client, "bench")
	p := tenant.Policy{DailyTokens: 1 << 40, DailyCostUSD: 1e6}
	r := Reservation{Scopes: []tenant.Scope{key, team}, Policies: []tenant.Policy{p, p},
		Least: Estimate{Tokens: 1000, Cost: 3000}, Most: Estimate{Tokens: 5000, Cost: 60000}, TTL: time.Minute}
	ctx := b.Context()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n++
		r.RequestID = "req-" + strconv.Itoa(n)
		if err := l.Reserve(ctx, r, time.Now()); err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx, r.RequestID, r.Scopes, Lapse{}); err != nil {
			b.Fatal(err)
		}
	}
}
