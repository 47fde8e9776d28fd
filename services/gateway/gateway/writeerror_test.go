package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
)

// An error reaches the client with its status, its body in the client's format and, when it
// has one, a Retry-After in whole seconds, rounded up so a client never comes back too early.
func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		format     llm.Format
		err        *apierror.Error
		retryAfter string // "" for no header
		body       string
	}{
		{"anthropic 429 after 1.5s", llm.FormatAnthropic,
			&apierror.Error{Status: 429, Type: apierror.TypeRateLimit, Message: "slow down", RetryAfter: 1500 * time.Millisecond},
			"2", `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`},
		{"chat 503 after 3s", llm.FormatChat,
			&apierror.Error{Status: 503, Type: apierror.TypeOverloaded, Message: "overloaded", RetryAfter: 3 * time.Second},
			"3", `{"error":{"message":"overloaded","type":"overloaded_error","param":null,"code":"overloaded_error"}}`},
		{"responses, less than a second is one", llm.FormatResponses,
			&apierror.Error{Status: 503, Type: apierror.TypeOverloaded, Message: "busy", RetryAfter: time.Millisecond},
			"1", `{"error":{"message":"busy","type":"overloaded_error","param":null,"code":"overloaded_error"}}`},
		{"no retry after, no header", llm.FormatAnthropic, apierror.New(http.StatusNotFound, "no such model"),
			"", `{"type":"error","error":{"type":"not_found_error","message":"no such model"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, tc.format, tc.err)
			res := rec.Result()
			if res.StatusCode != tc.err.Status || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
			if got, ok := res.Header["Retry-After"]; tc.retryAfter == "" && ok || tc.retryAfter != "" && (len(got) != 1 || got[0] != tc.retryAfter) {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := rec.Body.String(); got != tc.body {
				t.Errorf("body\n %s\nwant\n %s", got, tc.body)
			}
		})
	}
}
