package limiter

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The scripts' edge cases, run on a real Redis with "now" fixed.

const (
	now  = int64(1_700_000_000_000_000) // µs
	ttl  = int64(10_000_000)
	keyZ = "{t}:inflight"
	keyR = "{t}:rate"
)

type member struct {
	id    string
	score int64
}

type acquireCall struct {
	at   int64 // now + at
	max  int64
	id   string
	ivl  int64 // interval, 0 = no rate
	bur  int64
	want []any
}

func runAcquire(t *testing.T, rc *redis.Client, c acquireCall) []any {
	t.Helper()
	res, err := redis.NewScript(acquireLua).Run(context.Background(), rc, []string{keyZ, keyR},
		c.max, c.id, ttl, c.ivl, c.bur, strconv.FormatInt(now+c.at, 10)).Slice()
	if err != nil {
		t.Fatalf("acquire script: %v", err)
	}
	return res
}

var (
	admit = []any{int64(1), "", int64(0)}
)

func full(n int64) []any           { return []any{int64(0), "in_flight", n} }
func wait(us int64) []any          { return []any{int64(0), "rate", us} }
func leases(ms ...member) []member { return ms }

func TestAcquireScript(t *testing.T) {
	srv := startRedis(t)
	rc := srv.Client(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		setup []member // leases present before the calls
		tat   int64    // rate TAT before the calls, 0 = none
		calls []acquireCall
		after []member // leases present after, exactly; nil = don't check
		tatAf int64    // TAT after, -1 = no key
	}{
		{
			name:  "max 0 is unlimited and keeps no leases",
			calls: []acquireCall{{id: "a", want: admit}, {id: "b", want: admit}, {id: "c", want: admit}},
			after: leases(), tatAf: -1,
		},
		{
			name:  "a lease expiring exactly now is expired",
			setup: leases(member{"old", now}),
			calls: []acquireCall{{max: 1, id: "new", want: admit}},
			after: leases(member{"new", now + ttl}), tatAf: -1,
		},
		{
			name:  "a lease expiring a microsecond after now is held",
			setup: leases(member{"old", now + 1}),
			calls: []acquireCall{{max: 1, id: "new", want: full(1)}},
			after: leases(member{"old", now + 1}), tatAf: -1,
		},
		{
			name:  "expired leases are dropped, live ones counted",
			setup: leases(member{"gone1", now - 5}, member{"gone2", now}, member{"live", now + 5}),
			calls: []acquireCall{{max: 2, id: "x", want: admit}, {max: 2, id: "y", want: full(2)}},
			after: leases(member{"live", now + 5}, member{"x", now + ttl}), tatAf: -1,
		},
		{
			name: "burst at one instant, then exactly one interval",
			calls: []acquireCall{
				{ivl: 1000, bur: 3, want: admit}, {ivl: 1000, bur: 3, want: admit}, {ivl: 1000, bur: 3, want: admit},
				{ivl: 1000, bur: 3, want: wait(1000)},
				{at: 999, ivl: 1000, bur: 3, want: wait(1)},
				{at: 1000, ivl: 1000, bur: 3, want: admit},
				{at: 1000, ivl: 1000, bur: 3, want: wait(1000)},
			},
			after: leases(), tatAf: now + 4000,
		},
		{
			name:  "an idle TAT in the past restarts from now",
			tat:   now - 1_000_000_000,
			calls: []acquireCall{{ivl: 1000, bur: 2, want: admit}, {ivl: 1000, bur: 2, want: admit}, {ivl: 1000, bur: 2, want: wait(1000)}},
			tatAf: now + 2000,
		},
		{
			name:  "a rate refusal adds no lease",
			setup: leases(member{"live", now + 5}),
			tat:   now + 1000,
			calls: []acquireCall{{max: 5, id: "x", ivl: 1000, bur: 1, want: wait(1000)}},
			after: leases(member{"live", now + 5}), tatAf: now + 1000,
		},
		{
			name:  "an in-flight refusal takes no rate",
			setup: leases(member{"live", now + 5}),
			calls: []acquireCall{{max: 1, id: "x", ivl: 1000, bur: 1, want: full(1)}},
			after: leases(member{"live", now + 5}), tatAf: -1,
		},
		{
			name:  "both limits: admitted takes one of each",
			calls: []acquireCall{{max: 2, id: "x", ivl: 1000, bur: 5, want: admit}},
			after: leases(member{"x", now + ttl}), tatAf: now + 1000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := rc.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.setup {
				rc.ZAdd(ctx, keyZ, redis.Z{Score: float64(m.score), Member: m.id})
			}
			if tt.tat != 0 {
				rc.Set(ctx, keyR, tt.tat, 0)
			}
			for i, c := range tt.calls {
				if got := runAcquire(t, rc, c); !reflect.DeepEqual(got, c.want) {
					t.Fatalf("call %d: got %v, want %v", i+1, got, c.want)
				}
			}
			if tt.after != nil {
				if got := zset(t, rc); !reflect.DeepEqual(got, tt.after) {
					t.Errorf("leases after: %v, want %v", got, tt.after)
				}
			}
			tat, err := rc.Get(ctx, keyR).Int64()
			switch {
			case tt.tatAf == -1 && err != redis.Nil:
				t.Errorf("rate key: %d, %v; want none", tat, err)
			case tt.tatAf > 0 && (err != nil || tat != tt.tatAf):
				t.Errorf("TAT after: %d, %v; want now%+d", tat, err, tt.tatAf-now)
			}
		})
	}
}

func zset(t *testing.T, rc *redis.Client) []member {
	t.Helper()
	zs, err := rc.ZRangeWithScores(context.Background(), keyZ, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := []member{}
	for _, z := range zs {
		out = append(out, member{z.Member.(string), int64(z.Score)})
	}
	return out
}

func TestRenewScript(t *testing.T) {
	srv := startRedis(t)
	rc := srv.Client(t)
	ctx := context.Background()
	rc.ZAdd(ctx, keyZ,
		redis.Z{Score: float64(now), Member: "mine-expired-now"},
		redis.Z{Score: float64(now + 1), Member: "mine-live"},
		redis.Z{Score: float64(now + 7), Member: "theirs"},
		redis.Z{Score: float64(now - 1), Member: "theirs-expired"},
	)
	lost, err := redis.NewScript(renewLua).Run(ctx, rc, []string{keyZ},
		ttl, strconv.FormatInt(now, 10), "mine-expired-now", "mine-live", "mine-released").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mine-expired-now", "mine-released"}; !reflect.DeepEqual(lost, want) {
		t.Errorf("lost = %v, want %v", lost, want)
	}
	want := []member{{"theirs", now + 7}, {"mine-live", now + ttl}}
	if got := zset(t, rc); !reflect.DeepEqual(got, want) {
		t.Errorf("leases after renewal: %v, want %v", got, want)
	}
	if pttl := rc.PTTL(ctx, keyZ).Val(); pttl <= 0 {
		t.Errorf("the lease set has no expiry: %s", pttl)
	}
}
