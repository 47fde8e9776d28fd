package responses

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// upTime is the clock of the Responses → Chat conversions under test.
var upTime = time.Unix(1767225600, 0)

// newUpStream is NewResponsesToChatStream with the test clock.
func newUpStream(req []byte) *ResponsesToChatStream {
	s := NewResponsesToChatStream(req)
	s.now = func() time.Time { return upTime }
	return s
}

// TestResponsesToChatStreamGolden runs each recorded Responses stream of testdata/upstream
// (<case>.in.sse, answering the chat request <case>.req.json) through the converter and
// compares the client's stream, followed by comment lines with the error and the usage, with
// <case>.out.sse.
func TestResponsesToChatStreamGolden(t *testing.T) {
	tests := []struct {
		name       string
		wantErr    error
		wantStatus int // of an *apierror.Error
	}{
		{name: "text"},
		{name: "function_call"},
		{name: "parallel_calls"},
		{name: "reasoning"},
		{name: "length"},
		{name: "whole_items"},
		{name: "truncated", wantErr: llm.ErrTruncated},
		{name: "error_midstream", wantStatus: http.StatusInternalServerError},
		{name: "failed", wantStatus: http.StatusTooManyRequests},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join("testdata", "upstream", tc.name)
			req := upRead(t, base+".req.json")
			s := newUpStream(req)
			out, err := runStream(s, upRead(t, base+".in.sse"))
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			case tc.wantStatus != 0:
				var ae *apierror.Error
				if !errors.As(err, &ae) || ae.Status != tc.wantStatus {
					t.Fatalf("error %#v, want an *apierror.Error with status %d", err, tc.wantStatus)
				}
			case err != nil:
				t.Fatal(err)
			}
			checkChunks(t, req, out, err == nil)
			got := sse.Encode(out...)
			if err != nil {
				got = fmt.Appendf(got, ": error: %v\n", err)
			}
			u := s.Usage()
			got = fmt.Appendf(got, ": usage: input=%d output=%d cache_read=%d\n", u.InputTokens, u.OutputTokens, u.CacheReadTokens)
			golden(t, base+".out.sse", got)
		})
	}
}

// checkChunks checks what every chat stream must satisfy: data-only chunks of one id, the
// role in the first, tool calls announced (id, type, name) before their arguments, one
// finish_reason, the usage chunk when asked for, and [DONE] last when complete.
func checkChunks(t *testing.T, req []byte, evs []sse.Event, complete bool) {
	t.Helper()
	var id string
	finished, usage, done := false, false, false
	announced := map[int64]bool{}
	for i, ev := range evs {
		if ev.Event != "" {
			t.Fatalf("event %d has an event: line %q", i, ev.Event)
		}
		if done {
			t.Fatalf("event %d after [DONE]", i)
		}
		if ev.IsDone() {
			done = true
			continue
		}
		c := gjson.ParseBytes(ev.Data)
		if c.Get("object").Str != "chat.completion.chunk" {
			t.Fatalf("event %d is not a chunk: %s", i, ev.Data)
		}
		if i == 0 {
			id = c.Get("id").Str
			if c.Get("choices.0.delta.role").Str != "assistant" {
				t.Fatalf("first chunk has no role: %s", ev.Data)
			}
		} else if c.Get("id").Str != id {
			t.Fatalf("chunk %d has id %q, want %q", i, c.Get("id").Str, id)
		}
		if c.Get("usage").IsObject() {
			if c.Get("choices.#").Int() != 0 || !finished {
				t.Fatalf("usage chunk %d has choices or comes before the finish: %s", i, ev.Data)
			}
			usage = true
			continue
		}
		if finished {
			t.Fatalf("chunk %d after the finish_reason: %s", i, ev.Data)
		}
		if c.Get("choices.0.finish_reason").Type == gjson.String {
			finished = true
		}
		for _, tc := range c.Get("choices.0.delta.tool_calls").Array() {
			idx := tc.Get("index").Int()
			if !announced[idx] {
				if tc.Get("type").Str != "function" || tc.Get("function.name").Str == "" {
					t.Fatalf("tool call %d starts without its type and name: %s", idx, ev.Data)
				}
				announced[idx] = true
			} else if tc.Get("id").Exists() || tc.Get("function.name").Exists() {
				t.Fatalf("tool call %d names itself twice: %s", idx, ev.Data)
			}
		}
	}
	if !complete {
		return
	}
	if !finished || !done {
		t.Fatalf("complete stream without finish_reason (%v) or [DONE] (%v)", finished, done)
	}
	if want := gjson.GetBytes(req, "stream_options.include_usage").Bool(); usage != want {
		t.Fatalf("usage chunk %v, want %v", usage, want)
	}
}

func upRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResponsesToChatStreamEdges(t *testing.T) {
	req := []byte(`{"model":"m","stream":true}`)
	t.Run("not JSON", func(t *testing.T) {
		_, err := newUpStream(req).Next(sse.Event{Event: EventOutputTextDelta, Data: []byte("{")})
		if !errors.Is(err, llm.ErrInvalid) {
			t.Fatalf("error %v, want llm.ErrInvalid", err)
		}
	})
	t.Run("data-only events", func(t *testing.T) {
		s := newUpStream(req)
		in := "data: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"Hi\"}\n\n" +
			"data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
		out, err := runStream(s, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := chatText(out); got != "Hi" {
			t.Fatalf("text %q", got)
		}
		if s.Usage().InputTokens != 3 || s.Usage().OutputTokens != 1 {
			t.Fatalf("usage %+v", s.Usage())
		}
	})
	t.Run("events after the end are ignored", func(t *testing.T) {
		s := newUpStream(req)
		s.Next(sse.Event{Event: EventCompleted, Data: []byte(`{"type":"response.completed","response":{"status":"completed"}}`)})
		out, err := s.Next(sse.Event{Event: EventOutputTextDelta, Data: []byte(`{"delta":"late"}`)})
		if err != nil || out != nil {
			t.Fatalf("got %v, %v", out, err)
		}
		if _, err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("error event in the SDK's flat shape", func(t *testing.T) {
		_, err := newUpStream(req).Next(sse.Event{Event: "error", Data: []byte(`{"type":"error","code":"context_length_exceeded","message":"Your input exceeds the context window.","param":"input"}`)})
		var ae *apierror.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Message != "Your input exceeds the context window." {
			t.Fatalf("error %#v", err)
		}
	})
	t.Run("content_filter", func(t *testing.T) {
		out, err := runStream(newUpStream(req), []byte("event: response.incomplete\ndata: {\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"content_filter\"}}}\n\n"))
		if err != nil {
			t.Fatal(err)
		}
		if f := gjson.GetBytes(out[len(out)-2].Data, "choices.0.finish_reason").Str; f != "content_filter" {
			t.Fatalf("finish_reason %q", f)
		}
	})
}

// chatText joins the content deltas of a chat stream.
func chatText(evs []sse.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		if !ev.IsDone() {
			b.WriteString(gjson.GetBytes(ev.Data, "choices.0.delta.content").Str)
		}
	}
	return b.String()
}

// upSDKServer answers POST /v1/chat/completions as lynkr does in front of a Responses
// upstream: it converts the SDK's request, then answers with the recorded upstream answer
// named by the X-Upstream header (testdata/upstream/<name>.in.sse when streaming,
// <name>.response.json when not), converted back.
func upSDKServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := ChatToResponsesRequest(body, llm.Options{Model: "gpt-5-codex"}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		base := filepath.Join("testdata", "upstream", r.Header.Get("X-Upstream"))
		if gjson.GetBytes(body, "stream").Bool() {
			in, err := os.ReadFile(base + ".in.sse")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out, err := runStream(NewResponsesToChatStream(body), in)
			if err != nil { // as the gateway ends a stream that failed
				out = append(out, apierror.Event(llm.FormatChat, apierror.As(err)))
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(sse.Encode(out...))
			return
		}
		in, err := os.ReadFile(base + ".response.json")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out, _, err := ResponsesToChatResponse(body, in)
		if err != nil {
			ae := apierror.As(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(ae.Status)
			w.Write(apierror.Body(llm.FormatChat, ae))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The official SDK reads every converted stream, and what it accumulates is the answer.
func TestResponsesToChatStreamSDK(t *testing.T) {
	srv := upSDKServer(t)
	client := openaisdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	tests := []struct {
		upstream   string
		wantText   string
		wantCalls  []string // name(arguments)
		wantFinish string
		wantUsage  [3]int64 // prompt, completion, cached
		wantErr    bool
	}{
		{upstream: "text", wantText: "Hello! How can I help you today?", wantFinish: "stop", wantUsage: [3]int64{1520, 12, 1408}},
		{upstream: "function_call", wantText: "I'll check the weather in Paris.", wantCalls: []string{`get_weather({"city":"Paris"})`}, wantFinish: "tool_calls", wantUsage: [3]int64{2048, 96, 0}},
		{upstream: "parallel_calls", wantCalls: []string{`get_weather({"city":"Paris"})`, `get_weather({"city":"Berlin"})`}, wantFinish: "tool_calls", wantUsage: [3]int64{300, 40, 0}},
		{upstream: "reasoning", wantText: "The answer is 42.", wantFinish: "stop", wantUsage: [3]int64{500, 300, 0}},
		{upstream: "length", wantText: "Once upon a time, there was", wantFinish: "length", wantUsage: [3]int64{40, 16, 0}},
		{upstream: "whole_items", wantText: "Listing the files.", wantCalls: []string{`list_files({})`}, wantFinish: "tool_calls", wantUsage: [3]int64{90, 30, 0}},
		{upstream: "error_midstream", wantErr: true},
		{upstream: "failed", wantErr: true},
		{upstream: "truncated", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.upstream, func(t *testing.T) {
			params := openaisdk.ChatCompletionNewParams{
				Model:         "gpt-5-codex",
				Messages:      []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("Hello")},
				StreamOptions: openaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: openaisdk.Bool(true)},
			}
			stream := client.Chat.Completions.NewStreaming(context.Background(), params, option.WithHeader("X-Upstream", tc.upstream))
			var acc openaisdk.ChatCompletionAccumulator
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("the accumulator refuses chunk %s", stream.Current().RawJSON())
				}
			}
			if tc.wantErr {
				if stream.Err() == nil {
					t.Fatal("no error")
				}
				return
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("%d choices", len(acc.Choices))
			}
			ch := acc.Choices[0]
			if ch.Message.Content != tc.wantText {
				t.Errorf("content %q, want %q", ch.Message.Content, tc.wantText)
			}
			var calls []string
			for _, c := range ch.Message.ToolCalls {
				if c.ID == "" {
					t.Errorf("tool call without id: %+v", c)
				}
				calls = append(calls, c.Function.Name+"("+c.Function.Arguments+")")
			}
			if fmt.Sprint(calls) != fmt.Sprint(tc.wantCalls) {
				t.Errorf("calls %q, want %q", calls, tc.wantCalls)
			}
			if ch.FinishReason != tc.wantFinish {
				t.Errorf("finish_reason %q, want %q", ch.FinishReason, tc.wantFinish)
			}
			u := acc.Usage
			if got := [3]int64{u.PromptTokens, u.CompletionTokens, u.PromptTokensDetails.CachedTokens}; got != tc.wantUsage {
				t.Errorf("usage %v, want %v", got, tc.wantUsage)
			}
			if acc.Model != "gpt-5-codex" {
				t.Errorf("model %q", acc.Model)
			}
		})
	}
}

func BenchmarkResponsesToChatStream(b *testing.B) {
	req := upRead(b, filepath.Join("testdata", "upstream", "function_call.req.json"))
	in := upRead(b, filepath.Join("testdata", "upstream", "function_call.in.sse"))
	var evs []sse.Event
	r := sse.NewReader(bytes.NewReader(in), 0)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		evs = append(evs, ev)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewResponsesToChatStream(req)
		for _, ev := range evs {
			if _, err := s.Next(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}
