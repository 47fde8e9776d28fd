package respcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the cache the gateways share through Redis: one GET or one SET PX per call.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

var _ Cache = (*Redis)(nil)

// NewRedis returns a cache storing entries under prefix+key in client. The caller keeps the
// client and closes it.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Get returns the entry under key. A missing key is (Entry{}, false, nil); an unreachable
// Redis is an error.
func (r *Redis) Get(ctx context.Context, key string) (Entry, bool, error) {
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("respcache: get: %w", err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return Entry{}, false, err
	}
	return e, true, nil
}

// Set stores e under key for ttl (SET with an expiry), replacing what was there.
func (r *Redis) Set(ctx context.Context, key string, e Entry, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := r.client.Set(ctx, r.prefix+key, encodeEntry(e), ttl).Err(); err != nil {
		return fmt.Errorf("respcache: set: %w", err)
	}
	return nil
}

// entryVersion is the first byte of a stored entry: version, then status and the content
// type's length as uvarints, the content type, then (from version 2) the length of Dropped
// and Dropped, and the body to the end. Version 1 entries, without Dropped, are still read.
const entryVersion = 2

func encodeEntry(e Entry) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(e.ContentType)+len(e.Dropped)+len(e.Body))
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendUvarint(b, uint64(len(e.ContentType)))
	b = append(b, e.ContentType...)
	b = binary.AppendUvarint(b, uint64(len(e.Dropped)))
	b = append(b, e.Dropped...)
	return append(b, e.Body...)
}

func decodeEntry(b []byte) (Entry, error) {
	if len(b) == 0 || b[0] < 1 || b[0] > entryVersion {
		return Entry{}, ErrCorrupt
	}
	version := b[0]
	b = b[1:]
	status, n := binary.Uvarint(b)
	if n <= 0 || status > 999 {
		return Entry{}, ErrCorrupt
	}
	b = b[n:]
	ct, b, ok := lengthPrefixed(b)
	if !ok {
		return Entry{}, ErrCorrupt
	}
	e := Entry{Status: int(status), ContentType: ct}
	if version >= 2 {
		if e.Dropped, b, ok = lengthPrefixed(b); !ok {
			return Entry{}, ErrCorrupt
		}
	}
	e.Body = b
	return e, nil
}

// lengthPrefixed reads a uvarint length and that many bytes as a string, and returns what
// follows.
func lengthPrefixed(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	b = b[n:]
	return string(b[:l]), b[l:], true
}
