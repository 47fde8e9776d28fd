package fakeupstream

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that allocates nothing, so that allocation counts are the
// Handler's own.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Flush()                      {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// serveLoop returns a func that serves one call of body to path per invocation.
func serveLoop(t testing.TB, h *Handler, path, body string) (serve func(), w *discardWriter) {
	r := httptest.NewRequest(http.MethodPost, path, nil)
	rb := new(rewindBody)
	r.Body = rb
	w = &discardWriter{header: http.Header{}}
	raw := []byte(body)
	return func() {
		rb.Reset(raw)
		clear(w.header)
		w.n, w.status = 0, 0
		h.ServeHTTP(w, r)
	}, w
}

var benchCases = []struct{ name, path, body string }{
	{"openai-stream", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`},
	{"openai-json", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`},
	{"anthropic-stream", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hello"}]}`},
	{"anthropic-json", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"hello"}]}`},
	{"responses-stream", "/v1/responses", `{"model":"gpt-4o","stream":true,"store":false,"include":["reasoning.encrypted_content"],"input":[{"role":"user","content":"hello"}]}`},
	{"responses-json", "/v1/responses", `{"model":"gpt-4o","input":"hello"}`},
}

func benchReply() Reply {
	return Reply{Text: string(bytes.Repeat([]byte("lorem ipsum "), 50)), Chunks: 50}
}

// TestServeHTTPAllocs holds the benchmark path to its promise: a pre-rendered answer costs
// the Handler only its request id.
func TestServeHTTPAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	h := NewHandler(WithReply(benchReply()), WithRecording(false))
	for _, bc := range benchCases {
		serve, w := serveLoop(t, h, bc.path, bc.body)
		serve() // render and cache
		allocs := testing.AllocsPerRun(200, serve)
		if w.status != http.StatusOK || w.n == 0 {
			t.Fatalf("%s: status %d, %d bytes", bc.name, w.status, w.n)
		}
		if allocs > 2 {
			t.Errorf("%s: %v allocations per call, want <= 2 (the request id)", bc.name, allocs)
		}
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	h := NewHandler(WithReply(benchReply()), WithRecording(false))
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			serve, w := serveLoop(b, h, bc.path, bc.body)
			serve()
			b.SetBytes(int64(w.n))
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
		})
	}
}
