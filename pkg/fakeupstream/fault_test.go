package fakeupstream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func TestFaultStatus(t *testing.T) {
	tests := []struct {
		name, path, body string
		fault            fakeupstream.Fault
		status           int
		wantBody         string
	}{
		{"anthropic overloaded", "/v1/messages", messagesStream,
			fakeupstream.Fault{Status: 529, RetryAfter: "3"}, 529,
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"REQUEST_ID"}`},
		{"anthropic rate limit", "/v1/messages", messagesBody,
			fakeupstream.Fault{Status: 429, RetryAfter: "7", Message: "slow down"}, 429,
			`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"REQUEST_ID"}`},
		{"openai rate limit", "/v1/chat/completions", chatStream,
			fakeupstream.Fault{Status: 429, RetryAfter: "3"}, 429,
			"{\n    \"error\": {\n        \"message\": \"Rate limit reached for requests. Please try again later.\",\n        \"type\": \"requests\",\n        \"param\": null,\n        \"code\": \"rate_limit_exceeded\"\n    }\n}"},
		{"openai default 500", "/v1/embeddings", `{"input":"x"}`,
			fakeupstream.Fault{}, 500,
			"{\n    \"error\": {\n        \"message\": \"The server had an error while processing your request. Sorry about that!\",\n        \"type\": \"server_error\",\n        \"param\": null,\n        \"code\": null\n    }\n}"},
		{"raw body", "/v1/chat/completions", chatBody,
			fakeupstream.Fault{Status: 502, Body: "<html>bad gateway</html>"}, 502, "<html>bad gateway</html>"},
		{"stream error on a non-stream call", "/v1/messages", messagesBody,
			fakeupstream.Fault{Kind: fakeupstream.FailStreamError}, 529,
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"REQUEST_ID"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeupstream.New()
			defer srv.Close()
			srv.FailNext(2, tt.fault)
			for i := range 2 {
				res, body := post(t, srv.URL()+tt.path, tt.body)
				body = redactRequestID(res, body)
				if res.StatusCode != tt.status || body != tt.wantBody {
					t.Errorf("call %d: %d %s, want %d %s", i, res.StatusCode, body, tt.status, tt.wantBody)
				}
				if got := res.Header.Get("Retry-After"); got != tt.fault.RetryAfter {
					t.Errorf("call %d: Retry-After %q, want %q", i, got, tt.fault.RetryAfter)
				}
			}
			if res, _ := post(t, srv.URL()+tt.path, tt.body); res.StatusCode != 200 {
				t.Errorf("third call: %d, want 200", res.StatusCode)
			}
		})
	}
}

func TestFaultPathFilter(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	srv.FailNext(1, fakeupstream.Fault{Status: 503, Path: "/chat/completions", Header: http.Header{"x-should-retry": {"true"}}})
	if res, _ := post(t, srv.URL()+"/v1/messages", messagesBody); res.StatusCode != 200 {
		t.Errorf("messages: %d", res.StatusCode)
	}
	res, _ := post(t, srv.URL()+"/v1/chat/completions", chatBody)
	if res.StatusCode != 503 || res.Header.Get("X-Should-Retry") != "true" {
		t.Errorf("chat: %d %v", res.StatusCode, res.Header)
	}
}

func TestFailRateIsSeeded(t *testing.T) {
	pattern := func(seed uint64) string {
		srv := fakeupstream.New(fakeupstream.WithRecording(false))
		defer srv.Close()
		srv.FailRate(30, seed, fakeupstream.Fault{Status: 500})
		var p strings.Builder
		for range 60 {
			res, _ := post(t, srv.URL()+"/v1/chat/completions", chatBody)
			if res.StatusCode == 500 {
				p.WriteByte('x')
			} else {
				p.WriteByte('.')
			}
		}
		return p.String()
	}
	a, b, c := pattern(1), pattern(1), pattern(2)
	if a != b {
		t.Errorf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same faults: %s", a)
	}
	if n := strings.Count(a, "x"); n < 6 || n > 36 {
		t.Errorf("%d of 60 calls failed at 30%%: %s", n, a)
	}

	srv := fakeupstream.New()
	defer srv.Close()
	srv.FailRate(100, 1, fakeupstream.Fault{Status: 500})
	if res, _ := post(t, srv.URL()+"/v1/messages", messagesBody); res.StatusCode != 500 {
		t.Errorf("100%%: %d", res.StatusCode)
	}
	srv.FailRate(0, 1, fakeupstream.Fault{})
	if res, _ := post(t, srv.URL()+"/v1/messages", messagesBody); res.StatusCode != 200 {
		t.Errorf("rate off: %d", res.StatusCode)
	}
}

// waitFor polls cond until it holds or a second passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestFaultHang(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()

	// before headers, until the client gives up
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailHang})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v1/messages", strings.NewReader(messagesBody))
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung call: %v, want deadline exceeded", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("hung call returned after %v", time.Since(start))
	}
	waitFor(t, "the hung call to end", func() bool { return srv.InFlight() == 0 })

	// mid-stream, until the handler closes
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailHang, AfterChunks: 2})
	res, err := http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(messagesStream))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream call: %v %v", res, err)
	}
	defer res.Body.Close()
	buf := make([]byte, 4096)
	got := ""
	for strings.Count(got, "\n\n") < 2 {
		n, err := res.Body.Read(buf)
		if err != nil {
			t.Fatalf("read: %v after %q", err, got)
		}
		got += string(buf[:n])
	}
	if evs := parseSSE(t, got); len(evs) != 2 || evs[0].name != "message_start" {
		t.Errorf("before the hang: %q", got)
	}
	if srv.InFlight() != 1 {
		t.Errorf("InFlight = %d during the hang", srv.InFlight())
	}
	srv.Handler.Close()
	if rest, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) || len(rest) != 0 {
		t.Errorf("after Close: %q %v, want a cut connection", rest, err)
	}
}

func TestFaultDrop(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()

	// mid-stream: the first three events arrive intact, then the connection breaks
	srv.Enqueue(fakeupstream.Reply{Text: "kept for the retry"})
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailDrop, AfterChunks: 3})
	res, err := http.Post(srv.URL()+"/v1/chat/completions", "application/json", strings.NewReader(chatStream))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a dropped stream: %v, want unexpected EOF", err)
	}
	evs := parseSSE(t, string(got))
	if len(evs) != 3 || !strings.Contains(evs[1].data, `"content":"kept"`) || !strings.Contains(evs[2].data, `"content":" for"`) {
		t.Errorf("dropped stream got %q, want the queued answer's first 3 events", got)
	}
	// the interrupted answer is what the retry gets
	_, retry := post(t, srv.URL()+"/v1/chat/completions", chatBody)
	if text := openAIText(t, retry, false); text != "kept for the retry" {
		t.Errorf("retry got %q", text)
	}

	// before any response
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailDrop})
	if res, err := http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(messagesBody)); err == nil {
		res.Body.Close()
		t.Errorf("dropped call answered %d", res.StatusCode)
	}

	// a non-stream body cut halfway
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailDrop, AfterChunks: 1})
	res, err = http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(messagesBody))
	if err != nil {
		t.Fatal(err)
	}
	half, err := io.ReadAll(res.Body)
	res.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(half)) != res.ContentLength/2 {
		t.Errorf("cut body: %d of %d bytes, %v", len(half), res.ContentLength, err)
	}
}

func TestFaultStreamError(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStreamError, AfterChunks: 3})
	res, body := post(t, srv.URL()+"/v1/messages", messagesStream)
	evs := parseSSE(t, body)
	if res.StatusCode != 200 || len(evs) != 4 {
		t.Fatalf("%d %q", res.StatusCode, body)
	}
	if want := (wireEvent{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}); evs[3] != want {
		t.Errorf("error event %+v, want %+v", evs[3], want)
	}

	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStreamError, AfterChunks: 1, Message: "boom"})
	_, body = post(t, srv.URL()+"/v1/chat/completions", chatStream)
	evs = parseSSE(t, body)
	if want := (wireEvent{"", `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`}); len(evs) != 2 || evs[1] != want {
		t.Errorf("openai stream error: %+v", evs)
	}
}

func TestPeakInFlight(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "x", HeaderDelay: 200 * time.Millisecond}))
	defer srv.Close()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { post(t, srv.URL()+"/v1/messages", messagesBody) })
	}
	waitFor(t, "5 calls in flight", func() bool { return srv.InFlight() == 5 })
	wg.Wait()
	if srv.PeakInFlight() != 5 || srv.InFlight() != 0 {
		t.Errorf("peak %d, in flight %d", srv.PeakInFlight(), srv.InFlight())
	}
	post(t, srv.URL()+"/v1/messages", messagesBody)
	if srv.PeakInFlight() != 5 {
		t.Errorf("peak fell to %d", srv.PeakInFlight())
	}
	srv.Reset()
	if srv.PeakInFlight() != 0 {
		t.Errorf("peak after Reset: %d", srv.PeakInFlight())
	}
}

func TestDelays(t *testing.T) {
	const headerDelay, chunkDelay = 150 * time.Millisecond, 20 * time.Millisecond
	srv := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "a b c d e", HeaderDelay: headerDelay, ChunkDelay: chunkDelay}))
	defer srv.Close()
	start := time.Now()
	res, err := http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(messagesStream))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ttfb := time.Since(start); ttfb < headerDelay {
		t.Errorf("headers after %v, want >= %v", ttfb, headerDelay)
	}
	body, _ := io.ReadAll(res.Body)
	n := len(parseSSE(t, string(body)))
	if total, want := time.Since(start), headerDelay+time.Duration(n-1)*chunkDelay; total < want {
		t.Errorf("%d events took %v, want >= %v", n, total, want)
	}

	// a client that leaves ends the delay
	srv.Enqueue(fakeupstream.Reply{HeaderDelay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v1/messages", strings.NewReader(messagesBody))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("an hour-long delay answered")
	}
	waitFor(t, "the delayed call to end", func() bool { return srv.InFlight() == 0 })
}

func TestServerShutdown(t *testing.T) {
	srv, err := fakeupstream.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailHang})
	done := make(chan error, 1)
	go func() {
		res, err := http.Post(srv.URL()+"/v1/messages", "application/json", bytes.NewReader([]byte(messagesBody)))
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the hung call", func() bool { return srv.InFlight() == 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	<-done
	if _, err := http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(messagesBody)); err == nil {
		t.Error("served after Shutdown")
	}
}
