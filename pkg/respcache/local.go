package respcache

import (
	"bytes"
	"container/list"
	"context"
	"sync"
	"time"
)

// Local is an in-process cache: least recently used entries go first once it holds more
// than maxEntries entries or more than maxBytes body bytes; an entry past its TTL is a miss.
// It is safe for concurrent use.
type Local struct {
	maxEntries int
	maxBytes   int64
	now        func() time.Time

	mu    sync.Mutex
	ll    *list.List // front is the most recently used; values are *localItem
	items map[string]*list.Element
	bytes int64 // sum of the stored bodies' lengths
}

type localItem struct {
	key     string
	e       Entry
	expires time.Time
}

var _ Cache = (*Local)(nil)

// NewLocal returns an empty cache bounded by maxEntries entries and maxBytes bytes of
// bodies; a bound that is not positive is not applied. An entry whose body alone exceeds
// maxBytes is not stored. now is the clock (nil for time.Now).
func NewLocal(maxEntries int, maxBytes int64, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		now:        now,
		ll:         list.New(),
		items:      make(map[string]*list.Element),
	}
}

// Get returns a copy of the entry under key and marks it recently used.
func (c *Local) Get(_ context.Context, key string) (Entry, bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return Entry{}, false, nil
	}
	it := el.Value.(*localItem)
	if !now.Before(it.expires) {
		c.remove(el)
		return Entry{}, false, nil
	}
	c.ll.MoveToFront(el)
	e := it.e
	e.Body = bytes.Clone(e.Body)
	return e, true, nil
}

// Set stores a copy of e under key for ttl and evicts the least recently used entries
// beyond the bounds.
func (c *Local) Set(_ context.Context, key string, e Entry, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	e.Body = bytes.Clone(e.Body)
	it := &localItem{key: key, e: e, expires: c.now().Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if c.maxBytes > 0 && int64(len(e.Body)) > c.maxBytes {
		return nil
	}
	c.items[key] = c.ll.PushFront(it)
	c.bytes += int64(len(e.Body))
	for (c.maxEntries > 0 && c.ll.Len() > c.maxEntries) || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		c.remove(c.ll.Back())
	}
	return nil
}

// remove drops el; c.mu is held.
func (c *Local) remove(el *list.Element) {
	it := c.ll.Remove(el).(*localItem)
	delete(c.items, it.key)
	c.bytes -= int64(len(it.e.Body))
}
