package provider

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestTransportProxy(t *testing.T) {
	tr := NewTransport(mapLookup(map[string]string{
		"HTTPS_PROXY": "http://proxy.corp:3128",
		"no_proxy":    "internal.corp",
	}))
	tests := []struct{ url, proxy string }{
		{"https://api.openai.com/v1/chat/completions", "http://proxy.corp:3128"},
		{"https://llm.internal.corp/v1/messages", ""},
		{"http://localhost:11434/v1/chat/completions", ""}, // never through a proxy
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, tt.url, nil)
		u, err := tr.Fallback.Proxy(req)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if u != nil {
			got = u.String()
		}
		if got != tt.proxy {
			t.Errorf("%s: proxy %q, want %q", tt.url, got, tt.proxy)
		}
	}
	if NewTransport(mapLookup(nil)).Fallback.Proxy != nil {
		t.Error("a proxy without HTTP(S)_PROXY")
	}
}

func TestTransportPool(t *testing.T) {
	h1 := NewTransport(mapLookup(nil))
	tr := h1.Fallback
	if tr.MaxIdleConnsPerHost < 100 || tr.MaxIdleConns < tr.MaxIdleConnsPerHost || tr.IdleConnTimeout == 0 || tr.ResponseHeaderTimeout != 0 {
		t.Errorf("pool %d/%d idle %v header timeout %v", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tr.IdleConnTimeout, tr.ResponseHeaderTimeout)
	}
	// Plain-http upstreams get the same pool and bounds as the others.
	if h1.MaxIdlePerHost != tr.MaxIdleConnsPerHost || h1.IdleTimeout != tr.IdleConnTimeout ||
		h1.MaxResponseHeaderBytes != tr.MaxResponseHeaderBytes || h1.Dial == nil {
		t.Errorf("http1 pool %d idle %v headers %d, fallback %d %v %d", h1.MaxIdlePerHost, h1.IdleTimeout,
			h1.MaxResponseHeaderBytes, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.MaxResponseHeaderBytes)
	}
}

// TestTransportDoesNotRetry: an upstream that takes a request and drops the connection gets
// it once; the worker, not the transport, decides about trying again. The dropped call runs
// on a reused keep-alive connection, the case in which Go resends a replayable request.
func TestTransportDoesNotRetry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			_, _ = w.Write([]byte("{}"))
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	defer srv.Close()
	client := &http.Client{Transport: NewTransport(mapLookup(nil))}
	resp, err := client.Post(srv.URL, contentJSON, bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = bufio.NewReader(resp.Body).WriteTo(&bytes.Buffer{})
	resp.Body.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, bytes.NewReader([]byte(`{"model":"x"}`)))
	if _, err := client.Do(req); err == nil {
		t.Fatal("no error from a dropped connection")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the upstream got %d calls, want 2 (no resend)", n)
	}
}

// TestTransportKeepAlive: sequential calls to one upstream share one connection.
func TestTransportKeepAlive(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("{}"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: NewTransport(mapLookup(nil))}
	for range 5 {
		resp, err := client.Post(srv.URL, contentJSON, bytes.NewReader([]byte("{}")))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = bufio.NewReader(resp.Body).WriteTo(&bytes.Buffer{})
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 calls, want 1", n)
	}
}
