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
