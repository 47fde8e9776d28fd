package tenant

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// day is a fixed instant the test keys are made at.
var day = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// testKey is a key with a fresh id and secret, made at created.
func testKey(t testing.TB, created time.Time) Key {
	t.Helper()
	secret, hash, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return Key{ID: NewID(), Prefix: PrefixOf(secret), Hash: hash, CreatedAt: created}
}

// sameKey fails the test unless got and want are stored alike, hash included.
func sameKey(t testing.TB, got, want Key) {
	t.Helper()
	g, err := encodeKey(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := encodeKey(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("key\n got %s\nwant %s", g, w)
	}
}

func create(t testing.TB, s Store, k Key) Key {
	t.Helper()
	if err := s.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
	return k
}

func policies(t testing.TB, s Store, scopes ...Scope) []Policy {
	t.Helper()
	ps, err := s.Policies(context.Background(), scopes)
	if err != nil {
		t.Fatalf("Policies: %v", err)
	}
	if len(ps) != len(scopes) {
		t.Fatalf("Policies returned %d policies for %d scopes", len(ps), len(scopes))
	}
	return ps
}

// testStore is the suite every Store passes. newStore returns an empty store.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("CreateAndLookUp", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		k := testKey(t, day)
		k.Name, k.Team, k.Customer, k.Org, k.NoCache = "ci", "infra", "acme", "lynkr", true
		k.Policy = Policy{RPM: 60, TPM: 1000, DailyCostUSD: 2.5}
		create(t, s, k)

		got, err := s.KeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("KeyByHash: %v", err)
		}
		sameKey(t, got, k)
		if got.Hash != k.Hash {
			t.Fatalf("Hash = %q, want %q", got.Hash, k.Hash)
		}
		if got, err = s.Key(ctx, k.ID); err != nil {
			t.Fatalf("Key: %v", err)
		}
		sameKey(t, got, k)
	})

	t.Run("Duplicates", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		k := create(t, s, testKey(t, day))
		sameID, sameHash := testKey(t, day), testKey(t, day)
		sameID.ID, sameHash.Hash = k.ID, k.Hash
		for name, dup := range map[string]Key{"id": sameID, "hash": sameHash} {
			if err := s.CreateKey(ctx, dup); !errors.Is(err, ErrExists) {
				t.Errorf("CreateKey with a taken %s = %v, want ErrExists", name, err)
			}
		}
		// Neither duplicate left anything behind.
		if _, err := s.KeyByHash(ctx, sameID.Hash); !errors.Is(err, ErrNotFound) {
			t.Errorf("KeyByHash(hash of the refused key) = %v, want ErrNotFound", err)
		}
		if _, err := s.Key(ctx, sameHash.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Key(id of the refused key) = %v, want ErrNotFound", err)
		}
		got, err := s.Key(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameKey(t, got, k)
		if keys, err := s.Keys(ctx); err != nil || len(keys) != 1 {
			t.Fatalf("Keys = %d keys, %v; want 1", len(keys), err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		noID, noHash, badPolicy := testKey(t, day), testKey(t, day), testKey(t, day)
		noID.ID, noHash.Hash, badPolicy.Policy.RPM = "", "", -1
		for name, k := range map[string]Key{"no id": noID, "no hash": noHash, "bad policy": badPolicy} {
			if err := s.CreateKey(ctx, k); err == nil || errors.Is(err, ErrExists) {
				t.Errorf("CreateKey(%s) = %v, want an error", name, err)
			}
		}
		for _, tc := range []struct {
			s Scope
			p Policy
		}{
			{Scope{"group", "x"}, Policy{RPM: 1}},
			{Scope{KindTeam, ""}, Policy{RPM: 1}},
			{Scope{KindTeam, "a"}, Policy{TPM: -5}},
			{Scope{KindTeam, "a"}, Policy{MaxConcurrent: -1}},
		} {
			if err := s.SetPolicy(ctx, tc.s, tc.p); err == nil {
				t.Errorf("SetPolicy(%q, %+v) = nil, want an error", tc.s, tc.p)
			}
		}
		if _, err := s.Policies(ctx, []Scope{{"group", "x"}}); err == nil {
			t.Error("Policies(unknown kind) = nil error")
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		create(t, s, testKey(t, day))
		for name, f := range map[string]func() error{
			"KeyByHash":       func() error { _, err := s.KeyByHash(ctx, HashSecret("lk-nope")); return err },
			"KeyByHash empty": func() error { _, err := s.KeyByHash(ctx, ""); return err },
			"Key":             func() error { _, err := s.Key(ctx, "key_missing"); return err },
			"RevokeKey":       func() error { _, err := s.RevokeKey(ctx, "key_missing", day); return err },
			"SetPolicy":       func() error { return s.SetPolicy(ctx, Scope{KindKey, "key_missing"}, Policy{RPM: 1}) },
		} {
			if err := f(); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		if keys, err := s.Keys(ctx); err != nil || len(keys) != 0 {
			t.Fatalf("Keys of an empty store = %v, %v", keys, err)
		}
		a := testKey(t, day.Add(2*time.Hour))
		b := testKey(t, day)
		c1, c2 := testKey(t, day.Add(time.Hour)), testKey(t, day.Add(time.Hour))
		c1.ID, c2.ID = "key_c1", "key_c2"
		for _, k := range []Key{a, c2, b, c1} {
			create(t, s, k)
		}
		if _, err := s.RevokeKey(ctx, b.ID, day); err != nil {
			t.Fatal(err)
		}
		keys, err := s.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		if want := fmt.Sprint([]string{b.ID, c1.ID, c2.ID, a.ID}); fmt.Sprint(ids) != want {
			t.Fatalf("Keys = %v, want %v", ids, want)
		}
		if !keys[0].Revoked() || keys[0].Hash != b.Hash {
			t.Fatalf("listed revoked key = %+v, want revoked with its hash", keys[0])
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		k := create(t, s, testKey(t, day))
		other := create(t, s, testKey(t, day))
		first, second := day.Add(time.Minute), day.Add(time.Hour)

		got, err := s.RevokeKey(ctx, k.ID, first)
		if err != nil {
			t.Fatal(err)
		}
		k.RevokedAt = &first
		sameKey(t, got, k)
		if got, err = s.KeyByHash(ctx, k.Hash); err != nil {
			t.Fatal(err)
		}
		sameKey(t, got, k)

		// Revoking again keeps the first time.
		if got, err = s.RevokeKey(ctx, k.ID, second); err != nil {
			t.Fatal(err)
		}
		sameKey(t, got, k)
		if got, err = s.Key(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		sameKey(t, got, k)

		if got, err = s.KeyByHash(ctx, other.Hash); err != nil || got.Revoked() {
			t.Fatalf("other key = %+v, %v; want it not revoked", got, err)
		}
	})

	t.Run("Policies", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		team, cust, org := Scope{KindTeam, "infra"}, Scope{KindCustomer, "acme"}, Scope{KindOrg, "lynkr:eu"}
		set := map[Scope]Policy{
			team: {RPM: 10, TPM: 2000, MaxConcurrent: 8},
			org:  {DailyTokens: 1e6, MonthlyTokens: 2e7, DailyCostUSD: 1.25, MonthlyCostUSD: 30},
		}
		for sc, p := range set {
			if err := s.SetPolicy(ctx, sc, p); err != nil {
				t.Fatalf("SetPolicy(%s): %v", sc, err)
			}
		}
		if ps := policies(t, s); len(ps) != 0 {
			t.Fatalf("Policies() = %v, want none", ps)
		}
		ps := policies(t, s, org, cust, team, Scope{KindTeam, "other"}, Scope{KindKey, "key_missing"}, team)
		want := []Policy{set[org], {}, set[team], {}, {}, set[team]}
		if fmt.Sprint(ps) != fmt.Sprint(want) {
			t.Fatalf("Policies = %+v, want %+v", ps, want)
		}

		// Setting again replaces; a zero policy deletes.
		if err := s.SetPolicy(ctx, team, Policy{RPM: 3}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPolicy(ctx, org, Policy{}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPolicy(ctx, cust, Policy{}); err != nil {
			t.Fatalf("deleting a policy that is not set: %v", err)
		}
		ps = policies(t, s, team, org, cust)
		if want := []Policy{{RPM: 3}, {}, {}}; fmt.Sprint(ps) != fmt.Sprint(want) {
			t.Fatalf("Policies = %+v, want %+v", ps, want)
		}
	})

	t.Run("KeyPolicy", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		k := testKey(t, day)
		k.Team, k.Policy = "infra", Policy{RPM: 5}
		create(t, s, k)
		plain := create(t, s, testKey(t, day))
		// A team named like the key does not mix with it.
		if err := s.SetPolicy(ctx, Scope{KindTeam, k.ID}, Policy{RPM: 99}); err != nil {
			t.Fatal(err)
		}
		ks, ps := Scope{KindKey, k.ID}, Scope{KindKey, plain.ID}
		if got := policies(t, s, ks, ps); got[0] != (Policy{RPM: 5}) || !got[1].IsZero() {
			t.Fatalf("Policies = %+v, want the key's own", got)
		}
		for _, p := range []Policy{{RPM: 7, MonthlyCostUSD: 9.5}, {}, {TPM: 1}} {
			if err := s.SetPolicy(ctx, ks, p); err != nil {
				t.Fatalf("SetPolicy(%s, %+v): %v", ks, p, err)
			}
			if got := policies(t, s, ks); got[0] != p {
				t.Fatalf("after SetPolicy(%+v), Policies = %+v", p, got[0])
			}
			got, err := s.KeyByHash(ctx, k.Hash)
			if err != nil {
				t.Fatal(err)
			}
			want := k
			want.Policy = p
			sameKey(t, got, want)
		}
		// Revoking keeps the policy, and setting one keeps the revocation.
		if _, err := s.RevokeKey(ctx, k.ID, day); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPolicy(ctx, ks, Policy{RPM: 8}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Key(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Revoked() || got.Policy != (Policy{RPM: 8}) {
			t.Fatalf("key = %+v, want revoked with RPM 8", got)
		}
		if got := policies(t, s, ks); got[0] != (Policy{RPM: 8}) {
			t.Fatalf("Policies = %+v, want RPM 8", got[0])
		}
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		for _, same := range []string{"id", "hash"} {
			t.Run(same, func(t *testing.T) {
				s, ctx := newStore(t), t.Context()
				const n = 16
				base := testKey(t, day)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					k := testKey(t, day)
					if same == "id" {
						k.ID = base.ID
					} else {
						k.Hash = base.Hash
					}
					wg.Go(func() { errs[i] = s.CreateKey(ctx, k) })
				}
				wg.Wait()
				won := 0
				for _, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrExists):
						t.Errorf("CreateKey = %v, want nil or ErrExists", err)
					}
				}
				if won != 1 {
					t.Fatalf("%d of %d CreateKey calls with the same %s won, want 1", won, n, same)
				}
				keys, err := s.Keys(ctx)
				if err != nil || len(keys) != 1 {
					t.Fatalf("Keys = %d keys, %v; want 1", len(keys), err)
				}
				if got, err := s.KeyByHash(ctx, keys[0].Hash); err != nil || got.ID != keys[0].ID {
					t.Fatalf("KeyByHash(winner) = %+v, %v", got, err)
				}
			})
		}
	})

	t.Run("ConcurrentChanges", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		k := create(t, s, testKey(t, day))
		const n = 4
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Go(func() {
				_, err := s.RevokeKey(ctx, k.ID, day.Add(time.Duration(i)*time.Second))
				errs <- err
			})
			wg.Go(func() { errs <- s.SetPolicy(ctx, Scope{KindKey, k.ID}, Policy{RPM: int64(i + 1)}) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Every change landed on the latest record: one revocation time, one policy, and
		// Policies agrees with the key.
		got, err := s.KeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Revoked() || got.RevokedAt.Before(day) || got.RevokedAt.After(day.Add(n*time.Second)) {
			t.Fatalf("RevokedAt = %v, want one of the revocations", got.RevokedAt)
		}
		if got.Policy.RPM < 1 || got.Policy.RPM > n {
			t.Fatalf("Policy = %+v, want one of the policies set", got.Policy)
		}
		if ps := policies(t, s, Scope{KindKey, k.ID}); ps[0] != got.Policy {
			t.Fatalf("Policies = %+v, key's Policy = %+v", ps[0], got.Policy)
		}
	})

	t.Run("Close", func(t *testing.T) {
		if err := newStore(t).Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}
