package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lynkr/lynkr/pkg/apierror"
)

// finalError marks an error that must not be retried whatever it wraps.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// Final marks err as not to be retried: the call got far enough that trying again would do
// harm, typically because the first streamed byte already reached the client. Its message
// and what it wraps are unchanged. Final(nil) is nil.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &finalError{err: err}
}

// IsFinal reports whether err was marked with Final.
func IsFinal(err error) bool {
	var f *finalError
	return errors.As(err, &f)
}

// TransientStatus reports whether an upstream HTTP status may go away if the call is tried
// again: 5xx (but 501 Not Implemented: the provider lacks the endpoint), 429 Too Many Requests
// and 408 Request Timeout. Every other 4xx is the request's own problem.
func TransientStatus(status int) bool {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return true
	case status == http.StatusNotImplemented:
		return false
	}
	return status >= 500 && status <= 599
}

// Retryable reports whether a failed call to a provider may be tried again:
//
//   - never an error marked Final, a client that went away (context.Canceled) or an
//     *apierror.Error whose status is not TransientStatus (4xx, auth, validation);
//   - an *apierror.Error with a TransientStatus (5xx, 429, 408);
//   - a timeout: context.DeadlineExceeded (of an attempt; Do stops at its own deadline) or a
//     net.Error whose Timeout() is true;
//   - a connection error: refused, reset, broken pipe, aborted, a DNS failure other than "no
//     such host", or a connection closed before the answer (io.EOF, io.ErrUnexpectedEOF).
//
// Anything else is not retried: an error nobody classified is more likely a bug than a
// passing fault.
func Retryable(err error) bool {
	if err == nil || IsFinal(err) || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return TransientStatus(ae.Status)
	}
	return Timeout(err) || ConnectionError(err)
}

// Timeout reports whether err is a timeout.
func Timeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ConnectionError reports whether err is a failure to reach the provider or a connection lost
// before its answer.
func ConnectionError(err error) bool {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// RetryAfter is how long the provider asked us to wait: the RetryAfter of an *apierror.Error
// in err, or 0.
func RetryAfter(err error) time.Duration {
	var ae *apierror.Error
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return ae.RetryAfter
	}
	return 0
}

// ParseRetryAfter reads how long an upstream answer asks to wait: OpenAI's retry-after-ms,
// else Retry-After in seconds or as an HTTP date (relative to now). 0 when absent or
// unreadable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 1e9 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
