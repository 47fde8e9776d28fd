package fakeupstream_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// call posts body to url and returns the response with its body read.
func call(t *testing.T, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return res, string(b)
}

func post(t *testing.T, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	return call(t, http.MethodPost, url, body, header...)
}

// redactRequestID replaces the per-call Anthropic request id in body with REQUEST_ID.
func redactRequestID(res *http.Response, body string) string {
	if id := res.Header.Get("Request-Id"); id != "" {
		return strings.ReplaceAll(body, id, "REQUEST_ID")
	}
	return body
}

// wireEvent is one server-sent event as a client splits it.
type wireEvent struct{ name, data string }

// parseSSE splits a stream strictly: events end with a blank line and hold only "event: "
// and "data: " lines.
func parseSSE(t *testing.T, raw string) []wireEvent {
	t.Helper()
	if !strings.HasSuffix(raw, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", raw)
	}
	var out []wireEvent
	for _, block := range strings.Split(strings.TrimSuffix(raw, "\n\n"), "\n\n") {
		var ev wireEvent
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: ") && ev.name == "":
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && ev.data == "":
				ev.data = strings.TrimPrefix(line, "data: ")
			default:
				t.Fatalf("unexpected line %q in event %q", line, block)
			}
		}
		out = append(out, ev)
	}
	return out
}

const (
	chatBody       = `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`
	chatStream     = `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	chatUsage      = `{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	messagesBody   = `{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	messagesStream = `{"model":"claude-test","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	responsesBody  = `{"model":"gpt-test","input":"hi"}`
	responsesSSE   = `{"model":"gpt-test","stream":true,"input":[{"role":"user","content":"hi"}]}`
	responsesEnc   = `{"model":"gpt-test","stream":true,"store":false,"include":["reasoning.encrypted_content"],"input":[{"role":"user","content":"hi"}]}`
	compactBody    = `{"model":"gpt-test","input":[{"role":"user","content":"hi"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"again"}]}]}`
)

// goldenReply exercises every block kind.
var goldenReply = fakeupstream.Reply{
	Thinking: "Think <first>.", ThinkingChunks: 2, Signature: "sig==",
	Text: "Hello \"wire\"\nworld", Chunks: 2,
	ToolCalls: []fakeupstream.ToolCall{
		{ID: "toolu_A", Name: "get_weather", Arguments: []string{`{"city":`, `"Paris"}`}},
		{Name: "noargs"},
	},
	Usage: fakeupstream.Usage{InputTokens: 7, OutputTokens: 30, CacheReadTokens: 100, CacheWriteTokens: 20, ReasoningTokens: 5},
}

// TestGolden pins every rendering byte for byte. FAKEUPSTREAM_UPDATE_GOLDEN=1 rewrites
// testdata/ after a deliberate change.
func TestGolden(t *testing.T) {
	clock := func() time.Time { return time.Unix(1767225600, 0) }
	srv := fakeupstream.New(fakeupstream.WithReply(goldenReply), fakeupstream.WithClock(clock))
	defer srv.Close()
	tests := []struct {
		file, path, body, contentType string
	}{
		{"anthropic_stream.golden", "/v1/messages", messagesStream, "text/event-stream; charset=utf-8"},
		{"anthropic.golden.json", "/v1/messages", messagesBody, "application/json"},
		{"openai_stream.golden", "/v1/chat/completions", chatStream, "text/event-stream; charset=utf-8"},
		{"openai_stream_usage.golden", "/v1/chat/completions", chatUsage, "text/event-stream; charset=utf-8"},
		{"openai.golden.json", "/v1/chat/completions", chatBody, "application/json"},
		{"responses.golden.json", "/v1/responses", responsesBody, "application/json"},
		{"responses_stream.golden", "/v1/responses", responsesSSE, "text/event-stream; charset=utf-8"},
		{"responses_stream_encrypted.golden", "/v1/responses", responsesEnc, "text/event-stream; charset=utf-8"},
		{"responses_compact.golden.json", "/v1/responses/compact", compactBody, "application/json"},
		{"anthropic_error.golden.json", "/v1/nope", `{}`, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res, body := post(t, srv.URL()+tt.path, tt.body, "anthropic-version", "2023-06-01")
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			body = redactRequestID(res, body)
			path := filepath.Join("testdata", tt.file)
			if os.Getenv("FAKEUPSTREAM_UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if body != string(want) {
				t.Errorf("body differs from %s\ngot:\n%s\nwant:\n%s", path, body, want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	tests := []struct {
		path, body string
		want       map[string]string
		absent     []string
	}{
		{"/v1/messages", messagesStream, map[string]string{
			"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
		}, []string{"Content-Length", "X-Request-Id"}},
		{"/v1/messages", messagesBody, map[string]string{"Content-Type": "application/json"}, []string{"Cache-Control", "X-Request-Id"}},
		{"/v1/chat/completions", chatStream, map[string]string{
			"Content-Type": "text/event-stream; charset=utf-8", "Openai-Version": "2020-10-01",
		}, []string{"Content-Length", "Request-Id"}},
		{"/v1/chat/completions", chatBody, map[string]string{"Content-Type": "application/json"}, []string{"Request-Id"}},
	}
	for _, tt := range tests {
		res, body := post(t, srv.URL()+tt.path, tt.body)
		for k, v := range tt.want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", tt.path, tt.body, k, got, v)
			}
		}
		for _, k := range tt.absent {
			if got := res.Header.Get(k); got != "" {
				t.Errorf("%s %s: unexpected %s: %q", tt.path, tt.body, k, got)
			}
		}
		id := res.Header.Get("Request-Id") + res.Header.Get("X-Request-Id")
		if !strings.HasPrefix(id, "req_") {
			t.Errorf("%s: request id %q", tt.path, id)
		}
		if cl := res.Header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(body)) {
			t.Errorf("%s: Content-Length %s for a %d-byte body", tt.path, cl, len(body))
		}
	}
	// the request ids of two calls differ
	r1, _ := post(t, srv.URL()+"/v1/messages", messagesBody)
	r2, _ := post(t, srv.URL()+"/v1/messages", messagesBody)
	if r1.Header.Get("Request-Id") == r2.Header.Get("Request-Id") {
		t.Errorf("two calls share request id %q", r1.Header.Get("Request-Id"))
	}
}

// TestStreamShape checks the event grammar of both formats for several replies.
func TestStreamShape(t *testing.T) {
	replies := map[string]fakeupstream.Reply{
		"text":     {Text: "one two three"},
		"empty":    {},
		"tools":    {ToolCalls: []fakeupstream.ToolCall{{Name: "a", Arguments: []string{`{"x"`, `:1}`}}, {Name: "b"}}},
		"thinking": {Thinking: "hmm", Signature: "s", Text: "ok"},
		"golden":   goldenReply,
	}
	for name, reply := range replies {
		t.Run(name, func(t *testing.T) {
			srv := fakeupstream.New(fakeupstream.WithReply(reply))
			defer srv.Close()

			_, raw := post(t, srv.URL()+"/v1/messages", messagesStream)
			checkAnthropicStream(t, parseSSE(t, raw))

			for _, body := range []string{chatStream, chatUsage} {
				_, raw := post(t, srv.URL()+"/v1/chat/completions", body)
				checkOpenAIStream(t, parseSSE(t, raw), body == chatUsage)
			}

			for _, body := range []string{responsesSSE, responsesEnc} {
				_, raw := post(t, srv.URL()+"/v1/responses", body)
				checkResponsesStream(t, parseSSE(t, raw))
			}
		})
	}
}

// checkResponsesStream checks the grammar of a Responses stream: every event is named for its
// type and numbered in order from 0; the stream opens with response.created and
// response.in_progress and ends with response.completed (or .incomplete); each output item
// is added, then done, before the next one, and the events in between name it.
func checkResponsesStream(t *testing.T, events []wireEvent) {
	t.Helper()
	var names []string
	open, items := -1, 0
	var openID string
	for i, ev := range events {
		names = append(names, ev.name)
		var p struct {
			Type           string `json:"type"`
			SequenceNumber *int   `json:"sequence_number"`
			OutputIndex    *int   `json:"output_index"`
			ItemID         string `json:"item_id"`
			Item           struct {
				ID string `json:"id"`
			} `json:"item"`
		}
		if err := json.Unmarshal([]byte(ev.data), &p); err != nil {
			t.Fatalf("event %d (%s): data is not JSON: %v\n%s", i, ev.name, err, ev.data)
		}
		if p.Type != ev.name {
			t.Errorf("event %d named %q has type %q", i, ev.name, p.Type)
		}
		if p.SequenceNumber == nil || *p.SequenceNumber != i {
			t.Errorf("event %d (%s): sequence_number %v", i, ev.name, p.SequenceNumber)
		}
		switch {
		case ev.name == "response.output_item.added":
			if open != -1 || *p.OutputIndex != items {
				t.Errorf("event %d: item %d added while %d is open", i, *p.OutputIndex, open)
			}
			open, openID = *p.OutputIndex, p.Item.ID
		case ev.name == "response.output_item.done":
			if *p.OutputIndex != open || p.Item.ID != openID {
				t.Errorf("event %d: item %d (%s) done while %d (%s) is open", i, *p.OutputIndex, p.Item.ID, open, openID)
			}
			open = -1
			items++
		case p.ItemID != "":
			if *p.OutputIndex != open || p.ItemID != openID {
				t.Errorf("event %d (%s): about item %d (%s) while %d (%s) is open", i, ev.name, *p.OutputIndex, p.ItemID, open, openID)
			}
		}
	}
	last := names[len(names)-1]
	if names[0] != "response.created" || names[1] != "response.in_progress" ||
		last != "response.completed" && last != "response.incomplete" || open != -1 {
		t.Errorf("event order %v", names)
	}
}

func checkAnthropicStream(t *testing.T, events []wireEvent) {
	t.Helper()
	var names []string
	open := -1
	for i, ev := range events {
		names = append(names, ev.name)
		var payload struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		}
		if err := json.Unmarshal([]byte(ev.data), &payload); err != nil {
			t.Fatalf("event %d (%s): data is not JSON: %v", i, ev.name, err)
		}
		if payload.Type != ev.name {
			t.Errorf("event %d named %q has type %q", i, ev.name, payload.Type)
		}
		switch ev.name {
		case "content_block_start":
			if open != -1 || *payload.Index != len(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n != "content_block_start" }))-1 {
				t.Errorf("event %d: block %d starts while %d is open", i, *payload.Index, open)
			}
			open = *payload.Index
		case "content_block_delta":
			if *payload.Index != open {
				t.Errorf("event %d: delta for block %d while %d is open", i, *payload.Index, open)
			}
		case "content_block_stop":
			if *payload.Index != open {
				t.Errorf("event %d: stop for block %d while %d is open", i, *payload.Index, open)
			}
			open = -1
		}
	}
	if names[0] != "message_start" || names[len(names)-2] != "message_delta" || names[len(names)-1] != "message_stop" {
		t.Errorf("event order %v", names)
	}
	if i := slices.Index(names, "ping"); i < 0 || names[i-1] != "content_block_start" || slices.Index(names, "content_block_start") != i-1 {
		t.Errorf("ping is not right after the first content_block_start: %v", names)
	}
}

func checkOpenAIStream(t *testing.T, events []wireEvent, includeUsage bool) {
	t.Helper()
	last := events[len(events)-1]
	if last.data != "[DONE]" || last.name != "" {
		t.Fatalf("stream ends with %+v, want data: [DONE]", last)
	}
	var id string
	finishes := 0
	for i, ev := range events[:len(events)-1] {
		if ev.name != "" {
			t.Errorf("chunk %d has an event name %q", i, ev.name)
		}
		var chunk map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ev.data), &chunk); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		var c struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Choices []struct {
				Delta        map[string]json.RawMessage `json:"delta"`
				FinishReason *string                    `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if id == "" {
			id = c.ID
		}
		if c.ID != id || c.Object != "chat.completion.chunk" {
			t.Errorf("chunk %d: id %q object %q", i, c.ID, c.Object)
		}
		usage, hasUsage := chunk["usage"]
		isUsageChunk := i == len(events)-2 && includeUsage
		switch {
		case isUsageChunk:
			if len(c.Choices) != 0 || !hasUsage || string(usage) == "null" {
				t.Errorf("usage chunk: %s", ev.data)
			}
			continue
		case includeUsage && string(usage) != "null":
			t.Errorf("chunk %d: usage %s, want null", i, usage)
		case !includeUsage && hasUsage:
			t.Errorf("chunk %d has usage without include_usage", i)
		}
		if len(c.Choices) != 1 {
			t.Fatalf("chunk %d: %d choices", i, len(c.Choices))
		}
		ch := c.Choices[0]
		if i == 0 && string(ch.Delta["role"]) != `"assistant"` {
			t.Errorf("first chunk has no role: %s", ev.data)
		}
		if ch.FinishReason != nil {
			finishes++
			if len(ch.Delta) != 0 {
				t.Errorf("finish chunk has a delta: %s", ev.data)
			}
		}
	}
	if finishes != 1 {
		t.Errorf("%d finish_reason chunks", finishes)
	}
}

func TestEchoConcurrent(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithRecording(false))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			word := fmt.Sprintf("question %d", i)
			stream := i%4 >= 2
			if i%2 == 0 {
				body := fmt.Sprintf(`{"model":"c","max_tokens":9,"stream":%v,"messages":[{"role":"user","content":[{"type":"text","text":%q}]}]}`, stream, word)
				_, got := post(t, srv.URL()+"/v1/messages", body)
				if text := anthropicText(t, got, stream); text != "echo: "+word {
					t.Errorf("call %d: text %q", i, text)
				}
				return
			}
			body := fmt.Sprintf(`{"model":"g","stream":%v,"messages":[{"role":"user","content":%q}]}`, stream, word)
			_, got := post(t, srv.URL()+"/v1/chat/completions", body)
			if text := openAIText(t, got, stream); text != "echo: "+word {
				t.Errorf("call %d: text %q", i, text)
			}
		})
	}
	wg.Wait()
	if srv.Calls() != 64 {
		t.Errorf("Calls() = %d, want 64", srv.Calls())
	}
}

// anthropicText returns the text of a Messages answer, JSON or stream.
func anthropicText(t *testing.T, body string, stream bool) string {
	var text strings.Builder
	if !stream {
		var m struct {
			Content []struct{ Type, Text string }
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		for _, c := range m.Content {
			text.WriteString(c.Text)
		}
		return text.String()
	}
	for _, line := range strings.Split(body, "\n") {
		var ev struct{ Delta struct{ Type, Text string } }
		if data, ok := strings.CutPrefix(line, "data: "); ok && json.Unmarshal([]byte(data), &ev) == nil && ev.Delta.Type == "text_delta" {
			text.WriteString(ev.Delta.Text)
		}
	}
	return text.String()
}

// openAIText returns the text of a chat completion, JSON or stream.
func openAIText(t *testing.T, body string, stream bool) string {
	if !stream {
		var c struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.Unmarshal([]byte(body), &c); err != nil || len(c.Choices) != 1 {
			t.Errorf("body %q: %v", body, err)
			return ""
		}
		return c.Choices[0].Message.Content
	}
	var text strings.Builder
	for _, line := range strings.Split(body, "\n") {
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && json.Unmarshal([]byte(data), &c) == nil && len(c.Choices) == 1 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	return text.String()
}

func TestScript(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "default"}))
	defer srv.Close()
	srv.Enqueue(fakeupstream.Reply{Text: "first"}, fakeupstream.Reply{Text: "second", Model: "pinned"})

	_, b := post(t, srv.URL()+"/v1/messages", messagesBody)
	if got := anthropicText(t, b, false); got != "first" {
		t.Errorf("call 1: %q", got)
	}
	// count_tokens and embeddings do not consume the script
	post(t, srv.URL()+"/v1/messages/count_tokens", messagesBody)
	post(t, srv.URL()+"/v1/embeddings", `{"input":"x","model":"e"}`)
	_, b = post(t, srv.URL()+"/v1/chat/completions", chatBody)
	if got := openAIText(t, b, false); got != "second" || !strings.Contains(b, `"model": "pinned"`) {
		t.Errorf("call 2: %q in %s", got, b)
	}
	_, b = post(t, srv.URL()+"/v1/chat/completions", chatStream)
	if got := openAIText(t, b, true); got != "default" || !strings.Contains(b, `"model":"gpt-test"`) {
		t.Errorf("call 3: %q in %s", got, b)
	}
}

func TestStopReasonsAndUsage(t *testing.T) {
	tests := []struct {
		reply         fakeupstream.Reply
		stop, finish  string
		prompt, total int
	}{
		{fakeupstream.Reply{Text: "x"}, "end_turn", "stop", 10, 11},
		{fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{{Name: "t"}}}, "tool_use", "tool_calls", 10, 11},
		{fakeupstream.Reply{Text: "x", StopReason: "max_tokens"}, "max_tokens", "length", 10, 11},
		{fakeupstream.Reply{Text: "x", StopReason: "length"}, "max_tokens", "length", 10, 11},
		{fakeupstream.Reply{Text: "x", StopReason: "refusal", Usage: fakeupstream.Usage{InputTokens: 3, OutputTokens: 4, CacheReadTokens: 5, CacheWriteTokens: 6}}, "refusal", "content_filter", 14, 18},
	}
	for _, tt := range tests {
		srv := fakeupstream.New(fakeupstream.WithReply(tt.reply))
		_, a := post(t, srv.URL()+"/v1/messages", messagesBody)
		_, o := post(t, srv.URL()+"/v1/chat/completions", chatBody)
		srv.Close()
		var am struct {
			StopReason string `json:"stop_reason"`
		}
		var om struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			}
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
				TotalTokens  int `json:"total_tokens"`
			}
		}
		if json.Unmarshal([]byte(a), &am) != nil || json.Unmarshal([]byte(o), &om) != nil {
			t.Fatalf("bodies: %s %s", a, o)
		}
		if am.StopReason != tt.stop || om.Choices[0].FinishReason != tt.finish {
			t.Errorf("%+v: stop %q finish %q, want %q %q", tt.reply, am.StopReason, om.Choices[0].FinishReason, tt.stop, tt.finish)
		}
		if om.Usage.PromptTokens != tt.prompt || om.Usage.TotalTokens != tt.total {
			t.Errorf("%+v: usage %+v, want prompt %d total %d", tt.reply, om.Usage, tt.prompt, tt.total)
		}
	}
}

func TestRecording(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	before := time.Now()
	post(t, srv.URL()+"/v1/messages?beta=true", messagesBody, "x-api-key", "k1", "anthropic-version", "2023-06-01")
	call(t, http.MethodGet, srv.URL()+"/v1/models", "", "Authorization", "Bearer k2")
	reqs := srv.Requests()
	if len(reqs) != 2 || srv.Calls() != 2 {
		t.Fatalf("%d requests recorded, Calls() = %d", len(reqs), srv.Calls())
	}
	r := reqs[0]
	if r.Seq != 1 || r.Method != "POST" || r.Path != "/v1/messages" || r.RawQuery != "beta=true" ||
		r.Endpoint != fakeupstream.Messages || string(r.Body) != messagesBody ||
		r.Header.Get("X-Api-Key") != "k1" || r.Time.Before(before) || r.Time.After(time.Now()) {
		t.Errorf("recorded %+v", r)
	}
	if r := reqs[1]; r.Seq != 2 || r.Method != "GET" || r.Endpoint != fakeupstream.Models || r.Header.Get("Authorization") != "Bearer k2" {
		t.Errorf("recorded %+v", r)
	}
	srv.Reset()
	if len(srv.Requests()) != 0 || srv.Calls() != 0 {
		t.Errorf("after Reset: %d requests, %d calls", len(srv.Requests()), srv.Calls())
	}

	off := fakeupstream.New(fakeupstream.WithRecording(false))
	defer off.Close()
	post(t, off.URL()+"/v1/messages", messagesBody)
	if len(off.Requests()) != 0 || off.Calls() != 1 {
		t.Errorf("recording off: %d requests, %d calls", len(off.Requests()), off.Calls())
	}
}

func TestAPIKey(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithAPIKey("sekret"))
	defer srv.Close()
	tests := []struct {
		path, body string
		header     []string
		status     int
	}{
		{"/v1/messages", messagesBody, nil, 401},
		{"/v1/messages", messagesBody, []string{"x-api-key", "wrong"}, 401},
		{"/v1/messages", messagesBody, []string{"x-api-key", "sekret"}, 200},
		{"/anthropic/v1/messages", messagesBody, []string{"Authorization", "Bearer sekret"}, 200},
		{"/v1/chat/completions", chatBody, []string{"Authorization", "Bearer sekret"}, 200},
		{"/openai/deployments/d/chat/completions", chatBody, []string{"api-key", "sekret"}, 200},
		{"/v1/chat/completions", chatBody, []string{"Authorization", "sekret"}, 401},
	}
	for _, tt := range tests {
		res, body := post(t, srv.URL()+tt.path, tt.body, tt.header...)
		if res.StatusCode != tt.status {
			t.Errorf("%s %v: %d, want %d", tt.path, tt.header, res.StatusCode, tt.status)
		}
		if tt.status == 401 && !strings.Contains(body, "authentication_error") && !strings.Contains(body, "invalid_api_key") {
			t.Errorf("%s: 401 body %s", tt.path, body)
		}
	}
}

func TestAzurePaths(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "az"}))
	defer srv.Close()
	_, b := post(t, srv.URL()+"/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21", `{"messages":[{"role":"user","content":"x"}]}`)
	if !strings.Contains(b, `"model": "my-gpt"`) || openAIText(t, b, false) != "az" {
		t.Errorf("azure chat: %s", b)
	}
	_, b = post(t, srv.URL()+"/openai/deployments/emb/embeddings?api-version=2024-10-21", `{"input":"x","dimensions":4}`)
	if !strings.Contains(b, `"model": "emb"`) {
		t.Errorf("azure embeddings: %s", b)
	}
	_, b = post(t, srv.URL()+"/anthropic/v1/messages", messagesStream)
	if anthropicText(t, b, true) != "az" {
		t.Errorf("foundry messages: %s", b)
	}
}

func TestEmbeddings(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	type response struct {
		Object string
		Data   []struct {
			Object    string
			Index     int
			Embedding json.RawMessage
		}
		Model string
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		}
	}
	get := func(body string) response {
		res, b := post(t, srv.URL()+"/v1/embeddings", body)
		var r response
		if res.StatusCode != 200 || json.Unmarshal([]byte(b), &r) != nil {
			t.Fatalf("%s: %d %s", body, res.StatusCode, b)
		}
		return r
	}
	floats := get(`{"model":"text-embedding-3-large","input":["alpha","beta"],"dimensions":16}`)
	again := get(`{"model":"text-embedding-3-large","input":"beta","dimensions":16}`)
	b64 := get(`{"model":"m","input":["alpha"],"dimensions":16,"encoding_format":"base64"}`)
	if floats.Object != "list" || floats.Model != "text-embedding-3-large" || len(floats.Data) != 2 ||
		floats.Data[1].Index != 1 || floats.Data[0].Object != "embedding" || floats.Usage.TotalTokens != floats.Usage.PromptTokens {
		t.Fatalf("response %+v", floats)
	}
	var v0, v1, beta []float64
	json.Unmarshal(floats.Data[0].Embedding, &v0)
	json.Unmarshal(floats.Data[1].Embedding, &v1)
	json.Unmarshal(again.Data[0].Embedding, &beta)
	if len(v0) != 16 || slices.Equal(v0, v1) || !slices.Equal(v1, beta) {
		t.Errorf("vectors: %v %v %v", v0, v1, beta)
	}
	var norm float64
	for _, x := range v0 {
		norm += x * x
	}
	if math.Abs(norm-1) > 1e-5 {
		t.Errorf("norm² %v, want 1", norm)
	}
	var s string
	json.Unmarshal(b64.Data[0].Embedding, &s)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 64 {
		t.Fatalf("base64 %q: %v", s, err)
	}
	for i, want := range v0 {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); float64(got) != want {
			t.Errorf("base64[%d] = %v, float %v", i, got, want)
		}
	}
	if got := get(`{"input":[1,2,3],"dimensions":2}`); len(got.Data) != 1 {
		t.Errorf("token input: %+v", got)
	}
	if got := get(`{"input":[[1,2],[3]],"dimensions":2}`); len(got.Data) != 2 {
		t.Errorf("token batches: %+v", got)
	}
	if res, _ := post(t, srv.URL()+"/v1/embeddings", `{"model":"m"}`); res.StatusCode != 400 {
		t.Errorf("no input: %d", res.StatusCode)
	}
}

func TestOtherEndpoints(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithModels("m1", "m2"))
	defer srv.Close()
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		want                     string
	}{
		{"count tokens", "POST", "/v1/messages/count_tokens", messagesBody, nil, 200, `{"input_tokens":22}`},
		{"openai models", "GET", "/v1/models", "", nil, 200, `"object": "model"`},
		{"anthropic models", "GET", "/v1/models", "", []string{"anthropic-version", "2023-06-01"}, 200, `"has_more":false,"first_id":"m1","last_id":"m2"}`},
		{"unknown openai", "POST", "/v1/completions", "{}", nil, 404, `"message": "Invalid URL (POST /v1/completions)"`},
		{"unknown anthropic", "POST", "/v1/files", "{}", []string{"anthropic-version", "2023-06-01"}, 404, `"not_found_error"`},
		{"bad json", "POST", "/v1/messages", "{", nil, 400, `"invalid_request_error"`},
		{"get messages", "GET", "/v1/messages", "", nil, 405, `"invalid_request_error"`},
		{"post models", "POST", "/v1/models", "{}", nil, 405, `"invalid_request_error"`},
	}
	for _, tt := range tests {
		res, body := call(t, tt.method, srv.URL()+tt.path, tt.body, tt.header...)
		if res.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want %d containing %s", tt.name, res.StatusCode, body, tt.status, tt.want)
		}
		if !json.Valid([]byte(body)) {
			t.Errorf("%s: body is not JSON: %s", tt.name, body)
		}
	}
}

func TestReplyHeaders(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "x", Header: http.Header{
		"anthropic-ratelimit-requests-remaining": {"41"},
	}}))
	defer srv.Close()
	res, _ := post(t, srv.URL()+"/v1/messages", messagesStream)
	if got := res.Header.Get("Anthropic-Ratelimit-Requests-Remaining"); got != "41" {
		t.Errorf("extra header %q", got)
	}
}
