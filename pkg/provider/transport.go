package provider

import (
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/lynkr/lynkr/pkg/http1"
)

// NewTransport returns the transport for upstream calls, tuned for many concurrent,
// long-lived calls to few hosts:
//   - a plain-http upstream (a local model server, a sidecar) gets http1's transport, which
//     does each exchange on the calling goroutine; https and proxied calls go through Go's
//     http.Transport (its Fallback);
//   - a large keep-alive pool per host (256 idle connections; Go's default of 2 would open and
//     close a TLS connection for nearly every call under load), HTTP/2 where the upstream
//     offers it;
//   - bounded connection set-up (10 s to dial, 10 s for the TLS handshake), but no bound on
//     the wait for response headers: a model may think for minutes before its first byte, and
//     the call's context carries the deadline;
//   - no retries: the worker owns the one retry loop. (Go resends a request only when not one
//     byte of it was written to a stale keep-alive connection, which the upstream never saw;
//     http1 checks an idle connection before writing to it.)
//
// The proxy comes from HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or their lower-case forms), read
// through lookup like every other setting.
func NewTransport(lookup func(string) (string, bool)) *http1.Transport {
	e := env{lookup: lookup}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		WriteBufferSize:        64 << 10,
		ReadBufferSize:         64 << 10,
	}
	cfg := httpproxy.Config{
		HTTPProxy:  e.first("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: e.first("HTTPS_PROXY", "https_proxy"),
		NoProxy:    e.first("NO_PROXY", "no_proxy"),
	}
	if cfg.HTTPProxy != "" || cfg.HTTPSProxy != "" {
		proxy := cfg.ProxyFunc()
		t.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	}
	return &http1.Transport{
		Fallback:               t,
		Dial:                   dialer.DialContext,
		MaxIdlePerHost:         t.MaxIdleConnsPerHost,
		IdleTimeout:            t.IdleConnTimeout,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
		ReadBufferSize:         t.ReadBufferSize,
		WriteBufferSize:        t.WriteBufferSize,
	}
}
