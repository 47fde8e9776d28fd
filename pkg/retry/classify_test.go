package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/retry"
)

// closedAddr is a TCP address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestRetryable(t *testing.T) {
	// A server that cuts the connection before answering.
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer drop.Close()
	// A server that answers too slowly.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	refused := get(context.Background(), http.DefaultClient, "http://"+closedAddr(t))
	dropped := get(context.Background(), drop.Client(), drop.URL)
	clientTimeout := get(context.Background(), &http.Client{Timeout: 50 * time.Millisecond}, slow.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	deadline := get(ctx, slow.Client(), slow.URL)
	cancel()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	canceled := get(ctx, slow.Client(), slow.URL)

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", refused, true},
		{"connection dropped", dropped, true},
		{"client timeout", clientTimeout, true},
		{"attempt deadline", deadline, true},
		{"client went away", canceled, false},
		{"bare deadline", context.DeadlineExceeded, true},
		{"bare cancel", context.Canceled, false},
		{"no such host", &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}, false},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "api.example", IsTimeout: true}, true},
		{"500", apierror.New(500, "x"), true},
		{"502 wrapped", fmt.Errorf("call: %w", apierror.New(502, "x")), true},
		{"503", apierror.New(503, "x"), true},
		{"529 overloaded", apierror.New(529, "x"), true},
		{"429", apierror.New(429, "x"), true},
		{"408", apierror.New(408, "x"), true},
		{"501", apierror.New(501, "x"), false},
		{"400", apierror.Invalid([]string{"bad"}), false},
		{"401", apierror.New(401, "x"), false},
		{"403", apierror.New(403, "x"), false},
		{"404", apierror.New(404, "x"), false},
		{"final 500", retry.Final(apierror.New(500, "x")), false},
		{"final connection error", fmt.Errorf("stream: %w", retry.Final(dropped)), false},
		{"unknown", errors.New("something else"), false},
	} {
		if tc.err == nil && tc.name != "nil" {
			t.Errorf("%s: the call did not fail", tc.name)
			continue
		}
		if got := retry.Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	e := apierror.New(429, "slow down")
	e.RetryAfter = 3 * time.Second
	if got := retry.RetryAfter(fmt.Errorf("wrapped: %w", e)); got != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", got)
	}
	if got := retry.RetryAfter(errors.New("x")); got != 0 {
		t.Errorf("RetryAfter of a plain error = %v, want 0", got)
	}

	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header map[string]string
		want   time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{map[string]string{"Retry-After": "-3"}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "1"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After-Ms": "bad", "Retry-After": "1"}, time.Second},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := retry.ParseRetryAfter(h, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%v) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
