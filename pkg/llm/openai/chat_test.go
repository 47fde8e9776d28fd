package openai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

// The known-member lists must name exactly the JSON fields of their structs, or a member
// would be kept twice or lost on a round trip.
func TestKnownKeysMatchFields(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		known func(string) bool
		n     int
	}{
		{reflect.TypeFor[ChatRequest](), isChatRequestKey, 0},
		{reflect.TypeFor[ChatMessage](), isChatMessageKey, 0},
		{reflect.TypeFor[EmbeddingsRequest](), isEmbeddingsRequestKey, 0},
	} {
		for f := range tc.typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if !tc.known(name) {
				t.Errorf("%s: field %s (%q) is not a known key", tc.typ, f.Name, name)
			}
		}
		if tc.known("surely_not_a_field") {
			t.Errorf("%s: unknown key reported known", tc.typ)
		}
	}
}

func TestChatRequestRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "string content and stop string",
			in:   `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stop":"\n\n"}`,
			want: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stop":["\n\n"]}`,
		},
		{
			name: "unknown members kept",
			in:   `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}],"x_msg":1}],"top_k":40,"chat_template_kwargs":{"thinking":true}}`,
			want: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}],"x_msg":1}],"chat_template_kwargs":{"thinking":true},"top_k":40}`,
		},
		{
			name: "tool choice object and tool calls",
			in:   `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"ok"}],"tool_choice":{"type":"function","function":{"name":"f"}},"stream":true,"stream_options":{"include_usage":true}}`,
			want: `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"ok","tool_call_id":"call_1"}],"stream":true,"stream_options":{"include_usage":true},"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r ChatRequest
			if err := json.Unmarshal([]byte(tc.in), &r); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

func TestToolChoice(t *testing.T) {
	tests := []struct {
		in         string
		mode, name string
	}{
		{`"auto"`, "auto", ""},
		{`"required"`, "required", ""},
		{`{"type":"function","function":{"name":"get_weather"}}`, "", "get_weather"},
		{`{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}`, "", ""},
	}
	for _, tc := range tests {
		var c ToolChoice
		if err := json.Unmarshal([]byte(tc.in), &c); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if c.Mode != tc.mode || c.Name != tc.name {
			t.Errorf("%s: got mode %q name %q", tc.in, c.Mode, c.Name)
		}
		out, _ := json.Marshal(c)
		if string(out) != tc.in {
			t.Errorf("%s: re-encoded as %s", tc.in, out)
		}
	}
	var c ToolChoice
	if err := json.Unmarshal([]byte(`3`), &c); err == nil {
		t.Error("number tool_choice accepted")
	}
}

func TestChatResponseUsage(t *testing.T) {
	tests := []struct {
		body string
		want llm.Usage
	}{
		{`{"usage":{"prompt_tokens":11158,"completion_tokens":180,"total_tokens":11338,"prompt_tokens_details":{"cached_tokens":3456,"audio_tokens":0}}}`,
			llm.Usage{InputTokens: 11158, OutputTokens: 180, CacheReadTokens: 3456}},
		{`{"usage":{"prompt_tokens":24,"completion_tokens":41,"total_tokens":65,"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":16,"prompt_cache_miss_tokens":8}}`,
			llm.Usage{InputTokens: 24, OutputTokens: 41, CacheReadTokens: 16}},
		{`{"id":"x"}`, llm.Usage{}},
	}
	for _, tc := range tests {
		if got := ChatResponseUsage([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.body, got, tc.want)
		}
		var r ChatResponse
		if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
			t.Fatal(err)
		}
		if r.Usage != nil && r.Usage.LLM() != tc.want {
			t.Errorf("%s: Usage.LLM %+v, want %+v", tc.body, r.Usage.LLM(), tc.want)
		}
	}
}

func TestContentPartKeepsEmptyText(t *testing.T) {
	for _, tc := range []struct {
		part ContentPart
		want string
	}{
		{ContentPart{Type: PartText}, `{"type":"text","text":""}`},
		{ContentPart{Type: PartRefusal}, `{"type":"refusal","refusal":""}`},
		{ContentPart{Type: PartText, Text: "a<b"}, `{"type":"text","text":"a<b"}`},
		{ContentPart{Type: PartImageURL, ImageURL: &ImageURL{URL: "https://x/y.png"}}, `{"type":"image_url","image_url":{"url":"https://x/y.png"}}`},
	} {
		b, err := llm.Marshal(tc.part)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s, %v; want %s", b, err, tc.want)
		}
	}
}
