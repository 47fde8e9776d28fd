package spend

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
	"go.etcd.io/bbolt"
)

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestBoltLedger(t *testing.T) {
	testLedger(t, func(t *testing.T) Ledger {
		l, err := NewBolt(openDB(t, filepath.Join(t.TempDir(), "lynkr.db")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	})
}

func TestBoltSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lynkr.db")
	db := openDB(t, path)
	l, err := NewBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // NewBolt prunes windows older than 40 days
	charge(t, l, 1, Charge{RequestID: "r", Scopes: []tenant.Scope{team}, Tokens: 5, Cost: 7, At: now})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = NewBolt(openDB(t, path))
	if err != nil {
		t.Fatal(err)
	}
	charge(t, l, 0, Charge{RequestID: "r", Scopes: []tenant.Scope{team}, Tokens: 5, Cost: 7, At: now})
	checkWindow(t, "day", spent(t, l, now, team)[0].Day, dayStart(now), 5, 7, 1)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// count is how many keys a bucket holds.
func count(t *testing.T, db *bbolt.DB, bucket []byte) int {
	t.Helper()
	var n int
	if err := db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBoltPrunes(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	db := openDB(t, filepath.Join(t.TempDir(), "lynkr.db"))
	l, err := newBolt(db, c.now)
	if err != nil {
		t.Fatal(err)
	}
	old := t0.AddDate(0, 0, -41) // Jan 28: its day is past retention, its month is not
	charge(t, l, 2,
		Charge{RequestID: "a", Scopes: []tenant.Scope{team}, Tokens: 1, At: old},
		Charge{RequestID: "b", Scopes: []tenant.Scope{team}, Tokens: 1})
	if n := count(t, db, chargedBucket); n != 2 {
		t.Fatalf("%d charged ids, want 2", n)
	}

	// Within the dedupe window the ids stay charged, though Charge prunes.
	c.set(t0.Add(DedupeWindow - 2*time.Hour))
	charge(t, l, 0, Charge{RequestID: "a"})

	// Past it, the next prune drops them and a repeat is charged anew.
	c.set(t0.Add(DedupeWindow + time.Second))
	charge(t, l, 1, Charge{RequestID: "c"})
	if n, m := count(t, db, chargedBucket), count(t, db, chargedAtBucket); n != 1 || m != 1 {
		t.Fatalf("%d charged ids, %d in the index; want only c", n, m)
	}
	charge(t, l, 1, Charge{RequestID: "a"})
	s := spent(t, l, old, team)[0]
	checkWindow(t, "old day", s.Day, dayStart(old), 0, 0, 0)
	checkWindow(t, "old month", s.Month, monthStart(old), 1, 0, 1)

	// Charge prunes at most once an hour: an id charged 35 days before this prune stays
	// charged until the next.
	pruned := c.now()
	c.set(pruned.Add(-DedupeWindow - time.Minute))
	charge(t, l, 1, Charge{RequestID: "d"})
	c.set(pruned.Add(30 * time.Minute))
	charge(t, l, 0, Charge{RequestID: "d"})
	c.set(pruned.Add(61 * time.Minute))
	charge(t, l, 1, Charge{RequestID: "d"})

	// Opening prunes too.
	c.set(pruned.Add(DedupeWindow + 2*time.Hour))
	if _, err := newBolt(db, c.now); err != nil {
		t.Fatal(err)
	}
	if n, m := count(t, db, chargedBucket), count(t, db, chargedAtBucket); n != 0 || m != 0 {
		t.Fatalf("after reopening 35 days later: %d charged ids, %d in the index; want none", n, m)
	}
}

func TestBoltReservations(t *testing.T) {
	testReservations(t, func(t *testing.T) Ledger {
		l, err := NewBolt(openDB(t, filepath.Join(t.TempDir(), "lynkr.db")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	})
}
