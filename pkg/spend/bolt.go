package spend

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
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
// the gateway's local state. Each Charge is one write transaction.
type Bolt struct {
	db  *bbolt.DB
	now func() time.Time
	// pruned is when expired entries were last dropped; only written transactions touch it,
	// so the database's writer lock guards it.
	pruned time.Time
}

var _ Ledger = (*Bolt)(nil)

// NewBolt returns a ledger in db, creating its buckets and dropping expired request ids
// and windows. The caller opens db and closes it after Close.
func NewBolt(db *bbolt.DB) (*Bolt, error) { return newBolt(db, time.Now) }

func newBolt(db *bbolt.DB, now func() time.Time) (*Bolt, error) {
	b := &Bolt{db: db, now: now}
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

// Charge charges the batch in one write transaction. A request id stays charged for at
// least DedupeWindow and at most pruneEvery more.
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
	return n, nil
}

// Spent reads every window in one read transaction.
func (b *Bolt) Spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]Spend, error) {
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
