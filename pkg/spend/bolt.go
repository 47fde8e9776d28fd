package spend

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
	"go.etcd.io/bbolt"
)

// The ledger's buckets in a bbolt database.
var (
	// windowsBucket holds each window's tokens, cost and requests as three big-endian
	// int64s, keyed d:<YYYY-MM-DD>:<kind>:<name> or m:<YYYY-MM>:<kind>:<name>, so a
	// period's windows sort by date and the old ones are pruned from the front.
	windowsBucket = []byte("spend_windows")
	// chargedBucket maps a charged request id to when it was charged, in big-endian unix
	// seconds.
	chargedBucket = []byte("spend_charged")
	// chargedAtBucket indexes chargedBucket by time: the key is the unix seconds then the
	// request id, the value empty. Pruning reads the expired ids from its front.
	chargedAtBucket = []byte("spend_charged_at")
)

// pruneEvery is how often Charge drops expired request ids and windows.
const pruneEvery = time.Hour

// Bolt is the ledger of a single gateway, in a bbolt database file shared with the rest of
// the gateway's local state. Each Charge is one write transaction. Reservations live in
// memory: they last no longer than the requests of this process.
type Bolt struct {
	db  *bbolt.DB
	now func() time.Time
	// pruned is when expired entries were last dropped; only written transactions touch it,
	// so the database's writer lock guards it.
	pruned time.Time

	// mu makes a Reserve (read spend, check, hold) and a Charge (count spend, end holds) one
	// step each against the other.
	mu    sync.Mutex
	holds localHolds
}

var _ Ledger = (*Bolt)(nil)

// NewBolt returns a ledger in db, creating its buckets and dropping expired request ids
// and windows. The caller opens db and closes it after Close.
func NewBolt(db *bbolt.DB) (*Bolt, error) { return newBolt(db, time.Now) }

func newBolt(db *bbolt.DB, now func() time.Time) (*Bolt, error) {
	b := &Bolt{db: db, now: now, holds: localHolds{}}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{windowsBucket, chargedBucket, chargedAtBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return b.prune(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("spend: opening the ledger: %w", err)
	}
	return b, nil
}

// Charge charges the batch in one write transaction, then ends the requests' holds. A
// request id stays charged for at least DedupeWindow and at most pruneEvery more.
func (b *Bolt) Charge(ctx context.Context, charges []Charge) (int, error) {
	if len(charges) == 0 {
		return 0, nil
	}
	if err := validateAll(charges); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int
	err := b.db.Update(func(tx *bbolt.Tx) error {
		now := b.now()
		if now.Sub(b.pruned) >= pruneEvery {
			if err := b.prune(tx); err != nil {
				return err
			}
		}
		charged, chargedAt, windows := tx.Bucket(chargedBucket), tx.Bucket(chargedAtBucket), tx.Bucket(windowsBucket)
		stamp := binary.BigEndian.AppendUint64(nil, uint64(now.Unix()))
		for _, c := range charges {
			id := []byte(c.RequestID)
			if charged.Get(id) != nil {
				continue
			}
			if err := charged.Put(id, stamp); err != nil {
				return err
			}
			if err := chargedAt.Put(append(stamp[:8:8], id...), []byte{}); err != nil {
				return err
			}
			at := c.at(now)
			for _, s := range c.Scopes {
				d, m := boltWindowKeys(s, at)
				for _, k := range [][]byte{d, m} {
					var w Window
					if err := decodeWindow(windows.Get(k), &w); err != nil {
						return fmt.Errorf("window %s: %w", k, err)
					}
					w.Tokens += c.Tokens
					w.Cost += c.Cost
					w.Requests++
					if err := windows.Put(k, encodeWindow(w)); err != nil {
						return err
					}
				}
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("spend: charging %d requests: %w", len(charges), err)
	}
	// The spend is counted: the holds end after it, under the same lock, so no Reserve sees
	// a request's usage neither spent nor held.
	for _, c := range charges {
		for _, s := range c.Scopes {
			b.holds.drop(s, c.RequestID)
		}
	}
	return n, nil
}

// Reserve reads the scopes' spend and holds and holds r's estimate under the ledger's lock.
func (b *Bolt) Reserve(ctx context.Context, r Reservation, at time.Time) error {
	if err := r.validate(); err != nil {
		return err
	}
	scopes, policies := r.budgeted()
	if len(scopes) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.holds.tidy(scopes)
	now := b.now()
	held := make([]*scopeHolds, len(scopes))
	for i, s := range scopes {
		held[i] = b.holds.of(s, now)
		if b.holds.holds(s, r.RequestID) {
			return nil // held already
		}
	}
	spent, err := b.spent(ctx, scopes, at)
	if err != nil {
		return err
	}
	charged, err := b.charged(r.RequestID)
	if err != nil || charged {
		return err
	}
	totals, tails := make([]Held, len(scopes)), make([]bool, len(scopes))
	for i, h := range held {
		totals[i], tails[i] = h.total, h.tail != ""
	}
	holds, tail, err := decide(scopes, policies, spent, totals, tails, r.Least, r.Most, at)
	if err != nil {
		return err
	}
	for i, s := range scopes {
		b.holds.put(s, r.RequestID, holds[i], tail[i], now.Add(r.TTL))
	}
	return nil
}

// Release ends, shortens or shrinks the request's holds under the ledger's lock.
func (b *Bolt) Release(ctx context.Context, requestID string, scopes []tenant.Scope, l Lapse) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range scopes {
		if l.After <= 0 {
			b.holds.drop(s, requestID)
		} else {
			b.holds.lapse(s, requestID, b.now().Add(l.After), l.Used)
		}
	}
	return nil
}

// Spent reads every window in one read transaction, and the holds.
func (b *Bolt) Spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]Spend, error) {
	out, err := b.spent(ctx, scopes, at)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for i, s := range scopes {
		out[i].Held = b.holds.total(s, now)
	}
	return out, nil
}

// spent reads every window in one read transaction.
func (b *Bolt) spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]Spend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	at = at.UTC()
	out := make([]Spend, len(scopes))
	err := b.db.View(func(tx *bbolt.Tx) error {
		windows := tx.Bucket(windowsBucket)
		for i, s := range scopes {
			out[i] = emptySpend(s, at)
			d, m := boltWindowKeys(s, at)
			if err := decodeWindow(windows.Get(d), &out[i].Day); err != nil {
				return fmt.Errorf("window %s: %w", d, err)
			}
			if err := decodeWindow(windows.Get(m), &out[i].Month); err != nil {
				return fmt.Errorf("window %s: %w", m, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spend: reading spend: %w", err)
	}
	return out, nil
}

// charged reports whether the request id was charged.
func (b *Bolt) charged(requestID string) (bool, error) {
	var ok bool
	err := b.db.View(func(tx *bbolt.Tx) error {
		ok = tx.Bucket(chargedBucket).Get([]byte(requestID)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("spend: reading charged ids: %w", err)
	}
	return ok, nil
}

// Close does nothing: the caller keeps the database.
func (b *Bolt) Close() error { return nil }

// prune drops the request ids charged more than DedupeWindow ago, and the day and month
// windows older than their retention.
func (b *Bolt) prune(tx *bbolt.Tx) error {
	now := b.now()
	b.pruned = now
	charged, chargedAt := tx.Bucket(chargedBucket), tx.Bucket(chargedAtBucket)
	cutoff := binary.BigEndian.AppendUint64(nil, uint64(now.Add(-DedupeWindow).Unix()))
	for _, k := range keysBefore(chargedAt, nil, cutoff) {
		id := k[8:]
		if bytes.Equal(charged.Get(id), k[:8]) {
			if err := charged.Delete(id); err != nil {
				return err
			}
		}
		if err := chargedAt.Delete(k); err != nil {
			return err
		}
	}
	windows := tx.Bucket(windowsBucket)
	old := append(keysBefore(windows, []byte("d:"), []byte("d:"+now.Add(-dayRetention).UTC().Format(dayLayout))),
		keysBefore(windows, []byte("m:"), []byte("m:"+now.Add(-monthRetention).UTC().Format(monthLayout)))...)
	for _, k := range old {
		if err := windows.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// keysBefore copies the keys of bucket from the first at or after from up to the first
// not below before.
func keysBefore(bucket *bbolt.Bucket, from, before []byte) [][]byte {
	var keys [][]byte
	c := bucket.Cursor()
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for ; k != nil && bytes.Compare(k, before) < 0; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

func boltWindowKeys(s tenant.Scope, at time.Time) (day, month []byte) {
	name := ":" + string(s.Kind) + ":" + s.Name
	return []byte("d:" + at.Format(dayLayout) + name), []byte("m:" + at.Format(monthLayout) + name)
}

func encodeWindow(w Window) []byte {
	b := make([]byte, 0, 24)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Tokens))
	b = binary.BigEndian.AppendUint64(b, uint64(w.Cost))
	return binary.BigEndian.AppendUint64(b, uint64(w.Requests))
}

// decodeWindow reads what encodeWindow wrote into w's counts; nil, a window never
// charged, leaves them zero.
func decodeWindow(b []byte, w *Window) error {
	if b == nil {
		return nil
	}
	if len(b) != 24 {
		return fmt.Errorf("corrupt value of %d bytes, want 24", len(b))
	}
	w.Tokens = int64(binary.BigEndian.Uint64(b))
	w.Cost = Micros(binary.BigEndian.Uint64(b[8:]))
	w.Requests = int64(binary.BigEndian.Uint64(b[16:]))
	return nil
}
