// Package http1 is an HTTP/1.1 client transport for plain-text upstreams (a local Ollama,
// llama.cpp, vLLM, a sidecar) that does each exchange on the caller's goroutine.
//
// net/http's Transport gives every connection a reading and a writing goroutine and hands each
// request and response between them and the caller over channels: three goroutines woken per
// call, each wake a hand-off between cores under load. This transport writes the request and
// reads the response where RoundTrip and Body.Read are called, with net/http's own request
// writer and response parser, so the wire format is Go's; lynkr's CPU per proxied request fell
// by a tenth with it. The context still ends the call at once: it sets a past deadline on the
// connection, which unblocks any read or write. A connection is reused only after its answer
// was read to the end, and only if the upstream has not closed it meanwhile.
//
// Everything else (https, where HTTP/2 matters; a request through a proxy; a protocol upgrade)
// goes to the fallback transport.
package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is an http.RoundTripper. Its zero value is not usable: fill in Fallback.
type Transport struct {
	// Fallback serves the requests this transport does not: any scheme but http, and any
	// request its Proxy sends through a proxy.
	Fallback *http.Transport
	// Dial opens a connection; net.Dialer's DialContext with a 10 s timeout when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdlePerHost bounds the keep-alive connections kept per host (default 256).
	MaxIdlePerHost int
	// IdleTimeout is how long an unused keep-alive connection is kept (default 90 s).
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds a response's status line and headers (default 1 MB).
	MaxResponseHeaderBytes int64
	// ReadBufferSize and WriteBufferSize size each connection's buffers (default 64 KB).
	ReadBufferSize, WriteBufferSize int

	mu   sync.Mutex
	idle map[string][]*conn // by host:port, most recently used last
}

// errHeaderTooLarge ends a response whose headers exceed MaxResponseHeaderBytes.
var errHeaderTooLarge = errors.New("http1: response headers too large")

// aLongTimeAgo is the deadline that unblocks a connection's pending read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip implements http.RoundTripper. It never sends a request twice (an idle connection
// the upstream closed is found before the request is written to it): the worker owns the one
// retry loop.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.serves(req) {
		return t.Fallback.RoundTrip(req)
	}
	ctx := req.Context()
	c, err := t.get(ctx, hostPort(req.URL))
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := c.exchange(ctx, t, req)
	if err != nil {
		c.close()
		closeBody(req)
		return nil, err
	}
	return resp, nil
}

// CloseIdleConnections closes the connections kept for reuse, here and in the fallback.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.close()
		}
	}
	t.Fallback.CloseIdleConnections()
}

// serves reports whether the request is one for this transport rather than the fallback.
func (t *Transport) serves(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Header.Get("Upgrade") != "" {
		return false
	}
	if t.Fallback.Proxy != nil {
		if u, err := t.Fallback.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

// get takes the most recently used idle connection to addr that the upstream has not closed,
// or dials a new one. Checking before the request is written is what lets a failure after it
// be final: the upstream may have started on the request, so it is not sent again.
func (t *Transport) get(ctx context.Context, addr string) (*conn, error) {
	for {
		c := t.take(addr)
		if c == nil {
			return t.dial(ctx, addr)
		}
		if peerOpen(c.nc) {
			return c, nil
		}
		c.close()
	}
}

// take removes the most recently used idle connection to addr from the idle set.
func (t *Transport) take(addr string) *conn {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := t.idle[addr]
	for len(cs) > 0 {
		c := cs[len(cs)-1]
		cs = cs[:len(cs)-1]
		if now.Sub(c.idleSince) < t.idleTimeout() {
			t.idle[addr] = cs
			return c
		}
		c.close() // idle too long: the upstream has likely closed it too
	}
	delete(t.idle, addr)
	return nil
}

// put keeps c for reuse, dropping connections that have been idle too long.
func (t *Transport) put(c *conn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	cs := t.idle[c.addr]
	stale := 0
	for stale < len(cs) && c.idleSince.Sub(cs[stale].idleSince) >= t.idleTimeout() {
		cs[stale].close()
		stale++
	}
	cs = cs[stale:]
	if len(cs) >= t.maxIdlePerHost() {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle[c.addr] = append(cs, c)
	t.mu.Unlock()
}

func (t *Transport) dial(ctx context.Context, addr string) (*conn, error) {
	dial := t.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, addr: addr, lr: limitedConn{r: nc}}
	c.br = bufio.NewReaderSize(&c.lr, bufSize(t.ReadBufferSize))
	c.bw = bufio.NewWriterSize(nc, bufSize(t.WriteBufferSize))
	return c, nil
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return 90 * time.Second
}

func (t *Transport) maxIdlePerHost() int {
	if t.MaxIdlePerHost > 0 {
		return t.MaxIdlePerHost
	}
	return 256
}

func (t *Transport) maxResponseHeaderBytes() int64 {
	if t.MaxResponseHeaderBytes > 0 {
		return t.MaxResponseHeaderBytes
	}
	return 1 << 20
}

func bufSize(n int) int {
	if n > 0 {
		return n
	}
	return 64 << 10
}

// conn is one keep-alive connection to an upstream.
type conn struct {
	nc        net.Conn
	addr      string
	br        *bufio.Reader // reads through lr
	bw        *bufio.Writer
	lr        limitedConn
	idleSince time.Time
}

// limitedConn reads from the connection at most n bytes while a response's headers are read,
// without a limit while its body is.
type limitedConn struct {
	r net.Conn
	n int64
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// exchange writes req and reads the response's headers. The response's body reads from the
// connection, which goes back to t's idle set once the body has been read to its end.
func (c *conn) exchange(ctx context.Context, t *Transport, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		if !stop() || ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := req.Write(c.bw); err != nil {
		return fail(fmt.Errorf("write request: %w", err))
	}
	if err := c.bw.Flush(); err != nil {
		return fail(fmt.Errorf("write request: %w", err))
	}
	c.lr.n = t.maxResponseHeaderBytes()
	resp, err := http.ReadResponse(c.br, req)
	// 100 Continue and 103 Early Hints come before the answer; as net/http, at most five.
	for interim := 0; err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200; interim++ {
		if resp.StatusCode == http.StatusSwitchingProtocols || interim == 5 {
			return fail(fmt.Errorf("http1: unexpected interim response %s", resp.Status))
		}
		resp, err = http.ReadResponse(c.br, req)
	}
	if err != nil {
		return fail(fmt.Errorf("read response: %w", err))
	}
	c.lr.n = math.MaxInt64
	b := &body{rc: resp.Body, c: c, t: t, ctx: ctx, stop: stop, keep: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.eof.Store(true) // nothing to read: the connection is free once the body is closed
	}
	resp.Body = b
	return resp, nil
}

func (c *conn) close() { c.nc.Close() }

// body is a response body on a connection. Read to io.EOF, it gives the connection back for
// the next exchange; closed before that, it closes the connection.
type body struct {
	rc   io.ReadCloser
	c    *conn
	t    *Transport
	ctx  context.Context
	stop func() bool
	keep bool // the response allows the connection to be reused
	eof  atomic.Bool
	done atomic.Bool // the connection was given back or closed
}

func (b *body) Read(p []byte) (int, error) {
	if b.done.Load() && !b.eof.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof.Store(true)
		b.release()
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err()
	}
	return n, err
}

func (b *body) Close() error {
	b.release()
	return nil
}

// release gives the connection back when the body was read to its end and nothing else
// arrived, and closes it otherwise. Only the first call does anything.
func (b *body) release() {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	if b.stop() && b.eof.Load() && b.keep && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// hostPort is the address to dial for u: its host with the scheme's port when none is given.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
