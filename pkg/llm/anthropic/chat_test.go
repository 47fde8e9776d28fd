package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

func TestSystemToChatDropsBillingLine(t *testing.T) {
	tests := []struct {
		name string
		sys  string
		want string // "" means no system message
	}{
		{"plain string kept", `"You are terse."`, "You are terse."},
		{"billing block dropped", `[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.0.76; cch=1a2b3;"},{"type":"text","text":"You are Claude Code."}]`, "You are Claude Code."},
		{"billing line dropped", `[{"type":"text","text":"x-anthropic-billing-header: cch=1;\nYou are Claude Code."},{"type":"text","text":"Be brief."}]`, "You are Claude Code.\n\nBe brief."},
		{"billing string dropped", `"x-anthropic-billing-header: cch=1;"`, ""},
		{"line elsewhere kept", `"Quote: x-anthropic-billing-header: a"`, "Quote: x-anthropic-billing-header: a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Content
			if err := json.Unmarshal([]byte(tc.sys), &c); err != nil {
				t.Fatal(err)
			}
			msg, ok := toChat{}.system(c)
			if ok != (tc.want != "") || (ok && msg.Content.String() != tc.want) {
				t.Errorf("got %v %q, want %q", ok, msg.Content.String(), tc.want)
			}
		})
	}
}

func TestURLSource(t *testing.T) {
	tests := []struct {
		url     string
		want    Source
		wantErr bool
	}{
		{"data:image/png;base64,iVBORw0KGgo=", Source{Type: SourceBase64, MediaType: "image/png", Data: "iVBORw0KGgo="}, false},
		{"https://example.com/a.jpg", Source{Type: SourceURL, URL: "https://example.com/a.jpg"}, false},
		{"data:text/plain,hello", Source{}, true},
		{"data:;base64,AAAA", Source{}, true},
		{"", Source{}, true},
	}
	for _, tc := range tests {
		got, err := urlSource(tc.url)
		if (err != nil) != tc.wantErr || (err == nil && *got != tc.want) {
			t.Errorf("%q: got %+v, %v", tc.url, got, err)
		}
	}
}

func TestIsReasoningModel(t *testing.T) {
	for model, want := range map[string]bool{
		"gpt-5": true, "gpt-5-mini": true, "gpt-5.1-codex": true, "o3": true, "o4-mini": true,
		"openai/o1-preview": true, "gpt-4o": false, "gpt-4.1": false, "o": false, "ollama/qwen3": false,
		"claude-opus-4-5": false, "gpt-50x": false,
	} {
		if got := llm.IsReasoningModel(model); got != want {
			t.Errorf("%s: %v, want %v", model, got, want)
		}
	}
}

func TestContentBlockMarshalKeepsRequiredMembers(t *testing.T) {
	tests := []struct {
		block ContentBlock
		want  string
	}{
		{ContentBlock{Type: BlockText}, `{"type":"text","text":""}`},
		{ContentBlock{Type: BlockToolUse, ID: "toolu_1", Name: "f"}, `{"type":"tool_use","id":"toolu_1","name":"f","input":{}}`},
		{ContentBlock{Type: BlockThinking}, `{"type":"thinking","thinking":"","signature":""}`},
		{ContentBlock{Type: BlockText, Text: "<b>&</b>"}, `{"type":"text","text":"<b>&</b>"}`},
		{ContentBlock{Type: BlockToolResult, ToolUseID: "t", Content: &Content{Text: new("ok")}}, `{"type":"tool_result","tool_use_id":"t","content":"ok"}`},
	}
	for _, tc := range tests {
		b, err := llm.Marshal(tc.block)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s, %v; want %s", b, err, tc.want)
		}
	}
}

func TestJSONScan(t *testing.T) {
	tests := []struct {
		pieces []string
		want   bool
	}{
		{[]string{`{"a":`, `1}`}, true},
		{[]string{`{"a":"}"`}, false},
		{[]string{`{"a":"\"}"`, `}`}, true},
		{[]string{`{"a":[1,{"b":2}]`, `}  `}, true},
		{[]string{`{}`, ` x`}, false},
		{[]string{`"str"`}, false},
		{[]string{``}, false},
		{[]string{`}{`}, false},
	}
	for _, tc := range tests {
		var j jsonScan
		for _, p := range tc.pieces {
			j.feed(p)
		}
		if j.complete() != tc.want {
			t.Errorf("%q: complete %v, want %v", tc.pieces, j.complete(), tc.want)
		}
	}
}

func TestEstimateInputTokens(t *testing.T) {
	text := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"` + strings.Repeat("word ", 300) + `"}]}`
	img := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` +
		strings.Repeat("A", 3_000_000) + `"}},{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}]}`
	tests := []struct {
		name     string
		body     string
		min, max int64
	}{
		// 300 words are about 300 tokens; the estimate must not be lower.
		{"text", text, 300, 700},
		// Two images cost at most 2×1600 tokens, however large their data.
		{"images", img, 2 * imageTokens, 2*imageTokens + 200},
		{"not JSON", "{{{{", 1, 3},
	}
	for _, tc := range tests {
		if got := EstimateInputTokens([]byte(tc.body)); got < tc.min || got > tc.max {
			t.Errorf("%s: %d, want between %d and %d", tc.name, got, tc.min, tc.max)
		}
	}
}

// EventUsage reads a converted stream's usage, which reports the cached tokens in
// message_delta rather than message_start.
func TestEventUsage(t *testing.T) {
	tests := []struct {
		name   string
		events []sse.Event
		want   llm.Usage
	}{
		{
			name: "anthropic",
			events: []sse.Event{
				{Event: EventMessageStart, Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":2,"cache_creation_input_tokens":4569,"cache_read_input_tokens":9490,"output_tokens":1}}}`)},
				{Event: EventMessageDelta, Data: []byte(`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"input_tokens":2,"cache_creation_input_tokens":4569,"cache_read_input_tokens":9490,"output_tokens":86}}`)},
			},
			want: llm.Usage{InputTokens: 14061, OutputTokens: 86, CacheReadTokens: 9490, CacheCreateTokens: 4569},
		},
		{
			name: "output only in message_delta",
			events: []sse.Event{
				{Event: EventMessageStart, Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}`)},
				{Event: EventMessageDelta, Data: []byte(`{"type":"message_delta","usage":{"output_tokens":15}}`)},
			},
			want: llm.Usage{InputTokens: 25, OutputTokens: 15},
		},
		{
			name: "converted: estimate first, cache in message_delta",
			events: []sse.Event{
				{Event: EventMessageStart, Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":199,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}`)},
				{Event: EventMessageDelta, Data: []byte(`{"type":"message_delta","usage":{"input_tokens":1174,"cache_creation_input_tokens":0,"cache_read_input_tokens":9984,"output_tokens":5}}`)},
			},
			want: llm.Usage{InputTokens: 11158, OutputTokens: 5, CacheReadTokens: 9984},
		},
	}
	for _, tc := range tests {
		var u llm.Usage
		for _, ev := range tc.events {
			EventUsage(ev, &u)
		}
		if u != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, u, tc.want)
		}
	}
}

// A tool call's arguments split anywhere, even inside escapes, come out whole.
func TestChatToMessagesStreamArgumentSplits(t *testing.T) {
	args := `{"path":"a\"b\\c","n":[1,{"x":"}"}]}`
	for cut := 0; cut <= len(args); cut++ {
		s := NewChatToMessagesStream([]byte(`{"model":"m"}`))
		chunks := []string{
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}`,
			chunkArgs(0, args[:cut]),
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}`,
			chunkArgs(0, args[cut:]),
			`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		}
		var got [2]strings.Builder
		for _, c := range append(chunks, "[DONE]") {
			evs, err := s.Next(sse.Event{Data: []byte(c)})
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			for _, ev := range evs {
				var d ContentBlockDeltaEvent
				if ev.Event == EventContentBlockDelta && json.Unmarshal(ev.Data, &d) == nil {
					got[d.Index].WriteString(d.Delta.PartialJSON)
				}
			}
		}
		if got[0].String() != args || got[1].String() != "{}" {
			t.Errorf("cut %d: got %q and %q", cut, got[0].String(), got[1].String())
		}
	}
}

func chunkArgs(i int, args string) string {
	b, _ := json.Marshal(args)
	return `{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":` + string(rune('0'+i)) + `,"function":{"arguments":` + string(b) + `}}]}}]}`
}
