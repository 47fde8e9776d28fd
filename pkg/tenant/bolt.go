package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// The buckets of the Bolt store, in a database file other packages may share.
var (
	bucketKeys     = []byte("tenant_keys")     // hash → record JSON
	bucketKeyIDs   = []byte("tenant_key_ids")  // id → hash
	bucketPolicies = []byte("tenant_policies") // "kind:name" → policy JSON
)

// Bolt is the store of a single gateway, in a local bbolt file. Every call is one
// transaction; nothing is cached.
type Bolt struct {
	db *bbolt.DB
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating it and its directory if need be) the bbolt file at path, waiting
// at most a second for another process to let go of it. The caller closes it.
func OpenBolt(path string) (*bbolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("tenant: creating the directory of %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("tenant store %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant: opening %s: %w", path, err)
	}
	return db, nil
}

// NewBolt returns a store in db, creating its buckets. The caller keeps db and closes it.
func NewBolt(db *bbolt.DB) (*Bolt, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketKeyIDs, bucketPolicies} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tenant: creating buckets: %w", err)
	}
	return &Bolt{db: db}, nil
}

func policyName(s Scope) []byte { return []byte(string(s.Kind) + ":" + s.Name) }

// CreateKey stores k, failing with ErrExists if its id or hash is taken.
func (b *Bolt) CreateKey(_ context.Context, k Key) error {
	if err := checkNewKey(k); err != nil {
		return err
	}
	rec, err := encodeKey(k)
	if err != nil {
		return err
	}
	return b.db.Update(func(tx *bbolt.Tx) error {
		keys, ids := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyIDs)
		if keys.Get([]byte(k.Hash)) != nil || ids.Get([]byte(k.ID)) != nil {
			return fmt.Errorf("%w: key %s or its secret", ErrExists, k.ID)
		}
		if err := keys.Put([]byte(k.Hash), rec); err != nil {
			return fmt.Errorf("tenant: creating key %s: %w", k.ID, err)
		}
		if err := ids.Put([]byte(k.ID), []byte(k.Hash)); err != nil {
			return fmt.Errorf("tenant: creating key %s: %w", k.ID, err)
		}
		return nil
	})
}

// KeyByHash reads the key whose secret hashes to hash.
func (b *Bolt) KeyByHash(_ context.Context, hash string) (Key, error) {
	var k Key
	err := b.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketKeys).Get([]byte(hash))
		if v == nil {
			return fmt.Errorf("%w: no key has that secret", ErrNotFound)
		}
		var err error
		k, err = decodeKey(v)
		return err
	})
	return k, err
}

// Key reads the key with id.
func (b *Bolt) Key(_ context.Context, id string) (Key, error) {
	var k Key
	err := b.db.View(func(tx *bbolt.Tx) error {
		var err error
		k, err = keyByID(tx, id)
		return err
	})
	return k, err
}

// keyByID reads key id in tx.
func keyByID(tx *bbolt.Tx, id string) (Key, error) {
	hash := tx.Bucket(bucketKeyIDs).Get([]byte(id))
	if hash == nil {
		return Key{}, keyNotFound(id)
	}
	v := tx.Bucket(bucketKeys).Get(hash)
	if v == nil {
		return Key{}, keyNotFound(id)
	}
	return decodeKey(v)
}

// Keys reads every key.
func (b *Bolt) Keys(_ context.Context) ([]Key, error) {
	var keys []Key
	err := b.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			k, err := decodeKey(v)
			if err != nil {
				return err
			}
			keys = append(keys, k)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sortKeys(keys)
	return keys, nil
}

// RevokeKey marks the key revoked at at.
func (b *Bolt) RevokeKey(_ context.Context, id string, at time.Time) (Key, error) {
	return b.updateKey(id, func(k *Key) {
		if !k.Revoked() {
			k.RevokedAt = &at
		}
	})
}

// updateKey changes key id with change in one transaction and returns it as stored.
func (b *Bolt) updateKey(id string, change func(*Key)) (Key, error) {
	var k Key
	err := b.db.Update(func(tx *bbolt.Tx) error {
		var err error
		if k, err = keyByID(tx, id); err != nil {
			return err
		}
		change(&k)
		rec, err := encodeKey(k)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeys).Put([]byte(k.Hash), rec); err != nil {
			return fmt.Errorf("tenant: updating key %s: %w", id, err)
		}
		return nil
	})
	return k, err
}

// SetPolicy sets or deletes the policy of s, or the Policy of the key for a key scope.
func (b *Bolt) SetPolicy(_ context.Context, s Scope, p Policy) error {
	if err := checkScope(s); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("tenant: policy of %s: %w", s, err)
	}
	if s.Kind == KindKey {
		_, err := b.updateKey(s.Name, func(k *Key) { k.Policy = p })
		return err
	}
	v, err := encodePolicy(s, p)
	if err != nil {
		return err
	}
	err = b.db.Update(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bucketPolicies)
		if p.IsZero() {
			return bk.Delete(policyName(s))
		}
		return bk.Put(policyName(s), v)
	})
	if err != nil {
		return fmt.Errorf("tenant: setting the policy of %s: %w", s, err)
	}
	return nil
}

// Policies reads the policies of scopes in one transaction.
func (b *Bolt) Policies(_ context.Context, scopes []Scope) ([]Policy, error) {
	for _, s := range scopes {
		if err := checkScope(s); err != nil {
			return nil, err
		}
	}
	ps := make([]Policy, len(scopes))
	err := b.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bucketPolicies)
		for i, s := range scopes {
			if s.Kind == KindKey {
				k, err := keyByID(tx, s.Name)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				ps[i] = k.Policy
				continue
			}
			if v := bk.Get(policyName(s)); v != nil {
				var err error
				if ps[i], err = decodePolicy(s, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// Close does nothing: the caller closes the database.
func (b *Bolt) Close() error { return nil }
