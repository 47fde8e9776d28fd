package tenant

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Store keeps keys and the policies of teams, customers and orgs. Both stores read through
// to their storage on every call, so a key revoked by one gateway is refused by all of them
// at once.
type Store interface {
	// CreateKey adds k, whose ID and Hash must be set. It fails with ErrExists if the id or
	// the hash is taken.
	CreateKey(ctx context.Context, k Key) error
	// KeyByHash finds a key by the hash of its secret, or fails with ErrNotFound. A revoked
	// key is returned with RevokedAt set: refusing it is the caller's decision.
	KeyByHash(ctx context.Context, hash string) (Key, error)
	// Key finds a key by its id, or fails with ErrNotFound.
	Key(ctx context.Context, id string) (Key, error)
	// Keys lists every key, revoked ones included, oldest first (then by id).
	Keys(ctx context.Context) ([]Key, error)
	// RevokeKey marks the key revoked at at and returns it, or fails with ErrNotFound.
	// Revoking a revoked key changes nothing and returns it with its first RevokedAt.
	RevokeKey(ctx context.Context, id string, at time.Time) (Key, error)
	// SetPolicy sets the policy of a team, customer or org; a zero policy deletes it. For a
	// key scope it sets the key's own Policy, or fails with ErrNotFound if there is no such
	// key.
	SetPolicy(ctx context.Context, s Scope, p Policy) error
	// Policies returns the policy of each scope, in the same order, in one round trip: the
	// zero Policy where none is set, and the key's own Policy for a key scope.
	Policies(ctx context.Context, scopes []Scope) ([]Policy, error)
	// Close releases what the store holds. Neither store closes the client or database it
	// was given.
	Close() error
}

// record is a key as stored: Key leaves its hash out of JSON, the store keeps it.
type record struct {
	Key
	Hash string `json:"hash"`
}

func encodeKey(k Key) ([]byte, error) {
	b, err := json.Marshal(record{Key: k, Hash: k.Hash})
	if err != nil {
		return nil, fmt.Errorf("tenant: encoding key %s: %w", k.ID, err)
	}
	return b, nil
}

func decodeKey(b []byte) (Key, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Key{}, fmt.Errorf("tenant: decoding a stored key: %w", err)
	}
	r.Key.Hash = r.Hash
	return r.Key, nil
}

func encodePolicy(s Scope, p Policy) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("tenant: encoding the policy of %s: %w", s, err)
	}
	return b, nil
}

func decodePolicy(s Scope, b []byte) (Policy, error) {
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return Policy{}, fmt.Errorf("tenant: decoding the policy of %s: %w", s, err)
	}
	return p, nil
}

// checkNewKey reports what stops k from being stored.
func checkNewKey(k Key) error {
	if k.ID == "" || k.Hash == "" {
		return errors.New("tenant: a new key needs its id and hash set")
	}
	if err := k.Policy.Validate(); err != nil {
		return fmt.Errorf("tenant: key %s: %w", k.ID, err)
	}
	return nil
}

// checkScope reports whether s names something a policy can be set for.
func checkScope(s Scope) error {
	if _, err := ParseKind(string(s.Kind)); err != nil {
		return fmt.Errorf("tenant: scope %s: %w", s, err)
	}
	if s.Name == "" {
		return fmt.Errorf("tenant: scope %s: no name", s)
	}
	return nil
}

func keyNotFound(id string) error { return fmt.Errorf("%w: key %s", ErrNotFound, id) }

// sortKeys puts keys oldest first, then by id.
func sortKeys(keys []Key) {
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}
