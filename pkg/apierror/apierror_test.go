package apierror_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// TypeFor gives each status the type the Anthropic API answers it with; clients (Claude Code,
// the SDKs) decide on it whether to retry.
func TestTypeFor(t *testing.T) {
	for status, want := range map[int]string{
		400: "invalid_request_error",
		401: "authentication_error",
		403: "permission_error",
		404: "not_found_error",
		408: "timeout_error",
		409: "invalid_request_error",
		413: "request_too_large",
		422: "invalid_request_error",
		429: "rate_limit_error",
		499: "invalid_request_error",
		500: "api_error",
		501: "api_error",
		502: "api_error",
		503: "overloaded_error",
		504: "timeout_error",
		529: "overloaded_error",
		599: "api_error",
	} {
		if got := apierror.TypeFor(status); got != want {
			t.Errorf("TypeFor(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestNewAndInvalid(t *testing.T) {
	e := apierror.New(http.StatusTooManyRequests, "slow down, %s", "tenant")
	if e.Status != 429 || e.Type != apierror.TypeRateLimit || e.Message != "slow down, tenant" || e.Error() != "slow down, tenant" {
		t.Errorf("New = %+v", e)
	}
	inv := apierror.Invalid([]string{"messages: required", "max_tokens: must be positive"})
	if inv.Status != 400 || inv.Type != apierror.TypeInvalidRequest {
		t.Errorf("Invalid = %+v", inv)
	}
	if got, want := inv.Error(), "Invalid request: messages: required; max_tokens: must be positive"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// As finds an *Error however deeply wrapped, makes a malformed input a 400 and anything else
// a 500, keeping the words of the error.
func TestAs(t *testing.T) {
	orig := apierror.New(http.StatusNotFound, "no such model")
	if got := apierror.As(fmt.Errorf("route: %w", fmt.Errorf("lookup: %w", orig))); got != orig {
		t.Errorf("As of a wrapped *Error = %+v, want the same *Error", got)
	}
	inv := apierror.As(fmt.Errorf("%w: messages[0].content: want a string or an array", llm.ErrInvalid))
	if inv.Status != 400 || inv.Type != apierror.TypeInvalidRequest || !strings.Contains(inv.Message, "messages[0].content") {
		t.Errorf("As of an ErrInvalid = %+v", inv)
	}
	other := apierror.As(io.ErrUnexpectedEOF)
	if other.Status != 500 || other.Type != apierror.TypeAPI || other.Message != io.ErrUnexpectedEOF.Error() {
		t.Errorf("As of another error = %+v", other)
	}
}

// FromUpstream reads the error answers of every upstream lynkr speaks to, keeps the upstream's
// own words and the type when it is one of the API's, and names the provider.
func TestFromUpstream(t *testing.T) {
	for _, tc := range []struct {
		name, provider string
		status         int
		body           string
		wantType       string
		wantMessage    string
	}{
		{"anthropic", "anthropic", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			"overloaded_error", "anthropic: Overloaded"},
		{"anthropic type kept over the status's", "anthropic", 400, `{"type":"error","error":{"type":"permission_error","message":"no"}}`,
			"permission_error", "anthropic: no"},
		{"openai type unknown to the API: the status's", "openai", 429,
			`{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			"rate_limit_error", "openai: Rate limit reached"},
		{"openai invalid request", "openai", 400, `{"error":{"message":"bad model","type":"invalid_request_error"}}`,
			"invalid_request_error", "openai: bad model"},
		{"bedrock", "bedrock", 403, `{"message":"The security token included in the request is invalid."}`,
			"permission_error", "bedrock: The security token included in the request is invalid."},
		{"ollama", "ollama", 404, `{"error":"model \"llama9\" not found, try pulling it first"}`,
			"not_found_error", `ollama: model "llama9" not found, try pulling it first`},
		{"plain text, trimmed", "vllm", 502, "  \n<html>Bad Gateway</html>\n", "api_error", "vllm: <html>Bad Gateway</html>"},
		{"empty body: the status text", "openai", 503, "", "overloaded_error", "openai: Service Unavailable"},
		{"empty message: the status text", "openai", 500, `{"error":{"message":""}}`, "api_error", "openai: Internal Server Error"},
		{"no provider", "", 401, `{"error":{"message":"invalid key"}}`, "authentication_error", "invalid key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := apierror.FromUpstream(tc.provider, tc.status, []byte(tc.body))
			if e.Status != tc.status || e.Type != tc.wantType || e.Message != tc.wantMessage {
				t.Errorf("FromUpstream = %d %q %q, want %d %q %q", e.Status, e.Type, e.Message, tc.status, tc.wantType, tc.wantMessage)
			}
		})
	}
}

// A long plain-text error page is cut, so a client does not receive a proxy's whole page.
func TestFromUpstreamCutsLongText(t *testing.T) {
	e := apierror.FromUpstream("p", 502, []byte(strings.Repeat("x", 2000)))
	if want := "p: " + strings.Repeat("x", 512) + "…"; e.Message != want {
		t.Errorf("message of %d bytes, want %d", len(e.Message), len(want))
	}
	if !utf8.ValidString(e.Message) {
		t.Error("message is not UTF-8")
	}
}

func TestNamed(t *testing.T) {
	e := apierror.New(http.StatusBadRequest, "bad tool schema")
	n := apierror.Named("openai", e)
	if n.Message != "openai: bad tool schema" || n.Status != 400 || n.Type != apierror.TypeInvalidRequest {
		t.Errorf("Named = %+v", n)
	}
	if e.Message != "bad tool schema" {
		t.Errorf("Named changed its argument: %q", e.Message)
	}
	if again := apierror.Named("openai", n); again != n {
		t.Errorf("named twice: %q", again.Message)
	}
	if other := apierror.Named("azure", n); other.Message != "azure: openai: bad tool schema" {
		t.Errorf("named by another provider: %q", other.Message)
	}
}

// The bodies are what each API's own clients parse: byte for byte, in the order the APIs
// send their members.
func TestBody(t *testing.T) {
	limited := &apierror.Error{Status: 429, Type: apierror.TypeRateLimit, Message: "slow down", RetryAfter: 3 * time.Second}
	invalid := apierror.Invalid([]string{"a: required", "b: <bad> & worse"})
	for _, tc := range []struct {
		name   string
		format llm.Format
		err    *apierror.Error
		want   string
	}{
		{"anthropic", llm.FormatAnthropic, limited,
			`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`},
		{"chat", llm.FormatChat, limited,
			`{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_error"}}`},
		{"responses", llm.FormatResponses, limited,
			`{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_error"}}`},
		{"anthropic details", llm.FormatAnthropic, invalid,
			`{"type":"error","error":{"type":"invalid_request_error","message":"Invalid request: a: required; b: \u003cbad\u003e \u0026 worse","details":["a: required","b: \u003cbad\u003e \u0026 worse"]}}`},
		{"chat details", llm.FormatChat, invalid,
			`{"error":{"message":"Invalid request: a: required; b: \u003cbad\u003e \u0026 worse","type":"invalid_request_error","param":null,"code":"invalid_request_error","details":["a: required","b: \u003cbad\u003e \u0026 worse"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := apierror.Body(tc.format, tc.err)
			if string(got) != tc.want {
				t.Errorf("Body =\n %s\nwant\n %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Error("not JSON")
			}
		})
	}
}

// The event that ends a stream is each format's own: Anthropic's "error" event, the
// Responses API's "error" event, and on Chat Completions a data-only chunk holding the error.
func TestEvent(t *testing.T) {
	e := apierror.New(http.StatusServiceUnavailable, "provider openai is unavailable")
	for _, tc := range []struct {
		format llm.Format
		want   string
	}{
		{llm.FormatAnthropic, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"provider openai is unavailable\"}}\n\n"},
		{llm.FormatResponses, "event: error\ndata: {\"type\":\"error\",\"code\":\"overloaded_error\",\"message\":\"provider openai is unavailable\",\"param\":null}\n\n"},
		{llm.FormatChat, "data: {\"error\":{\"message\":\"provider openai is unavailable\",\"type\":\"overloaded_error\",\"param\":null,\"code\":\"overloaded_error\"}}\n\n"},
	} {
		if got := string(sse.Encode(apierror.Event(tc.format, e))); got != tc.want {
			t.Errorf("%s event =\n %q\nwant\n %q", tc.format, got, tc.want)
		}
	}
}

// A long text is cut at a character's start, never inside one.
func TestFromUpstreamCutsBetweenCharacters(t *testing.T) {
	e := apierror.FromUpstream("p", 502, []byte("a"+strings.Repeat("é", 600)))
	if !utf8.ValidString(e.Message) || strings.ContainsRune(e.Message, utf8.RuneError) {
		t.Errorf("the cut broke a character: %q", e.Message[len(e.Message)-8:])
	}
	if want := "p: a" + strings.Repeat("é", 255) + "…"; e.Message != want {
		t.Errorf("message of %d bytes, want %d", len(e.Message), len(want))
	}
}
