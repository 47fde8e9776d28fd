package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// stall opens a connection to the gateway that sends a request's headers announcing an 8 MiB
// body, and one byte of it, then nothing.
func stall(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/messages HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAnthropic-Version: 2023-06-01\r\nContent-Length: %d\r\n\r\n{", addr, 8<<20)
	return c
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSlowBodiesCannotLockOthersOut: clients that announce large bodies and stall hold no
// request slot and no memory for what they announced, other clients are answered meanwhile,
// and the stalled connections are answered 408 and closed at the body deadline.
func TestSlowBodiesCannotLockOthersOut(t *testing.T) {
	s := start(t, anthropicUpstream, map[string]string{
		"LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD": "8",
		"REQUEST_BODY_TIMEOUT":                    "1500",
	})
	addr := strings.TrimPrefix(s.URL, "http://")
	before := heapInUse()
	var stalled []net.Conn
	for range 64 {
		stalled = append(stalled, stall(t, addr))
	}
	time.Sleep(200 * time.Millisecond) // let the gateway start reading each body
	if grown := int64(heapInUse()) - int64(before); grown > 32<<20 {
		t.Errorf("the heap grew by %d MiB for 64 stalled bodies announcing 8 MiB each", grown>>20)
	}

	// Eight times the active-requests threshold stalls, and a normal client is answered.
	s.Fake.Enqueue(fakeupstream.Reply{Text: "still here"})
	resp, out := s.post(t, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Anthropic-Version": "2023-06-01"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), "still here") {
		t.Fatalf("a normal client while 64 bodies stall: %d %s", resp.StatusCode, out)
	}

	// Each stalled connection gets a 408 in Anthropic's format and is closed.
	for i, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("stalled connection %d: %v", i, err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "REQUEST_BODY_TIMEOUT") ||
			!strings.Contains(string(body), `"type":"error"`) {
			t.Fatalf("stalled connection %d: %d %s", i, r.StatusCode, body)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("stalled connection %d is still open after its 408", i)
		}
	}
}
