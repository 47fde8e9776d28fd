package respcache

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/internal/redistest"
)

// client is a go-redis client of srv that does not retry, so a stopped server is an error at
// once; closed at the end of the test.
func client(t *testing.T, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisRoundTrip(t *testing.T) {
	s := redistest.Start(t)
	rc := client(t, s)
	c := NewRedis(rc, "lynkr:respcache:")
	ctx := t.Context()

	if e, ok, err := c.Get(ctx, "missing"); err != nil || ok || e.Status != 0 || e.ContentType != "" || e.Body != nil {
		t.Fatalf("Get(missing) = %+v, %v, %v; want zero, false, nil", e, ok, err)
	}
	for _, want := range []Entry{
		{Status: 200, ContentType: "application/json", Body: []byte(`{"id":"chatcmpl-1","choices":[]}`)},
		{Status: 200, ContentType: "text/event-stream", Body: []byte("event: message_start\ndata: {}\n\ndata: [DONE]\n\n")},
		{Status: 204},
		{Status: 200, ContentType: "application/json", Body: []byte(`{}`), Dropped: "web_search,context_management"},
	} {
		key := Key("", "openai", "chat", "p", "m", want.ContentType == "text/event-stream", want.Body)
		set(t, c, key, want, time.Minute)
		got, ok, err := c.Get(ctx, key)
		if err != nil || !ok {
			t.Fatalf("Get = %v, %v", ok, err)
		}
		if got.Status != want.Status || got.ContentType != want.ContentType || string(got.Body) != string(want.Body) || got.Dropped != want.Dropped {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		// Stored under the prefix, with an expiry.
		if ttl := rc.PTTL(ctx, "lynkr:respcache:"+key).Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("PTTL = %v, want (0, 1m]", ttl)
		}
	}
	if err := c.Set(ctx, "k", Entry{}, 0); !errors.Is(err, ErrInvalidTTL) {
		t.Fatalf("Set with ttl 0 = %v, want ErrInvalidTTL", err)
	}
	if err := rc.Set(ctx, "lynkr:respcache:junk", "not an entry", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get(ctx, "junk"); !errors.Is(err, ErrCorrupt) || ok {
		t.Fatalf("Get(junk) = %v, %v; want ErrCorrupt", ok, err)
	}
}

func TestRedisTTL(t *testing.T) {
	s := redistest.Start(t)
	c := NewRedis(client(t, s), "t:")
	set(t, c, "k", body(5), 200*time.Millisecond)
	if !has(t, c, "k") {
		t.Fatal("entry missing before its TTL")
	}
	deadline := time.Now().Add(5 * time.Second)
	for has(t, c, "k") {
		if time.Now().After(deadline) {
			t.Fatal("entry still served 5s after a 200ms TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisDown(t *testing.T) {
	s := redistest.Start(t)
	c := NewRedis(client(t, s), "t:")
	set(t, c, "k", body(5), time.Minute)
	s.Stop()
	if _, ok, err := c.Get(t.Context(), "k"); err == nil || ok {
		t.Fatalf("Get with Redis down = %v, %v; want an error", ok, err)
	}
	if err := c.Set(t.Context(), "k", body(5), time.Minute); err == nil {
		t.Fatal("Set with Redis down succeeded")
	}
}

// An entry stored by the version before Dropped is still read.
func TestDecodeVersion1(t *testing.T) {
	e, err := decodeEntry([]byte("\x01\xc8\x01\x10application/json{}"))
	if err != nil || e.Status != 200 || e.ContentType != "application/json" || string(e.Body) != "{}" || e.Dropped != "" {
		t.Fatalf("decode = %+v, %v", e, err)
	}
}
