package fakeupstream

import (
	"math/rand/v2"
	"net/http"
	"strings"
)

// FaultKind is how a Fault fails a call.
type FaultKind uint8

const (
	// FailStatus answers Status with the vendor's error body (or Body).
	FailStatus FaultKind = iota
	// FailHang holds the call until the client goes away (or the Handler closes, which cuts
	// the connection): before the status line, or, with AfterChunks, after that many stream
	// events (a non-stream body stops halfway).
	FailHang
	// FailDrop cuts the connection: before any response, or, with AfterChunks, after that
	// many stream events (a non-stream body is cut halfway). It panics with
	// http.ErrAbortHandler, as net/http expects; a Handler called outside an http.Server
	// passes the panic on.
	FailDrop
	// FailStreamError sends, after AfterChunks stream events, the vendor's in-stream error
	// (Anthropic's "event: error", Chat Completions' data: {"error":…}, Responses' "error"
	// event followed by the terminal response.failed) and ends the stream. A non-stream call
	// gets FailStatus.
	FailStreamError
)

// Fault describes a failed call. The zero Fault answers 500 with the vendor's error body.
type Fault struct {
	Kind FaultKind
	// Status is the HTTP status of FailStatus; 0 means 500 (529 for Anthropic's in-stream
	// overloaded_error).
	Status int
	// Type, Code and Message override the rendered error body's error.type, error.code
	// (OpenAI only) and error.message; Body replaces the whole body (on a Responses stream,
	// the data of the one "error" event sent).
	Type, Code, Message string
	Body                string
	// RetryAfter, if set, is sent as the retry-after header.
	RetryAfter string
	// Header holds extra response headers (e.g. x-should-retry).
	Header http.Header
	// AfterChunks is how many stream events FailHang, FailDrop and FailStreamError let
	// through first.
	AfterChunks int
	// Path limits the fault to calls whose URL path contains it (e.g. "/messages"). Without
	// one, a fault applies to every call but the model list, which workers ask on their own.
	Path string
}

// matches reports whether the fault applies to a call to ep at path: every call but the model
// list when it names no path, else the calls whose path contains its own.
func (f *Fault) matches(ep Endpoint, path string) bool {
	if f.Path == "" {
		return ep != Models
	}
	return strings.Contains(path, f.Path)
}

// status resolves the HTTP status of a failed answer in family fam.
func (f *Fault) status(fam family) int {
	switch {
	case f.Status != 0:
		return f.Status
	case f.Kind == FailStreamError && fam == anthropicFamily:
		return 529
	}
	return 500
}

// errorBody renders the error body of f for the given status and family.
func (f *Fault) errorBody(fam family, status int, requestID string) []byte {
	if f.Body != "" {
		return []byte(f.Body)
	}
	if fam == anthropicFamily {
		return anthropicError(status, f, requestID)
	}
	return openAIError(status, f)
}

// streamErrorEvent renders the in-stream error event of f.
func (f *Fault) streamErrorEvent(fam family) []byte {
	status := f.status(fam)
	if fam == anthropicFamily {
		if f.Body != "" {
			return sseEvent("error", []byte(f.Body))
		}
		return sseEvent("error", anthropicError(status, f, ""))
	}
	if f.Body != "" {
		return sseData([]byte(f.Body))
	}
	typ, code, msg := "server_error", "", "The server had an error while processing your request. Sorry about that!"
	return sseData(openAIErrorObject(or(f.Type, typ), or(f.Code, code), or(f.Message, msg)))
}

// queuedFault is a fault for the next n matching calls.
type queuedFault struct {
	fault Fault
	n     int
}

// faultRate fails a share of matching calls, drawn from a seeded generator.
type faultRate struct {
	fault   Fault
	percent float64
	rng     *rand.Rand
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
