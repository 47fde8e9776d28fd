// Package apierror is the one place where an error becomes what a client sees: an HTTP status
// and a body in the client's own API format, or an error event in its stream.
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// Error types, as the Anthropic API names them. OpenAI-format clients get the same words.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeTooLarge       = "request_too_large"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
	TypeOverloaded     = "overloaded_error"
	TypeTimeout        = "timeout_error"
)

// Error is an error on its way to a client.
type Error struct {
	Status     int      // HTTP status for the client
	Type       string   // one of the Type constants
	Message    string   // one sentence a person can act on
	Details    []string // every problem found, for invalid requests
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Details) > 0 {
		return e.Message + ": " + strings.Join(e.Details, "; ")
	}
	return e.Message
}

// New returns an Error with the status's default type.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Type: TypeFor(status), Message: fmt.Sprintf(format, args...)}
}

// Invalid returns the 400 that lists every problem of a request.
func Invalid(details []string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: "Invalid request", Details: details}
}

// TypeFor is the error type that goes with an HTTP status.
func TypeFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return TypeAuthentication
	case status == http.StatusForbidden:
		return TypePermission
	case status == http.StatusNotFound:
		return TypeNotFound
	case status == http.StatusRequestEntityTooLarge:
		return TypeTooLarge
	case status == http.StatusTooManyRequests:
		return TypeRateLimit
	case status == http.StatusServiceUnavailable || status == 529:
		return TypeOverloaded
	case status == http.StatusGatewayTimeout || status == http.StatusRequestTimeout:
		return TypeTimeout
	case status >= 500:
		return TypeAPI
	default:
		return TypeInvalidRequest
	}
}

// As returns err as an *Error: the one it wraps, or a 500 api_error for anything else.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, llm.ErrInvalid) {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeAPI, Message: err.Error()}
}

// FromUpstream reads an upstream's error answer, in any of the formats lynkr speaks, into an
// Error for the client. The provider name goes into the message so the operator can tell
// whose error it was; the upstream's own words are kept. Code that does not know the provider
// (a format converter) passes "", and the worker names it (see Named).
func FromUpstream(provider string, status int, body []byte) *Error {
	msg, typ := "", ""
	switch {
	case gjson.GetBytes(body, "error.message").Exists(): // Anthropic and OpenAI
		msg = gjson.GetBytes(body, "error.message").String()
		typ = gjson.GetBytes(body, "error.type").String()
	case gjson.GetBytes(body, "message").Exists(): // Bedrock and many OpenAI-compatible servers
		msg = gjson.GetBytes(body, "message").String()
	case gjson.GetBytes(body, "error").Type == gjson.String: // Ollama, llama.cpp
		msg = gjson.GetBytes(body, "error").String()
	default:
		msg = strings.TrimSpace(string(body))
		if len(msg) > 512 {
			cut := 512
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut-- // not inside a character
			}
			msg = msg[:cut] + "…"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if !knownType(typ) {
		typ = TypeFor(status)
	}
	if provider != "" {
		msg = provider + ": " + msg
	}
	return &Error{Status: status, Type: typ, Message: msg}
}

// Named returns e with its message prefixed by the provider's name, unless it already is.
func Named(provider string, e *Error) *Error {
	if strings.HasPrefix(e.Message, provider+": ") {
		return e
	}
	n := *e
	n.Message = provider + ": " + e.Message
	return &n
}

func knownType(t string) bool {
	switch t {
	case TypeInvalidRequest, TypeAuthentication, TypePermission, TypeNotFound, TypeTooLarge,
		TypeRateLimit, TypeAPI, TypeOverloaded, TypeTimeout:
		return true
	}
	return false
}

// Body renders e as a response body in format f.
//
// Anthropic: {"type":"error","error":{"type":…,"message":…}}
// OpenAI (chat, responses, embeddings): {"error":{"message":…,"type":…,"param":null,"code":…}}
// Every problem of an invalid request is listed in "details" beside the message.
func Body(f llm.Format, e *Error) []byte {
	var v any
	switch f {
	case llm.FormatAnthropic:
		v = anthropicError{Type: "error", Error: anthropicDetail{Type: e.Type, Message: e.Error(), Details: e.Details}}
	default:
		v = openAIError{Error: openAIDetail{Message: e.Error(), Type: e.Type, Code: codeFor(e), Details: e.Details}}
	}
	b, _ := json.Marshal(v) // plain structs of strings cannot fail to marshal
	return b
}

// Event renders e as the stream event that ends a stream in format f.
func Event(f llm.Format, e *Error) sse.Event {
	switch f {
	case llm.FormatAnthropic:
		return sse.Event{Event: "error", Data: Body(f, e)}
	case llm.FormatResponses:
		b, _ := json.Marshal(responsesError{Type: "error", Code: codeFor(e), Message: e.Error()})
		return sse.Event{Event: "error", Data: b}
	default:
		return sse.Event{Data: Body(f, e)}
	}
}

func codeFor(e *Error) *string {
	c := e.Type
	return &c
}

type anthropicError struct {
	Type  string          `json:"type"`
	Error anthropicDetail `json:"error"`
}

type anthropicDetail struct {
	Type    string   `json:"type"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty"`
}

type openAIError struct {
	Error openAIDetail `json:"error"`
}

type openAIDetail struct {
	Message string   `json:"message"`
	Type    string   `json:"type"`
	Param   *string  `json:"param"`
	Code    *string  `json:"code"`
	Details []string `json:"details,omitempty"`
}

type responsesError struct {
	Type    string  `json:"type"`
	Code    *string `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}
