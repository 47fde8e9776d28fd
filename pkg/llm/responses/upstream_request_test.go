package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

func TestChatToResponsesRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		model     string
		want      map[string]string // gjson path → its raw JSON; "" for absent
		wantDrops []string
	}{
		{
			name: "plain",
			body: `{"model":"gpt-5-codex","messages":[{"role":"user","content":"Hi"}]}`,
			want: map[string]string{
				"model": `"gpt-5-codex"`, "store": `false`, "stream": ``, "instructions": ``,
				"input": `[{"type":"message","role":"user","content":"Hi"}]`, "include": `["reasoning.encrypted_content"]`,
			},
		},
		{
			name: "not a reasoning model",
			body: `{"model":"gpt-4.1","messages":[],"temperature":0.5,"top_p":0.5}`,
			want: map[string]string{"include": ``, "temperature": `0.5`, "top_p": `0.5`},
		},
		{
			name:      "reasoning models take no temperature",
			body:      `{"model":"claude-sonnet-4-5","messages":[],"temperature":1,"top_p":0.9,"reasoning_effort":"none"}`,
			model:     "openai/gpt-5.1",
			want:      map[string]string{"include": ``, "temperature": ``, "top_p": ``, "reasoning": `{"effort":"none"}`},
			wantDrops: []string{"temperature", "top_p"},
		},
		{
			name:  "model option",
			body:  `{"model":"codex","messages":[]}`,
			model: "gpt-5.1-codex",
			want:  map[string]string{"model": `"gpt-5.1-codex"`, "input": `[]`},
		},
		{
			name: "system and developer messages stay in place",
			body: `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"developer","content":[{"type":"text","text":"Now in French."}]},{"role":"user","content":"Again"}]}`,
			want: map[string]string{
				"input.0":         `{"type":"message","role":"system","content":"Be brief."}`,
				"input.2":         `{"type":"message","role":"developer","content":[{"type":"input_text","text":"Now in French."}]}`,
				"input.3.content": `"Again"`,
			},
		},
		{
			name: "user parts",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"high"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBER","filename":"a.pdf"}},{"type":"file","file":{"file_id":"file-1"}},{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}}]}]}`,
			want: map[string]string{
				"input.0.content": `[{"type":"input_text","text":"What is this?"},{"type":"input_image","image_url":"https://example.com/a.png","detail":"auto"},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"high"},{"type":"input_file","file_data":"data:application/pdf;base64,JVBER","filename":"a.pdf"},{"type":"input_file","file_id":"file-1"},{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}}]`,
			},
		},
		{
			name: "tool loop",
			body: `{"model":"m","messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":"Checking.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"now","arguments":""}}]},{"role":"tool","tool_call_id":"call_1","content":"18°C"},{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"12:00"}]},{"role":"assistant","content":null,"refusal":"No."}]}`,
			want: map[string]string{
				"input.1": `{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]}`,
				"input.2": `{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}`,
				"input.3": `{"type":"function_call","call_id":"call_2","name":"now","arguments":"{}"}`,
				"input.4": `{"type":"function_call_output","call_id":"call_1","output":"18°C"}`,
				"input.5": `{"type":"function_call_output","call_id":"call_2","output":"12:00"}`,
				"input.6": `{"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"No."}]}`,
			},
		},
		{
			name: "tools and choice",
			body: `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"a","description":"A.","parameters":{"type":"object","properties":{}}}},{"type":"function","function":{"name":"b","parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"],"additionalProperties":false},"strict":true}},{"type":"function","function":{"name":"c"}}],"tool_choice":{"type":"function","function":{"name":"b"}},"parallel_tool_calls":false}`,
			want: map[string]string{
				"tools.0":             `{"type":"function","name":"a","description":"A.","parameters":{"type":"object","properties":{}},"strict":false}`,
				"tools.1.strict":      `true`,
				"tools.2.parameters":  `{"type":"object","properties":{}}`,
				"tool_choice":         `{"type":"function","name":"b"}`,
				"parallel_tool_calls": `false`,
			},
		},
		{
			name: "tool choice mode",
			body: `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"required"}`,
			want: map[string]string{"tool_choice": `"required"`},
		},
		{
			name: "allowed tools",
			body: `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"a"}}]}}}`,
			want: map[string]string{"tool_choice": `{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"a"}]}`},
		},
		{
			name: "parallel_tool_calls without tools",
			body: `{"model":"m","messages":[],"parallel_tool_calls":true}`,
			want: map[string]string{"parallel_tool_calls": ``},
		},
		{
			name: "settings",
			body: `{"model":"m","messages":[],"max_completion_tokens":4096,"max_tokens":100,"temperature":0.2,"top_p":0.9,"reasoning_effort":"high","verbosity":"low","response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}},"user":"u1","safety_identifier":"s1","prompt_cache_key":"k1","service_tier":"flex","metadata":{"a":"b"},"store":false,"stream":true,"stream_options":{"include_usage":true}}`,
			want: map[string]string{
				"max_output_tokens": `4096`, "temperature": `0.2`, "top_p": `0.9`,
				"reasoning": `{"effort":"high"}`,
				"text":      `{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true},"verbosity":"low"}`,
				"include":   `["reasoning.encrypted_content"]`,
				"user":      `"u1"`, "safety_identifier": `"s1"`, "prompt_cache_key": `"k1"`, "service_tier": `"flex"`,
				"metadata": `{"a":"b"}`, "store": `false`, "stream": `true`, "stream_options": ``,
			},
		},
		{
			name: "max_tokens below the minimum",
			body: `{"model":"m","messages":[],"max_tokens":1,"response_format":{"type":"json_object"}}`,
			want: map[string]string{"max_output_tokens": `16`, "text": `{"format":{"type":"json_object"}}`},
		},
		{
			name: "dropped",
			body: `{"model":"m","messages":[{"role":"user","name":"bob","content":"Hi"}],"n":2,"seed":1,"logit_bias":{"50256":-100},"presence_penalty":0.5,"frequency_penalty":0.5,"stop":["END"],"logprobs":true,"top_logprobs":3,"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"},"prediction":{"type":"content","content":"x"},"web_search_options":{},"store":true,"functions":[{"name":"f"}]}`,
			want: map[string]string{"n": ``, "seed": ``, "stop": ``, "audio": ``, "prediction": ``, "store": `false`},
			wantDrops: []string{"n", "seed", "logit_bias", "presence_penalty", "frequency_penalty", "stop", "logprobs",
				"top_logprobs", "modalities", "store", "audio", "functions", "prediction", "web_search_options", "name"},
		},
		{
			name: "defaults are not drops",
			body: `{"model":"m","messages":[],"n":1,"presence_penalty":0,"logprobs":false,"modalities":["text"],"logit_bias":null,"store":false}`,
		},
		{
			name:      "reasoning content is dropped",
			body:      `{"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello.","reasoning_content":"The user greets me."}]}`,
			want:      map[string]string{"input.#": `2`, "include": ``},
			wantDrops: []string{"reasoning_content"},
		},
		{
			name: "encrypted reasoning is handed back",
			body: `{"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello.","reasoning_content":"Greeting.","reasoning_details":[{"type":"reasoning.summary","summary":"Greeting.","id":"rs_1","format":"openai-responses-v1","index":0},{"type":"reasoning.encrypted","data":"gAAAA1","id":"rs_1","format":"openai-responses-v1","index":1}]}]}`,
			want: map[string]string{
				"input.1": `{"type":"reasoning","summary":[{"type":"summary_text","text":"Greeting."}],"encrypted_content":"gAAAA1"}`,
				"input.2": `{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello."}]}`,
				"include": `["reasoning.encrypted_content"]`,
			},
		},
		{
			name:      "another provider's reasoning is dropped",
			body:      `{"model":"m","messages":[{"role":"assistant","content":"Hello.","reasoning_details":[{"type":"reasoning.text","text":"Hmm.","signature":"EqQB","format":"anthropic-claude-v1"},{"type":"reasoning.encrypted","data":"EmwK","format":"anthropic-claude-v1"}]}]}`,
			want:      map[string]string{"input.#": `1`, "include": ``},
			wantDrops: []string{"reasoning_details"},
		},
		{
			name:      "custom tools are dropped with their calls",
			body:      `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"call_c","type":"custom","custom":{"name":"patch","input":"x"}}]},{"role":"tool","tool_call_id":"call_c","content":"ok"}],"tools":[{"type":"custom","custom":{"name":"patch"}}],"tool_choice":{"type":"custom","custom":{"name":"patch"}}}`,
			want:      map[string]string{"input": `[]`, "tools": ``, "tool_choice": ``},
			wantDrops: []string{"custom", "tool_choice.custom", "tool_calls.custom"},
		},
		{
			name:      "function role",
			body:      `{"model":"m","messages":[{"role":"function","name":"f","content":"1"}]}`,
			want:      map[string]string{"input": `[]`},
			wantDrops: []string{"name", "role.function"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dropped llm.Dropped
			out, err := ChatToResponsesRequest([]byte(tc.body), llm.Options{Model: tc.model, Dropped: &dropped})
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(out) {
				t.Fatalf("not JSON: %s", out)
			}
			for path, want := range tc.want {
				if got := gjson.GetBytes(out, path).Raw; got != want {
					t.Errorf("%s = %s, want %s", path, got, want)
				}
			}
			got := slices.Clone(dropped.Names())
			slices.Sort(got)
			want := slices.Clone(tc.wantDrops)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("dropped %q, want %q", got, want)
			}
			if t.Failed() {
				t.Logf("output: %s", out)
			}
		})
	}
}

func TestChatToResponsesRequestRefuses(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `{"messages":{}}`, `{"messages":[{"role":"user","content":5}]}`} {
		if _, err := ChatToResponsesRequest([]byte(body), llm.Options{}); !errors.Is(err, llm.ErrInvalid) {
			t.Errorf("%s: error %v, want llm.ErrInvalid", body, err)
		}
	}
}

// A conversation sent to a Responses upstream and read back as chat (the way a Responses
// client's request reaches a chat upstream) keeps its roles, texts, tool calls and tool
// outputs.
func TestChatToResponsesRequestRoundTrip(t *testing.T) {
	bodies := []string{
		// Claude Code through Anthropic → Chat: system prompt, a tool loop, parallel calls.
		`{"model":"gpt-5-codex","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":32000,"reasoning_effort":"medium",
		  "messages":[{"role":"system","content":"You are Claude Code."},{"role":"user","content":[{"type":"text","text":"Fix the bug in main.go"}]},
		  {"role":"assistant","content":"Let me look.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"main.go\"}"}},{"id":"toolu_2","type":"function","function":{"name":"Grep","arguments":"{\"pattern\":\"TODO\"}"}}]},
		  {"role":"tool","tool_call_id":"toolu_1","content":"package main"},{"role":"tool","tool_call_id":"toolu_2","content":"main.go:3: TODO"},
		  {"role":"assistant","content":"Fixed."},{"role":"user","content":"Thanks!"}],
		  "tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{"type":"string"}}}}},{"type":"function","function":{"name":"Grep","parameters":{"type":"object","properties":{"pattern":{"type":"string"}}}}}]}`,
		// A chat app: developer message, an image, a tool call without text.
		`{"model":"gpt-5","messages":[{"role":"developer","content":"Answer in French."},{"role":"user","content":[{"type":"text","text":"What is in this picture?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"low"}}]},
		  {"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"describe","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_9","content":"a cat"},{"role":"assistant","content":"Un chat."}],
		  "tools":[{"type":"function","function":{"name":"describe"}}],"tool_choice":"auto"}`,
		// A plain exchange with a mid-conversation system message.
		`{"model":"gpt-4.1","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"system","content":"Be terse."},{"role":"user","content":"Weather?"}]}`,
	}
	for i, body := range bodies {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			up, err := ChatToResponsesRequest([]byte(body), llm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			back, err := ResponsesToChatRequest(up, llm.Options{})
			if err != nil {
				t.Fatalf("%v\n%s", err, up)
			}
			want, got := conversation(t, []byte(body)), conversation(t, back)
			if !slices.Equal(got, want) {
				t.Errorf("conversation changed\n got: %q\nwant: %q\nvia: %s", got, want, up)
			}
			if gjson.GetBytes(back, "model").Str != gjson.Get(body, "model").Str {
				t.Errorf("model %s", gjson.GetBytes(back, "model").Raw)
			}
			if gjson.GetBytes(back, "tools.#").Int() != gjson.Get(body, "tools.#").Int() {
				t.Errorf("tools %s", gjson.GetBytes(back, "tools").Raw)
			}
		})
	}
}

// conversation lists a chat request's messages as role: text, tool calls and tool outputs,
// one line each; system and developer both read "system".
func conversation(t *testing.T, body []byte) []string {
	t.Helper()
	var r openai.ChatRequest
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range r.Messages {
		role := m.Role
		if role == openai.RoleDeveloper {
			role = openai.RoleSystem
		}
		var parts []string
		if m.Content.Parts != nil {
			for _, p := range m.Content.Parts {
				switch p.Type {
				case openai.PartText:
					parts = append(parts, p.Text)
				case openai.PartImageURL:
					parts = append(parts, "image "+p.ImageURL.URL)
				}
			}
		} else if s := m.Content.String(); s != "" {
			parts = append(parts, s)
		}
		line := role + ": " + strings.Join(parts, "")
		for _, tc := range m.ToolCalls {
			line += fmt.Sprintf(" call %s %s(%s)", tc.ID, tc.Function.Name, tc.Function.Arguments)
		}
		if m.ToolCallID != "" {
			line += " answers " + m.ToolCallID
		}
		out = append(out, line)
	}
	return out
}

func BenchmarkChatToResponsesRequest(b *testing.B) {
	body := upRead(b, filepath.Join("testdata", "upstream", "claude_code.request.json"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ChatToResponsesRequest(body, llm.Options{Model: "gpt-5-codex"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChatToResponsesRequestGolden converts each chat request testdata/upstream/<case>.request.json
// and compares the Responses request, indented, with the names dropped, with <case>.upstream.json.
func TestChatToResponsesRequestGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "upstream", "*.request.json"))
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, f := range files {
		base := strings.TrimSuffix(f, ".request.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			var dropped llm.Dropped
			out, err := ChatToResponsesRequest(upRead(t, f), llm.Options{Dropped: &dropped})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := json.Indent(&b, out, "", "  "); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\ndropped: %s\n", dropped.String())
			golden(t, base+".upstream.json", b.Bytes())
		})
	}
}
