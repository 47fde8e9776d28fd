package respcache

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server process for one test, on a free port, with no
// persistence, in a temporary directory.
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
	wait chan error
}

// startRedis starts redis-server from PATH; without it the test fails under CI and is
// skipped elsewhere.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; the response cache's tests need a real Redis: apt-get install redis-server")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := t.TempDir()
	log := filepath.Join(dir, "redis.log")
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", log)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	s := &redisServer{t: t, port: port, cmd: cmd, wait: make(chan error, 1)}
	go func() { s.wait <- cmd.Wait() }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(10 * time.Second)
	for !s.answers() {
		select {
		case err := <-s.wait:
			b, _ := os.ReadFile(log)
			s.cmd = nil
			t.Fatalf("redis-server exited: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("redis-server on %s did not answer PING within 10s\n%s", s.addr(), b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// answers reports whether the server replies +PONG, without a client library.
func (s *redisServer) answers() bool {
	c, err := net.DialTimeout("tcp", s.addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprint(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// stop kills the server and waits until it has exited.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.wait
	s.cmd = nil
}

// client is a go-redis client for the server that does not retry, closed at the end of the test.
func (s *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisRoundTrip(t *testing.T) {
	s := startRedis(t)
	rc := s.client(t)
	c := NewRedis(rc, "lynkr:respcache:")
	ctx := t.Context()

	if e, ok, err := c.Get(ctx, "missing"); err != nil || ok || e.Status != 0 || e.ContentType != "" || e.Body != nil {
		t.Fatalf("Get(missing) = %+v, %v, %v; want zero, false, nil", e, ok, err)
	}
	for _, want := range []Entry{
		{Status: 200, ContentType: "application/json", Body: []byte(`{"id":"chatcmpl-1","choices":[]}`)},
		{Status: 200, ContentType: "text/event-stream", Body: []byte("event: message_start\ndata: {}\n\ndata: [DONE]\n\n")},
		{Status: 204},
	} {
		key := Key("openai", "chat", "p", "m", want.ContentType == "text/event-stream", want.Body)
		set(t, c, key, want, time.Minute)
		got, ok, err := c.Get(ctx, key)
		if err != nil || !ok {
			t.Fatalf("Get = %v, %v", ok, err)
		}
		if got.Status != want.Status || got.ContentType != want.ContentType || string(got.Body) != string(want.Body) {
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
	s := startRedis(t)
	c := NewRedis(s.client(t), "t:")
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
	s := startRedis(t)
	c := NewRedis(s.client(t), "t:")
	set(t, c, "k", body(5), time.Minute)
	s.stop()
	if _, ok, err := c.Get(t.Context(), "k"); err == nil || ok {
		t.Fatalf("Get with Redis down = %v, %v; want an error", ok, err)
	}
	if err := c.Set(t.Context(), "k", body(5), time.Minute); err == nil {
		t.Fatal("Set with Redis down succeeded")
	}
}
