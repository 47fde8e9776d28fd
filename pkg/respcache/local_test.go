package respcache

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func body(n int) Entry {
	return Entry{Status: 200, ContentType: "application/json", Body: make([]byte, n)}
}

func has(t *testing.T, c Cache, key string) bool {
	t.Helper()
	_, ok, err := c.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func set(t *testing.T, c Cache, key string, e Entry, ttl time.Duration) {
	t.Helper()
	if err := c.Set(t.Context(), key, e, ttl); err != nil {
		t.Fatal(err)
	}
}

func TestLocalEvictsByCount(t *testing.T) {
	c := NewLocal(2, 0, nil)
	set(t, c, "a", body(1), time.Minute)
	set(t, c, "b", body(1), time.Minute)
	if !has(t, c, "a") { // a is now more recently used than b
		t.Fatal("a missing")
	}
	set(t, c, "c", body(1), time.Minute)
	if has(t, c, "b") {
		t.Fatal("b, the least recently used, was kept")
	}
	if !has(t, c, "a") || !has(t, c, "c") {
		t.Fatal("a or c evicted")
	}
	set(t, c, "c", body(1), time.Minute) // replacing does not grow the cache
	if c.ll.Len() != 2 || len(c.items) != 2 {
		t.Fatalf("len %d/%d, want 2", c.ll.Len(), len(c.items))
	}
}

func TestLocalEvictsByBytes(t *testing.T) {
	c := NewLocal(0, 10, nil)
	set(t, c, "a", body(4), time.Minute)
	set(t, c, "b", body(4), time.Minute)
	set(t, c, "c", body(4), time.Minute) // 12 bytes: a goes
	if has(t, c, "a") || !has(t, c, "b") || !has(t, c, "c") {
		t.Fatal("want a evicted, b and c kept")
	}
	if c.bytes != 8 {
		t.Fatalf("bytes = %d, want 8", c.bytes)
	}
	set(t, c, "b", body(10), time.Minute) // replacing b with 10 bytes evicts c
	if has(t, c, "c") || !has(t, c, "b") || c.bytes != 10 {
		t.Fatalf("want only b, bytes %d", c.bytes)
	}
	set(t, c, "big", body(11), time.Minute) // larger than the bound: not stored, nothing evicted
	if has(t, c, "big") || !has(t, c, "b") {
		t.Fatal("an oversized entry was stored or evicted b")
	}
	set(t, c, "b", body(11), time.Minute) // an oversized replacement drops the old entry
	if has(t, c, "b") || c.bytes != 0 || c.ll.Len() != 0 {
		t.Fatalf("want empty, bytes %d len %d", c.bytes, c.ll.Len())
	}
}

func TestLocalTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := NewLocal(10, 1<<20, clk.now)
	set(t, c, "a", body(3), time.Second)
	set(t, c, "b", body(3), 3*time.Second)
	clk.add(999 * time.Millisecond)
	if !has(t, c, "a") {
		t.Fatal("a expired early")
	}
	clk.add(time.Millisecond)
	if has(t, c, "a") {
		t.Fatal("a served after its TTL")
	}
	if c.bytes != 3 || c.ll.Len() != 1 {
		t.Fatalf("expired entry not removed: bytes %d len %d", c.bytes, c.ll.Len())
	}
	if !has(t, c, "b") {
		t.Fatal("b expired early")
	}
	if err := c.Set(t.Context(), "x", body(1), 0); !errors.Is(err, ErrInvalidTTL) {
		t.Fatalf("Set with ttl 0 = %v, want ErrInvalidTTL", err)
	}
}

func TestLocalCopies(t *testing.T) {
	c := NewLocal(10, 100, nil)
	e := Entry{Status: 200, ContentType: "application/json", Body: []byte("abc")}
	set(t, c, "k", e, time.Minute)
	e.Body[0] = 'X'
	got, ok, _ := c.Get(t.Context(), "k")
	if !ok || string(got.Body) != "abc" || got.Status != 200 || got.ContentType != "application/json" {
		t.Fatalf("got %+v %v", got, ok)
	}
	got.Body[0] = 'Y'
	if again, _, _ := c.Get(t.Context(), "k"); string(again.Body) != "abc" {
		t.Fatalf("caller's change reached the cache: %q", again.Body)
	}
}

func TestLocalConcurrent(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	c := NewLocal(50, 2000, clk.now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := strconv.Itoa((g*7 + i) % 120)
				if i%3 == 0 {
					if err := c.Set(t.Context(), key, body(i%60), time.Duration(1+i%5)*time.Millisecond); err != nil {
						t.Error(err)
						return
					}
				} else if e, ok, err := c.Get(t.Context(), key); err != nil || (ok && e.Status != 200) {
					t.Errorf("Get: %+v %v %v", e, ok, err)
					return
				}
				if i%100 == 0 {
					clk.add(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for el := c.ll.Front(); el != nil; el = el.Next() {
		sum += int64(len(el.Value.(*localItem).e.Body))
	}
	if c.ll.Len() > 50 || c.ll.Len() != len(c.items) || sum != c.bytes || c.bytes > 2000 {
		t.Fatalf("inconsistent: len %d items %d bytes %d (sum %d)", c.ll.Len(), len(c.items), c.bytes, sum)
	}
}
