package limiter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/config"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("LIMITER_TEST_GATEWAY"); addr != "" {
		os.Exit(gatewayProcess(addr))
	}
	os.Exit(m.Run())
}

// gatewayProcess is a gateway in its own process: it takes every slot, says so, and holds
// them, renewing, until it is killed.
func gatewayProcess(addr string) int {
	client := redis.NewClient(&redis.Options{Addr: addr})
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.LeaseTTL = 5, 500*time.Millisecond
	l, err := NewRedis(client, cfg)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	for range 5 {
		if _, err := l.Acquire(context.Background()); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	fmt.Println("holding 5")
	select {}
}

func newRedisLimiter(t *testing.T, client *redis.Client, cfg Config) *Redis {
	t.Helper()
	l, err := NewRedis(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A gateway SIGKILLed while holding every slot: its leases are not renewed, expire, and the
// slots come back to the gateways still running.
func TestRedisKilledGatewaySlotsComeBack(t *testing.T) {
	srv := startRedis(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIMITER_TEST_GATEWAY="+srv.Addr())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "holding 5\n" {
		t.Fatalf("gateway process: %q", line)
	}

	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.LeaseTTL = 5, 500*time.Millisecond
	live := newRedisLimiter(t, srv.Client(t), cfg)
	_, err = live.Acquire(context.Background())
	limited(t, err, ReasonInFlight)
	time.Sleep(2 * cfg.LeaseTTL) // the other gateway renews its leases past their TTL
	_, err = live.Acquire(context.Background())
	limited(t, err, ReasonInFlight)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, "a slot of the killed gateway comes back", func() bool {
		_, err := live.Acquire(context.Background())
		return err == nil
	})
	t.Logf("first slot back %s after the kill (lease TTL %s)", time.Since(killed).Round(time.Millisecond), cfg.LeaseTTL)
	reacquireAll(t, live, 4)
}

// The same with a gateway in this process whose client is closed without releasing.
func TestRedisAbandonedLeasesExpire(t *testing.T) {
	srv := startRedis(t)
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.LeaseTTL = 5, 500*time.Millisecond
	deadClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	dead := newRedisLimiter(t, deadClient, cfg)
	live := newRedisLimiter(t, srv.Client(t), cfg)
	for range 5 {
		acquire(t, dead)
	}
	_, err := live.Acquire(context.Background())
	limited(t, err, ReasonInFlight)

	_ = deadClient.Close() // no Release, no more renewals
	waitFor(t, "the abandoned slots come back", func() bool {
		_, err := live.Acquire(context.Background())
		return err == nil
	})
	reacquireAll(t, live, 4)
}

// reacquireAll takes n more slots, each once its abandoned lease has expired: the leases were
// taken one after another, so they expire a few milliseconds apart.
func reacquireAll(t *testing.T, l *Redis, n int) {
	t.Helper()
	for i := range n {
		waitFor(t, fmt.Sprintf("abandoned slot %d of %d comes back", i+1, n), func() bool {
			_, err := l.Acquire(context.Background())
			return err == nil
		})
	}
}

// Renewal keeps a long request's slot held well past the lease TTL.
func TestRedisRenewalKeepsLeases(t *testing.T) {
	srv := startRedis(t)
	raw := srv.Client(t)
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.LeaseTTL = 3, 400*time.Millisecond
	a := newRedisLimiter(t, srv.Client(t), cfg)
	b := newRedisLimiter(t, srv.Client(t), cfg)
	var held []Lease
	for range 3 {
		held = append(held, acquire(t, a))
	}
	time.Sleep(5 * cfg.LeaseTTL)
	_, err := b.Acquire(context.Background())
	limited(t, err, ReasonInFlight)
	if n := raw.ZCard(context.Background(), a.keys[0]).Val(); n != 3 {
		t.Errorf("%d leases in Redis after 5 TTLs, want the 3 held", n)
	}
	if s := a.Stats(); s.LeasesLost != 0 || s.Held != 3 {
		t.Errorf("stats = %+v, want 3 held, none lost", s)
	}
	for _, l := range held {
		l.Release()
	}
	for range 3 {
		acquire(t, b)
	}
}

// A held lease that vanished from Redis (expired during a partition, say) is reported lost at
// the next renewal and no longer renewed.
func TestRedisLostLease(t *testing.T) {
	srv := startRedis(t)
	raw := srv.Client(t)
	var logs syncBuffer
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.LeaseTTL = 2, 300*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a := newRedisLimiter(t, srv.Client(t), cfg)
	lease := acquire(t, a)
	id := lease.(*redisLease).id
	if err := raw.ZRem(context.Background(), a.keys[0], id).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lost lease is reported", func() bool { return a.Stats().LeasesLost == 1 })
	if s := a.Stats(); s.Held != 0 {
		t.Errorf("stats = %+v, want the lost lease forgotten", s)
	}
	if !strings.Contains(logs.String(), "leases expired before renewal") {
		t.Errorf("no log line about the lost lease: %s", logs.String())
	}
	lease.Release()
	if n := raw.ZCard(context.Background(), a.keys[0]).Val(); n != 0 {
		t.Errorf("%d leases in Redis", n)
	}
}

// Close gives back the leases still held at once, without waiting for the TTL.
func TestRedisCloseGivesBackLeases(t *testing.T) {
	srv := startRedis(t)
	cfg := DefaultConfig()
	cfg.MaxInFlight = 4
	a := newRedisLimiter(t, srv.Client(t), cfg)
	b := newRedisLimiter(t, srv.Client(t), cfg)
	for range 4 {
		acquire(t, a)
	}
	_, err := b.Acquire(context.Background())
	limited(t, err, ReasonInFlight)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		acquire(t, b)
	}
}

// With Redis stopped, a fail-open limiter admits and counts, a fail-closed one refuses with
// ErrUnavailable; both use Redis again once it is back on the same port.
func TestRedisUnreachable(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("fail open %v", failOpen), func(t *testing.T) {
			srv := startRedis(t)
			var logs syncBuffer
			var hookErrs, hookAdmitted atomic.Int64
			cfg := DefaultConfig()
			cfg.MaxInFlight, cfg.FailOpen, cfg.Timeout = 1, failOpen, 200*time.Millisecond
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			cfg.OnRedisError = func(err error, admitted bool) {
				hookErrs.Add(1)
				if admitted {
					hookAdmitted.Add(1)
				}
			}
			client := srv.Client(t)
			var calls countCalls
			client.AddHook(&calls)
			l := newRedisLimiter(t, client, cfg)
			ctx := context.Background()

			lease := acquire(t, l)
			_, err := l.Acquire(ctx)
			limited(t, err, ReasonInFlight)
			lease.Release()

			srv.Stop()
			before := calls.n.Load()
			for range 10 {
				lease, err := l.Acquire(ctx)
				if failOpen {
					if err != nil {
						t.Fatalf("fail-open Acquire with Redis down: %v", err)
					}
					lease.Release()
					continue
				}
				le := limited(t, err, ReasonUnavailable)
				if !errors.Is(err, ErrUnavailable) || le.Err == nil || !strings.Contains(err.Error(), "LIMITER_FAIL_OPEN=false") {
					t.Fatalf("fail-closed error %q: want it to wrap ErrUnavailable and the cause and name LIMITER_FAIL_OPEN", err)
				}
			}
			s := l.Stats()
			if failOpen && (s.FailedOpen != 10 || hookErrs.Load() != 10 || hookAdmitted.Load() != 10) ||
				!failOpen && (s.FailedClosed != 10 || hookErrs.Load() != 10 || hookAdmitted.Load() != 0) {
				t.Errorf("stats %+v, hook calls %d (admitted %d)", s, hookErrs.Load(), hookAdmitted.Load())
			}
			// After the first failure the limiter decides without Redis until its next probe,
			// a second later: an outage does not cost every request a timeout.
			if n := calls.n.Load() - before; n < 1 || n > 2 {
				t.Errorf("%d Redis commands for 10 Acquires with Redis down, want the first one (and maybe a probe)", n)
			}
			if !strings.Contains(logs.String(), "Redis unreachable") {
				t.Errorf("no log line about Redis being unreachable: %s", logs.String())
			}

			srv.Start()
			var back Lease
			waitFor(t, "the limiter uses Redis again", func() bool {
				lease, err := l.Acquire(ctx)
				if err != nil {
					return false
				}
				if _, ok := lease.(*redisLease); !ok {
					lease.Release() // admitted open, not counted
					return false
				}
				back = lease
				return true
			})
			_, err = l.Acquire(ctx)
			limited(t, err, ReasonInFlight) // the cluster limit applies again
			back.Release()
			if !strings.Contains(logs.String(), "Redis reachable again") {
				t.Errorf("no log line about Redis being back: %s", logs.String())
			}
		})
	}
}

// A caller that gives up is told so, not admitted open or refused as unavailable.
func TestRedisCallerDeadlineIsNotUnavailability(t *testing.T) {
	srv := startRedis(t)
	cfg := DefaultConfig()
	cfg.MaxInFlight = 1
	l := newRedisLimiter(t, srv.Client(t), cfg)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := l.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with an expired context: %v", err)
	}
	if s := l.Stats(); s.FailedOpen != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestFromEnv(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	l, err := FromEnv(ctx, config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*Local); !ok {
		t.Errorf("no REDIS_URL: %T, want *Local", l)
	}
	_ = l.Close()

	l, err = FromEnv(ctx, config.Map(map[string]string{
		"REDIS_URL": "redis://" + srv.Addr() + "/0", "LIMITER_MAX_IN_FLIGHT": "1", "LIMITER_KEY_PREFIX": "test",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := l.(*Redis)
	if !ok {
		t.Fatalf("REDIS_URL set: %T, want *Redis", l)
	}
	lease := acquire(t, r)
	if n := srv.Client(t).ZCard(ctx, "{test}:inflight").Val(); n != 1 {
		t.Errorf("%d leases under {test}:inflight", n)
	}
	lease.Release()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("the limiter's own client is not closed by Close: %v", err)
	}

	_, err = FromEnv(ctx, config.Map(map[string]string{"REDIS_URL": "http://user:secret@host"}))
	if err == nil || !strings.HasPrefix(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad REDIS_URL: %v, want an error naming the variable without its password", err)
	}
}

// countCalls is a go-redis hook counting the commands a client sends.
type countCalls struct{ n atomic.Int64 }

func (c *countCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *countCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *countCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func BenchmarkRedisAcquireRelease(b *testing.B) {
	srv := startRedis(b)
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.Rate = 1<<20, 1e6
	l, err := NewRedis(srv.Client(b), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
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
