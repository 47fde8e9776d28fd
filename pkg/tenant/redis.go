package tenant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts the names of the Redis keys the store uses.
const DefaultRedisPrefix = "{lynkr:tenant}"

// Redis is the store the gateways share through Redis. Nothing is cached: every call reads
// Redis, so a revocation is seen by every gateway at once. Under a prefix P it keeps
//
//	P:key:<hash>           the key's record (JSON, with its hash)
//	P:keyid:<id>           the key's hash
//	P:keys                 the set of key ids
//	P:policy:<kind>:<name> a policy (JSON); P:policy:key:<id> mirrors the key's own Policy,
//	                       written with the record, so Policies is one pipeline of GETs
//
// Creating a key is one script call, and changing one a WATCH transaction, both touching
// several of these names: the default prefix is a hash tag, so on Redis Cluster they share a
// slot; a prefix of your own should be one too.
type Redis struct {
	client redis.UniversalClient
	prefix string
	create *redis.Script
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store keeping its data under prefix (DefaultRedisPrefix if empty) in
// client. The caller keeps the client and closes it.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, prefix: prefix, create: redis.NewScript(createKeyLua)}
}

func (r *Redis) recordKey(hash string) string { return r.prefix + ":key:" + hash }
func (r *Redis) idKey(id string) string       { return r.prefix + ":keyid:" + id }
func (r *Redis) idsKey() string               { return r.prefix + ":keys" }
func (r *Redis) policyKey(s Scope) string {
	return r.prefix + ":policy:" + string(s.Kind) + ":" + s.Name
}

// createKeyLua stores a new key unless its hash or id is taken.
// KEYS: record, id → hash, set of ids, the key's policy. ARGV: record, hash, id, policy
// ("" for none). Returns 1, or 0 if taken.
const createKeyLua = `
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
if ARGV[4] == '' then redis.call('DEL', KEYS[4]) else redis.call('SET', KEYS[4], ARGV[4]) end
return 1
`

// CreateKey stores k in one script call, so of two gateways creating the same id or hash
// exactly one succeeds.
func (r *Redis) CreateKey(ctx context.Context, k Key) error {
	if err := checkNewKey(k); err != nil {
		return err
	}
	rec, pol, err := r.encodeKeyRecords(k)
	if err != nil {
		return err
	}
	keys := []string{r.recordKey(k.Hash), r.idKey(k.ID), r.idsKey(), r.policyKey(Scope{KindKey, k.ID})}
	n, err := r.create.Run(ctx, r.client, keys, rec, k.Hash, k.ID, pol).Int()
	if err != nil {
		return fmt.Errorf("tenant: creating key %s: %w", k.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: key %s or its secret", ErrExists, k.ID)
	}
	return nil
}

// encodeKeyRecords is what Redis keeps of k: its record, and the mirror of its Policy ("" for
// none).
func (r *Redis) encodeKeyRecords(k Key) (rec []byte, pol string, err error) {
	if rec, err = encodeKey(k); err != nil || k.Policy.IsZero() {
		return rec, "", err
	}
	b, err := encodePolicy(Scope{KindKey, k.ID}, k.Policy)
	return rec, string(b), err
}

// KeyByHash reads the key whose secret hashes to hash: one GET.
func (r *Redis) KeyByHash(ctx context.Context, hash string) (Key, error) {
	b, err := r.client.Get(ctx, r.recordKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Key{}, fmt.Errorf("%w: no key has that secret", ErrNotFound)
	}
	if err != nil {
		return Key{}, fmt.Errorf("tenant: reading a key by its hash: %w", err)
	}
	return decodeKey(b)
}

// hashOf reads the hash of key id.
func (r *Redis) hashOf(ctx context.Context, id string) (string, error) {
	hash, err := r.client.Get(ctx, r.idKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", keyNotFound(id)
	}
	if err != nil {
		return "", fmt.Errorf("tenant: reading key %s: %w", id, err)
	}
	return hash, nil
}

// Key reads the key with id: two GETs.
func (r *Redis) Key(ctx context.Context, id string) (Key, error) {
	hash, err := r.hashOf(ctx, id)
	if err != nil {
		return Key{}, err
	}
	b, err := r.client.Get(ctx, r.recordKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Key{}, keyNotFound(id)
	}
	if err != nil {
		return Key{}, fmt.Errorf("tenant: reading key %s: %w", id, err)
	}
	return decodeKey(b)
}

// Keys reads every key: the set of ids, then two pipelines.
func (r *Redis) Keys(ctx context.Context) ([]Key, error) {
	ids, err := r.client.SMembers(ctx, r.idsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("tenant: listing keys: %w", err)
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = r.idKey(id)
	}
	hashes, err := r.getAll(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("tenant: listing keys: %w", err)
	}
	names = names[:0]
	for _, h := range hashes {
		if h != nil {
			names = append(names, r.recordKey(string(h)))
		}
	}
	recs, err := r.getAll(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("tenant: listing keys: %w", err)
	}
	keys := make([]Key, 0, len(recs))
	for _, b := range recs {
		if b == nil {
			continue
		}
		k, err := decodeKey(b)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys, nil
}

// getAll GETs names in one pipeline; a missing name is nil.
func (r *Redis) getAll(ctx context.Context, names []string) ([][]byte, error) {
	if len(names) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(names))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.Get(ctx, n)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([][]byte, len(names))
	for i, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// RevokeKey marks the key revoked in a WATCH transaction.
func (r *Redis) RevokeKey(ctx context.Context, id string, at time.Time) (Key, error) {
	return r.updateKey(ctx, id, "revoking", func(k *Key) bool {
		if k.Revoked() {
			return false
		}
		k.RevokedAt = &at
		return true
	})
}

// maxTxAttempts bounds the retries of a WATCH transaction that others keep changing.
const maxTxAttempts = 16

// updateKey changes key id with change (which reports whether it changed anything) in a
// WATCH transaction on its record, retried while other clients change it meanwhile, and
// returns the key as stored.
func (r *Redis) updateKey(ctx context.Context, id, doing string, change func(*Key) bool) (Key, error) {
	hash, err := r.hashOf(ctx, id)
	if err != nil {
		return Key{}, err
	}
	name := r.recordKey(hash)
	for range maxTxAttempts {
		var k Key
		err := r.client.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, name).Bytes()
			if errors.Is(err, redis.Nil) {
				return keyNotFound(id)
			}
			if err != nil {
				return err
			}
			if k, err = decodeKey(b); err != nil {
				return err
			}
			if !change(&k) {
				return nil
			}
			rec, pol, err := r.encodeKeyRecords(k)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, name, rec, 0)
				if pol == "" {
					p.Del(ctx, r.policyKey(Scope{KindKey, id}))
				} else {
					p.Set(ctx, r.policyKey(Scope{KindKey, id}), pol, 0)
				}
				return nil
			})
			return err
		}, name)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue
		case errors.Is(err, ErrNotFound):
			return Key{}, err
		case err != nil:
			return Key{}, fmt.Errorf("tenant: %s key %s: %w", doing, id, err)
		}
		return k, nil
	}
	return Key{}, fmt.Errorf("tenant: %s key %s: changed by others %d times in a row", doing, id, maxTxAttempts)
}

// SetPolicy sets or deletes the policy of s: one SET or DEL, or a WATCH transaction on the
// key's record for a key scope.
func (r *Redis) SetPolicy(ctx context.Context, s Scope, p Policy) error {
	if err := checkScope(s); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("tenant: policy of %s: %w", s, err)
	}
	if s.Kind == KindKey {
		_, err := r.updateKey(ctx, s.Name, "setting the policy of", func(k *Key) bool {
			k.Policy = p
			return true
		})
		return err
	}
	var err error
	if p.IsZero() {
		err = r.client.Del(ctx, r.policyKey(s)).Err()
	} else {
		var b []byte
		if b, err = encodePolicy(s, p); err != nil {
			return err
		}
		err = r.client.Set(ctx, r.policyKey(s), b, 0).Err()
	}
	if err != nil {
		return fmt.Errorf("tenant: setting the policy of %s: %w", s, err)
	}
	return nil
}

// Policies reads the policies of scopes in one pipeline of GETs.
func (r *Redis) Policies(ctx context.Context, scopes []Scope) ([]Policy, error) {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		if err := checkScope(s); err != nil {
			return nil, err
		}
		names[i] = r.policyKey(s)
	}
	bs, err := r.getAll(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("tenant: reading policies: %w", err)
	}
	ps := make([]Policy, len(scopes))
	for i, b := range bs {
		if b == nil {
			continue
		}
		if ps[i], err = decodePolicy(scopes[i], b); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// Close does nothing: the caller closes the client.
func (r *Redis) Close() error { return nil }
