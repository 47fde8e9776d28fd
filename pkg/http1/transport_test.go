package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTransport() *Transport {
	return &Transport{Fallback: &http.Transport{}}
}

// countingServer is an httptest server that counts the connections made to it.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func post(t *testing.T, c *http.Client, ctx context.Context, u, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExchangeKeepsTheConnection: what the upstream got and answered crosses intact, and calls
// one after another share one connection, whichever way the answer is framed.
func TestExchangeKeepsTheConnection(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("Authorization")))
		switch r.URL.Query().Get("framing") {
		case "chunked":
			_, _ = w.Write(body[:1])
			w.(http.Flusher).Flush()
			_, _ = w.Write(body[1:])
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = w.Write(body)
		}
	})
	c := &http.Client{Transport: newTransport()}
	for i, framing := range []string{"length", "chunked", "empty", "length", "chunked"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions?framing="+framing, strings.NewReader(`{"n":`+fmt.Sprint(i)+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer sk-test")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"n":` + fmt.Sprint(i) + `}`
		if framing == "empty" {
			want = ""
		}
		if got := readAll(t, resp); got != want {
			t.Errorf("%s: body %q, want %q", framing, got, want)
		}
		if got, want := resp.Header.Get("X-Got"), "POST /v1/chat/completions?framing="+framing+" application/json Bearer sk-test"; got != want {
			t.Errorf("%s: upstream saw %q, want %q", framing, got, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 calls, want 1", n)
	}
}

// TestStreamArrivesAsItIsSent: an event the upstream flushed is readable before the upstream
// has finished answering.
func TestStreamArrivesAsItIsSent(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	c := &http.Client{Transport: newTransport()}
	resp := post(t, c, context.Background(), srv.URL, "{}")
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	resp.Body.Close()
}

// TestCancelWhileWaiting: a caller that gives up while the upstream thinks ends the call at
// once, and the upstream sees its connection go, so it can stop generating.
func TestCancelWhileWaiting(t *testing.T) {
	arrived, gone := make(chan struct{}), make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http watches the connection once it is read
		close(arrived)
		<-r.Context().Done()
		close(gone)
	})
	c := &http.Client{Transport: newTransport()}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("{}"))
	_, err := c.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream never saw the caller go")
	}
}

// TestCancelMidStream: cancelling while a streamed body is being read ends the read with the
// context's error and does not give the connection back.
func TestCancelMidStream(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: one\n\n")
		if r.URL.Path == "/short" {
			return
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	c := &http.Client{Transport: newTransport()}
	ctx, cancel := context.WithCancel(context.Background())
	resp := post(t, c, ctx, srv.URL, "{}")
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "data: one\n\n" {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
	resp.Body.Close()
	readAll(t, post(t, c, context.Background(), srv.URL+"/short", "{}"))
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: a cancelled one is not reused", n)
	}
}

// TestBodyClosedEarlyIsNotReused: a body closed before its end leaves unread bytes on the
// connection, so the connection is closed rather than handed to the next call.
func TestBodyClosedEarlyIsNotReused(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	c := &http.Client{Transport: newTransport()}
	resp := post(t, c, context.Background(), srv.URL, "{}")
	_, _ = resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 10)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Errorf("read after close: %v", err)
	}
	if got := readAll(t, post(t, c, context.Background(), srv.URL, "{}")); len(got) != 1<<20 {
		t.Errorf("second body %d bytes", len(got))
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// rawServer answers each connection with handle, on a plain TCP listener, so a test can
// misbehave in ways net/http's server will not.
func rawServer(t *testing.T, handle func(net.Conn, *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				handle(nc, bufio.NewReader(nc))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestIdleConnectionTheUpstreamClosed: an upstream that closes a keep-alive connection after
// each answer (without saying so) costs nothing: the closed connection is noticed before the
// next request is written to it, and the request goes on a new one, once.
func TestIdleConnectionTheUpstreamClosed(t *testing.T) {
	var requests atomic.Int32
	closed := make(chan struct{}, 3)
	u := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		requests.Add(1)
		fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		nc.Close()
		closed <- struct{}{}
	})
	tr := newTransport()
	c := &http.Client{Transport: tr}
	for i := range 3 {
		if got, want := readAll(t, post(t, c, context.Background(), u, fmt.Sprint(i))), fmt.Sprint(i); got != want {
			t.Fatalf("call %d: %q", i, got)
		}
		<-closed // on loopback the close has reached this side when Close returns
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the upstream got %d requests, want 3", n)
	}
}

// TestNoResendAfterWriting: an upstream that reads a request and drops the connection gets it
// once; the caller gets the error.
func TestNoResendAfterWriting(t *testing.T) {
	var requests atomic.Int32
	u := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if requests.Add(1) > 1 {
				return // drop it
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
		}
	})
	c := &http.Client{Transport: newTransport()}
	readAll(t, post(t, c, context.Background(), u, "{}"))
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"model":"x"}`))
	if _, err := c.Do(req); err == nil {
		t.Fatal("no error from a dropped connection")
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the upstream got %d requests, want 2 (no resend)", n)
	}
}

// TestInterimResponsesAreSkipped: 100 Continue and 103 Early Hints before the answer.
func TestInterimResponsesAreSkipped(t *testing.T) {
	u := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		io.WriteString(nc, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")
	})
	resp := post(t, &http.Client{Transport: newTransport()}, context.Background(), u, "{}")
	if got := readAll(t, resp); resp.StatusCode != http.StatusCreated || got != "done" {
		t.Errorf("%d %q", resp.StatusCode, got)
	}
}

// TestHeadersTooLarge: an answer whose headers pass the bound is an error, not a growing
// buffer.
func TestHeadersTooLarge(t *testing.T) {
	u := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\nContent-Length: 0\r\n\r\n")
	})
	tr := newTransport()
	tr.MaxResponseHeaderBytes = 16 << 10
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if _, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, errHeaderTooLarge) {
		t.Fatalf("error %v, want %v", err, errHeaderTooLarge)
	}
}

// TestConnectionClose: after an answer with Connection: close the connection is not used
// again, even when the upstream leaves it open.
func TestConnectionClose(t *testing.T) {
	var conns atomic.Int32
	u := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		conns.Add(1)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
		}
	})
	c := &http.Client{Transport: newTransport()}
	for range 3 {
		readAll(t, post(t, c, context.Background(), u, "{}"))
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestIdleBounds: no more than MaxIdlePerHost connections are kept, and none past IdleTimeout.
func TestIdleBounds(t *testing.T) {
	release := make(chan struct{})
	var inHandler sync.WaitGroup
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		inHandler.Done()
		<-release
		_, _ = io.WriteString(w, "{}")
	})
	tr := newTransport()
	tr.MaxIdlePerHost = 2
	tr.IdleTimeout = 200 * time.Millisecond
	c := &http.Client{Transport: tr}
	// Four calls at once: four connections, of which two are kept.
	inHandler.Add(4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { readAll(t, post(t, c, context.Background(), srv.URL, "{}")) })
	}
	inHandler.Wait()
	close(release)
	wg.Wait()
	if n := len(tr.idle[hostPort(mustURL(t, srv.URL))]); n != 2 {
		t.Errorf("%d idle connections kept, want 2", n)
	}
	time.Sleep(300 * time.Millisecond)
	inHandler.Add(1)
	readAll(t, post(t, c, context.Background(), srv.URL, "{}"))
	if n := conns.Load(); n != 5 {
		t.Errorf("%d connections, want 5: the kept ones had been idle too long", n)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestHTTPSAndProxyGoToTheFallback: https and a proxied call are the fallback's, which speaks
// TLS and HTTP/2 and knows the proxy.
func TestHTTPSAndProxyGoToTheFallback(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	tr := &Transport{Fallback: tlsSrv.Client().Transport.(*http.Transport)}
	if got := readAll(t, post(t, &http.Client{Transport: tr}, context.Background(), tlsSrv.URL, "{}")); got != "HTTP/2.0" {
		t.Errorf("https answered over %q, want HTTP/2.0 from the fallback", got)
	}

	var proxied atomic.Int32
	proxy, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		_, _ = io.WriteString(w, "via proxy "+r.URL.String())
	})
	tr = &Transport{Fallback: &http.Transport{Proxy: http.ProxyURL(mustURL(t, proxy.URL))}}
	if got := readAll(t, post(t, &http.Client{Transport: tr}, context.Background(), "http://upstream.invalid/v1/x", "{}")); got != "via proxy http://upstream.invalid/v1/x" || proxied.Load() != 1 {
		t.Errorf("proxied call answered %q", got)
	}
}

// TestConcurrentCalls: many callers at once each get their own answer, with connections
// reused between them (run with -race).
func TestConcurrentCalls(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Has("stream") {
			for _, c := range b {
				_, _ = w.Write([]byte{c})
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = w.Write(b)
	})
	c := &http.Client{Transport: newTransport()}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				u := srv.URL
				if i%2 == 1 {
					u += "?stream"
				}
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				if got := readAll(t, post(t, c, context.Background(), u, want)); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			}
		})
	}
	wg.Wait()
	if n := conns.Load(); n > 16 {
		t.Errorf("%d connections for 16 callers", n)
	}
}
