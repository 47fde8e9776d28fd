package tenant

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

func openBoltStore(t testing.TB, path string) (*bbolt.DB, *Bolt) {
	t.Helper()
	db, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewBolt(db)
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	return db, s
}

func TestBoltStore(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		db, s := openBoltStore(t, filepath.Join(t.TempDir(), "lynkr.db"))
		t.Cleanup(func() { _ = db.Close() })
		return s
	})
}

// TestBoltReopen closes the file and opens it again: keys, revocations and policies stay,
// and the buckets of other packages are left alone.
func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lynkr.db")
	ctx := t.Context()
	db, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	s, err := NewBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	live, gone := testKey(t, day), testKey(t, day)
	live.Team, live.Policy = "infra", Policy{TPM: 100}
	create(t, s, live)
	create(t, s, gone)
	if _, err := s.RevokeKey(ctx, gone.ID, day); err != nil {
		t.Fatal(err)
	}
	team := Scope{KindTeam, "infra"}
	if err := s.SetPolicy(ctx, team, Policy{RPM: 30}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, s = openBoltStore(t, path)
	defer db.Close()
	got, err := s.KeyByHash(ctx, live.Hash)
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, got, live)
	if got, err = s.Key(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	gone.RevokedAt = &day
	sameKey(t, got, gone)
	if keys, err := s.Keys(ctx); err != nil || len(keys) != 2 {
		t.Fatalf("Keys = %d keys, %v; want 2", len(keys), err)
	}
	if ps := policies(t, s, team, Scope{KindKey, live.ID}); ps[0] != (Policy{RPM: 30}) || ps[1] != (Policy{TPM: 100}) {
		t.Fatalf("Policies = %+v", ps)
	}
	if err := s.CreateKey(ctx, live); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateKey(existing) after reopening = %v, want ErrExists", err)
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte("other")).Get([]byte("k")); string(v) != "v" {
			t.Errorf("other bucket's k = %q, want v", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "lynkr.db")
	db, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("mode = %v, want 0600", perm)
	}

	// A second opener waits a second for the lock, then says who has it.
	_, err = OpenBolt(path)
	if err == nil || !errors.Is(err, bbolt.ErrTimeout) || !strings.Contains(err.Error(), "tenant store "+path+" is in use by another process") {
		t.Fatalf("second OpenBolt = %v, want it in use", err)
	}
}
