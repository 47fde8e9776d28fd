// Package respcache stores lynkr's cached answers to deterministic LLM requests: the key of
// a request, whether it may be answered from the cache, and two stores, one shared through
// Redis and one in-process.
package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Entry is one cached answer exactly as the client received it.
type Entry struct {
	Status      int
	ContentType string
	Body        []byte // the JSON body, or for a stream the whole SSE byte stream
	// Dropped is the answer's X-Lynkr-Dropped: what the conversion of the request left out,
	// which is the same for every request the entry answers.
	Dropped string
}

// Cache stores entries by key for a time.
type Cache interface {
	// Get returns the entry under key; a missing or expired key is (Entry{}, false, nil).
	Get(ctx context.Context, key string) (Entry, bool, error)
	// Set stores e under key for ttl, which must be at least a millisecond.
	Set(ctx context.Context, key string, e Entry, ttl time.Duration) error
}

var (
	// ErrInvalidTTL is returned by Set for a TTL under a millisecond: an entry must expire.
	ErrInvalidTTL = errors.New("respcache: ttl must be at least 1ms")
	// ErrCorrupt is returned by Get for a stored value that does not decode as an Entry.
	ErrCorrupt = errors.New("respcache: stored entry is corrupt")
)

func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return ErrInvalidTTL
	}
	return nil
}

// keyVersion names the key derivation; change it when the derivation changes.
const keyVersion = "lynkr-respcache-v1"

// Key is the cache key of a request: a hex SHA-256 over the partition — who may share the
// answer, empty for everyone —, the API format, the operation, the provider and model it was
// routed to, whether it streams, and the request body normalized —
// decoded and re-encoded with sorted object keys and no insignificant white space, so two
// bodies that differ only in key order or spacing share a key. Numbers keep their literal
// text (0 and 0.0 give different keys). A body that is not JSON, or not valid UTF-8, is
// hashed as it is.
func Key(partition, format, operation, provider, model string, stream bool, body []byte) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	field := func(b []byte) { // length-prefixed, so no two field lists hash alike
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	field([]byte(keyVersion))
	field([]byte(partition))
	field([]byte(format))
	field([]byte(operation))
	field([]byte(provider))
	field([]byte(model))
	field([]byte(strconv.FormatBool(stream)))
	if norm, ok := normalize(body); ok {
		field([]byte("json"))
		field(norm)
	} else {
		field([]byte("raw"))
		field(body)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// normalize re-encodes a JSON body with sorted object keys and no white space. It refuses
// invalid UTF-8, which decoding would replace and so make distinct bodies collide.
func normalize(body []byte) ([]byte, bool) {
	if !utf8.Valid(body) {
		return nil, false
	}
	v, ok := decodeOne(body)
	if !ok {
		return nil, false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

// decodeOne decodes body as exactly one JSON value, keeping numbers as written.
func decodeOne(body []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	return v, true
}

// Cacheable reports whether a request may be answered from the cache: the client opted in
// (optIn, e.g. from a header), or its body is a JSON object whose top-level "temperature" is
// the number 0 (0, 0.0, -0, 0e0). optOut wins over both.
func Cacheable(body []byte, optIn, optOut bool) bool {
	if optOut {
		return false
	}
	if optIn {
		return true
	}
	if !gjson.ValidBytes(body) {
		return false
	}
	top := gjson.ParseBytes(body)
	if !top.IsObject() {
		return false
	}
	// The last "temperature" counts, as with encoding/json and the providers' own parsers.
	var temp gjson.Result
	top.ForEach(func(k, v gjson.Result) bool {
		if k.Str == "temperature" {
			temp = v
		}
		return true
	})
	return temp.Type == gjson.Number && temp.Num == 0
}
