package tenant

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisStore(t *testing.T) {
	rc := newClient(t, startRedis(t))
	testStore(t, func(t *testing.T) Store {
		s := NewRedis(rc, "test:"+t.Name())
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestRedisDefaultPrefix(t *testing.T) {
	if r := NewRedis(nil, ""); r.prefix != DefaultRedisPrefix {
		t.Fatalf("prefix = %q, want %q", r.prefix, DefaultRedisPrefix)
	}
}

// TestRedisLayout checks the names documented on Redis, which operators may look at.
func TestRedisLayout(t *testing.T) {
	rc := newClient(t, startRedis(t))
	s, ctx := NewRedis(rc, "p"), t.Context()
	k := testKey(t, day)
	k.Policy = Policy{RPM: 4}
	create(t, s, k)
	team := Scope{KindTeam, "infra"}
	if err := s.SetPolicy(ctx, team, Policy{TPM: 9}); err != nil {
		t.Fatal(err)
	}

	var rec map[string]any
	if err := json.Unmarshal([]byte(rc.Get(ctx, "p:key:"+k.Hash).Val()), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["hash"] != k.Hash || rec["id"] != k.ID {
		t.Fatalf("record = %v, want its hash and id", rec)
	}
	if got := rc.Get(ctx, "p:keyid:"+k.ID).Val(); got != k.Hash {
		t.Fatalf("p:keyid:<id> = %q, want the hash", got)
	}
	if ids := rc.SMembers(ctx, "p:keys").Val(); len(ids) != 1 || ids[0] != k.ID {
		t.Fatalf("p:keys = %v", ids)
	}
	if got := rc.Get(ctx, "p:policy:team:infra").Val(); got != `{"tpm":9}` {
		t.Fatalf("p:policy:team:infra = %q", got)
	}
	if got := rc.Get(ctx, "p:policy:key:"+k.ID).Val(); got != `{"rpm":4}` {
		t.Fatalf("p:policy:key:<id> = %q", got)
	}
	// Zero policies leave no name behind.
	if err := s.SetPolicy(ctx, team, Policy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPolicy(ctx, Scope{KindKey, k.ID}, Policy{}); err != nil {
		t.Fatal(err)
	}
	if n := rc.Exists(ctx, "p:policy:team:infra", "p:policy:key:"+k.ID).Val(); n != 0 {
		t.Fatalf("%d zero policies still stored", n)
	}
}

// TestRedisRevokeSeenEverywhere revokes through one client and looks the key up through
// another at once.
func TestRedisRevokeSeenEverywhere(t *testing.T) {
	srv := startRedis(t)
	a, b := NewRedis(newClient(t, srv), ""), NewRedis(newClient(t, srv), "")
	ctx := t.Context()
	k := create(t, a, testKey(t, day))
	if got, err := b.KeyByHash(ctx, k.Hash); err != nil || got.Revoked() {
		t.Fatalf("before: %+v, %v; want a live key", got, err)
	}
	if _, err := a.RevokeKey(ctx, k.ID, day); err != nil {
		t.Fatal(err)
	}
	got, err := b.KeyByHash(ctx, k.Hash)
	if err != nil || !got.Revoked() || !got.RevokedAt.Equal(day) {
		t.Fatalf("after: %+v, %v; want revoked at %v", got, err, day)
	}
}

// TestRedisPoliciesOneRoundTrip counts what Policies sends: one pipeline, whatever the
// scopes.
func TestRedisPoliciesOneRoundTrip(t *testing.T) {
	rc := newClient(t, startRedis(t))
	s, ctx := NewRedis(rc, ""), t.Context()
	k := testKey(t, day)
	k.Team, k.Org, k.Policy = "infra", "lynkr", Policy{RPM: 1}
	create(t, s, k)
	if err := s.SetPolicy(ctx, Scope{KindOrg, "lynkr"}, Policy{RPM: 2}); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	rc.AddHook(h)
	ps := policies(t, s, Scope{KindKey, k.ID}, Scope{KindTeam, k.Team}, Scope{KindOrg, k.Org})
	if len(ps) != 3 || ps[0].RPM != 1 || !ps[1].IsZero() || ps[2].RPM != 2 {
		t.Fatalf("Policies = %+v", ps)
	}
	if c, p := h.cmds.Load(), h.pipes.Load(); c != 0 || p != 1 {
		t.Fatalf("Policies sent %d commands and %d pipelines, want 0 and 1", c, p)
	}
}

// countHook counts the commands and pipelines a client sends, leaving out the HELLO and
// CLIENT commands that set up a new connection.
type countHook struct{ cmds, pipes atomic.Int64 }

func setup(cmd redis.Cmder) bool { return cmd.Name() == "hello" || cmd.Name() == "client" }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !setup(cmd) {
			h.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !slices.ContainsFunc(cmds, setup) {
			h.pipes.Add(1)
		}
		return next(ctx, cmds)
	}
}
