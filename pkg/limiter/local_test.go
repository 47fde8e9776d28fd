package limiter

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/config"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.RedisURL == "" && c.MaxInFlight == 0 && c.Rate == 0 && c.Burst == 0 && c.LeaseTTL == 10*time.Second &&
				c.KeyPrefix == "lynkr:limiter" && c.FailOpen && c.Timeout == 500*time.Millisecond && c.RetryAfter == time.Second
		}},
		{name: "all set", env: map[string]string{
			"REDIS_URL": "redis://r:6379/1", "LIMITER_MAX_IN_FLIGHT": "200", "LIMITER_RATE": "12.5", "LIMITER_BURST": "40",
			"LIMITER_LEASE_TTL": "3000", "LIMITER_KEY_PREFIX": "prod:lim", "LIMITER_FAIL_OPEN": "false",
			"LIMITER_TIMEOUT": "100", "LIMITER_RETRY_AFTER": "2500",
		}, check: func(c Config) bool {
			return c.RedisURL == "redis://r:6379/1" && c.MaxInFlight == 200 && c.Rate == 12.5 && c.Burst == 40 &&
				c.LeaseTTL == 3*time.Second && c.KeyPrefix == "prod:lim" && !c.FailOpen && c.Timeout == 100*time.Millisecond &&
				c.RetryAfter == 2500*time.Millisecond
		}},
		{name: "negative in flight", env: map[string]string{"LIMITER_MAX_IN_FLIGHT": "-1"}, wantErr: "LIMITER_MAX_IN_FLIGHT"},
		{name: "rate not a number", env: map[string]string{"LIMITER_RATE": "fast"}, wantErr: "LIMITER_RATE"},
		{name: "negative burst", env: map[string]string{"LIMITER_BURST": "-3"}, wantErr: "LIMITER_BURST"},
		{name: "lease TTL too short", env: map[string]string{"LIMITER_LEASE_TTL": "10"}, wantErr: "LIMITER_LEASE_TTL"},
		{name: "prefix with braces", env: map[string]string{"LIMITER_KEY_PREFIX": "{x}"}, wantErr: "LIMITER_KEY_PREFIX"},
		{name: "fail open not a bool", env: map[string]string{"LIMITER_FAIL_OPEN": "maybe"}, wantErr: "LIMITER_FAIL_OPEN"},
		{name: "zero timeout", env: map[string]string{"LIMITER_TIMEOUT": "0"}, wantErr: "LIMITER_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(config.Map(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+"=") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func TestBurstDefault(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		burst int
		want  int64
	}{{0, 0, 1}, {0.5, 0, 1}, {10, 0, 10}, {10.2, 0, 11}, {10, 3, 3}} {
		c := Config{Rate: tt.rate, Burst: tt.burst}
		if got := c.burst(); got != tt.want {
			t.Errorf("rate %g burst %d: burst() = %d, want %d", tt.rate, tt.burst, got, tt.want)
		}
	}
}

// Under contention the local limiter never has more than MaxInFlight admitted at once, and
// every slot is back at the end.
func TestLocalConcurrent(t *testing.T) {
	const limit = 7
	cfg := DefaultConfig()
	cfg.MaxInFlight = limit
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var inside, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 2000 {
				lease, err := l.Acquire(context.Background())
				if err != nil {
					continue
				}
				admitted.Add(1)
				n := inside.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched()
				inside.Add(-1)
				lease.Release()
				lease.Release()
			}
		})
	}
	wg.Wait()
	if peak.Load() > limit {
		t.Errorf("%d admitted at once, limit %d", peak.Load(), limit)
	}
	s := l.Stats()
	if s.Held != 0 || s.Admitted != uint64(admitted.Load()) || s.Admitted+s.Limited != 32*2000 {
		t.Errorf("stats %+v, admitted %d", s, admitted.Load())
	}
}

func BenchmarkLocalAcquireRelease(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxInFlight = 1000
	l, err := NewLocal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		lease, err := l.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lease.Release()
	}
}

func BenchmarkLocalAcquireReleaseWithRate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.Rate, cfg.Burst = 1000, 1e6, 1<<30
	l, err := NewLocal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		lease, err := l.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lease.Release()
	}
}

func BenchmarkLocalAcquireReleaseParallel(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxInFlight = 1 << 20
	l, err := NewLocal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			lease, err := l.Acquire(ctx)
			if err != nil {
				panic(err)
			}
			lease.Release()
		}
	})
}
