//go:build unix

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxHeld is the most of one answer the gateway holds for a client (its relay.MaxHeld).
const maxHeld = 4 << 20

// streamingUpstream is an OpenAI-format provider that streams a chat completion of events
// carrying eventBytes of text each, one every pause: events of them, then the end, or
// without end when events is 0. It notes when a call ends before its answer did.
type streamingUpstream struct {
	eventBytes int
	events     int // 0: never ends
	pause      time.Duration

	cancelled chan struct{} // closed when a call's client first went away before its end
	once      sync.Once
}

func (u *streamingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	const head = `data: {"id":"chatcmpl-unread","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":`
	event := []byte(head + `{"content":"` + strings.Repeat("x", u.eventBytes) + `"},"finish_reason":null}]}` + "\n\n")
	rc := http.NewResponseController(w)
	for i := 0; u.events == 0 || i < u.events; i++ {
		if _, err := w.Write(event); err != nil || rc.Flush() != nil {
			u.once.Do(func() { close(u.cancelled) }) // the client closed the connection
			return
		}
		select {
		case <-r.Context().Done():
			u.once.Do(func() { close(u.cancelled) })
			return
		case <-time.After(u.pause):
		}
	}
	_, _ = io.WriteString(w, head+`{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`+"\n\ndata: [DONE]\n\n")
}

// dialTinyWindow connects to addr with a receive buffer of a few KiB, set before connecting
// so that the window the gateway sees is that small too.
func dialTinyWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const unreadRequest = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"a long answer, please"}]}`

// TestAClientThatStopsReadingIsCutOff: a client that asks for a stream and never reads it
// makes the gateway hold at most maxHeld of the answer: past it the gateway cancels the
// request (the upstream call ends), closes the client's connection, logs why and counts it.
// A client that reads an answer several times that size gets all of it.
func TestAClientThatStopsReadingIsCutOff(t *testing.T) {
	up := &streamingUpstream{eventBytes: 32 << 10, pause: time.Millisecond, cancelled: make(chan struct{})}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	s := startLynkr(t, openAIUpstream, srv.URL, nil)
	addr := strings.TrimPrefix(s.URL, "http://")

	c := dialTinyWindow(t, addr)
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(unreadRequest), unreadRequest)

	// The upstream never ends its answer: only the cancellation ends its call.
	select {
	case <-up.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream call of a client that does not read was not cancelled within 30s")
	}
	// The connection is closed: what the client reads now ends, well short of an endless answer.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection of a client that does not read was not closed: %v after %d bytes", err, n)
	}
	t.Logf("the client that did not read had %d KiB waiting for it", n>>10)

	fams, _ := scrape(t, s)
	if v, ok := sample(fams, "lynkr_unread_answers_total", map[string]string{}); !ok || v != 1 {
		t.Errorf("lynkr_unread_answers_total = %v (present %t), want 1", v, ok)
	}
	if !strings.Contains(s.logs.String(), "stopped reading its answer") {
		t.Errorf("no log line says why the request ended:\n%s", s.logs.String())
	}

	// A client that reads gets an answer three times maxHeld, whole.
	up.events, up.pause = 3*maxHeld/up.eventBytes, 2*time.Millisecond
	resp, body := s.post(t, "/v1/chat/completions", unreadRequest, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(body), "data: [DONE]\n\n") ||
		strings.Count(string(body), `"content":"x`) != up.events {
		t.Fatalf("a client that reads: %d, %d bytes, %d events of %d", resp.StatusCode, len(body),
			strings.Count(string(body), `"content":"x`), up.events)
	}
	fams, _ = scrape(t, s)
	if v, _ := sample(fams, "lynkr_unread_answers_total", map[string]string{}); v != 1 {
		t.Errorf("lynkr_unread_answers_total = %v after a client that reads, want still 1", v)
	}
}
