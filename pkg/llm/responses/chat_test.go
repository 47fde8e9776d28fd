package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// indent returns b indented, with a final newline, the form of the golden JSON files.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestResponsesToChatRequestGolden(t *testing.T) {
	for _, name := range []string{"codex_turn", "string_input", "images", "tool_choice_schema", "allowed_tools", "custom_tools"} {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join("testdata", "request", name)
			body, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := ResponsesToChatRequest(body, llm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, base+".chat.json", indent(t, got))
		})
	}
}

func TestChatToResponsesResponseGolden(t *testing.T) {
	tests := []struct {
		name      string
		wantUsage llm.Usage
	}{
		{"text", llm.Usage{InputTokens: 2048, OutputTokens: 7, CacheReadTokens: 1920}},
		{"tool_calls", llm.Usage{InputTokens: 91, OutputTokens: 52}},
		{"length", llm.Usage{InputTokens: 14, OutputTokens: 16}},
		{"reasoning", llm.Usage{InputTokens: 10, OutputTokens: 40}},
		{"citations", llm.Usage{InputTokens: 9, OutputTokens: 30}},
		{"no_call_id", llm.Usage{InputTokens: 151, OutputTokens: 18}},
		{"custom_tool_call", llm.Usage{InputTokens: 800, OutputTokens: 40}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join("testdata", "response", tc.name)
			req, err := os.ReadFile(base + ".req.json")
			if err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(base + ".chat.json")
			if err != nil {
				t.Fatal(err)
			}
			got, usage, err := chatToResponse(req, body, seeded())
			if err != nil {
				t.Fatal(err)
			}
			if usage != tc.wantUsage {
				t.Errorf("usage %+v, want %+v", usage, tc.wantUsage)
			}
			golden(t, base+".out.json", indent(t, got))
		})
	}
}

// TestResponsesToChatRequest checks the choices the conversion makes, one at a time.
func TestResponsesToChatRequest(t *testing.T) {
	tests := []struct {
		name, body, model string
		want              map[string]string // gjson path in the chat request → raw JSON
	}{
		{
			name:  "model argument replaces the client's",
			body:  `{"model":"gpt-5-codex","input":"hi"}`,
			model: "claude-sonnet-4-5",
			want:  map[string]string{"model": `"claude-sonnet-4-5"`, "messages": `[{"role":"user","content":"hi"}]`},
		},
		{
			name: "empty model argument keeps the client's",
			body: `{"model":"gpt-5-codex","input":"hi"}`,
			want: map[string]string{"model": `"gpt-5-codex"`},
		},
		{
			name: "stream asks for usage",
			body: `{"model":"m","input":"hi","stream":true}`,
			want: map[string]string{"stream": `true`, "stream_options": `{"include_usage":true}`},
		},
		{
			name: "no stream, no stream options",
			body: `{"model":"m","input":"hi","stream":false}`,
			want: map[string]string{"stream": ``, "stream_options": ``},
		},
		{
			name: "max_output_tokens becomes max_completion_tokens",
			body: `{"model":"m","input":"hi","max_output_tokens":100}`,
			want: map[string]string{"max_completion_tokens": `100`, "max_tokens": ``},
		},
		{
			name: "instructions and developer messages join in one system message",
			body: `{"model":"m","instructions":"A","input":[{"role":"developer","content":"B"},{"role":"user","content":"C"},{"role":"system","content":[{"type":"input_text","text":"D"},{"type":"input_text","text":"E"}]}]}`,
			want: map[string]string{"messages": `[{"role":"system","content":"A\n\nB"},{"role":"user","content":"C"},{"role":"system","content":"D\nE"}]`},
		},
		{
			name: "function calls after an assistant message join it",
			body: `{"model":"m","input":[{"role":"user","content":"go"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call","call_id":"c2","name":"g","arguments":"{\"a\":1}"},{"type":"function_call_output","call_id":"c1","output":"r1"},{"type":"function_call_output","call_id":"c2","output":"r2"}]}`,
			want: map[string]string{
				"messages.#":   `4`,
				"messages.1":   `{"role":"assistant","content":"ok","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":"{\"a\":1}"}}]}`,
				"messages.2":   `{"role":"tool","content":"r1","tool_call_id":"c1"}`,
				"messages.3":   `{"role":"tool","content":"r2","tool_call_id":"c2"}`,
				"tools":        ``,
				"tool_choice":  ``,
				"instructions": ``,
			},
		},
		{
			name: "a function call after a tool output starts a new assistant message",
			body: `{"model":"m","input":[{"role":"user","content":"go"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"r1"},{"type":"function_call","call_id":"c2","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c2","output":"r2"}]}`,
			want: map[string]string{
				"messages.#":                 `5`,
				"messages.1.role":            `"assistant"`,
				"messages.1.content":         `null`,
				"messages.3.tool_calls.0.id": `"c2"`,
			},
		},
		{
			name: "reasoning text goes to the next assistant message, summaries do not",
			body: `{"model":"m","input":[{"role":"user","content":"q"},{"type":"reasoning","summary":[{"type":"summary_text","text":"S"}],"content":[{"type":"reasoning_text","text":"R"}],"encrypted_content":"x"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}]}`,
			want: map[string]string{"messages.1.reasoning_content": `"R"`, "messages.#": `3`},
		},
		{
			name: "summary-only reasoning adds nothing",
			body: `{"model":"m","input":[{"role":"user","content":"q"},{"type":"reasoning","summary":[{"type":"summary_text","text":"S"}],"encrypted_content":"x"},{"role":"assistant","content":"a"}]}`,
			want: map[string]string{"messages.1": `{"role":"assistant","content":"a"}`},
		},
		{
			name: "parallel_tool_calls only with tools",
			body: `{"model":"m","input":"hi","parallel_tool_calls":false}`,
			want: map[string]string{"parallel_tool_calls": ``},
		},
		{
			name: "tools become function tools",
			body: `{"model":"m","input":"hi","parallel_tool_calls":false,"tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true}],"tool_choice":"required"}`,
			want: map[string]string{
				"tools":               `[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}]`,
				"parallel_tool_calls": `false`,
				"tool_choice":         `"required"`,
			},
		},
		{
			name: "null parameters are left out",
			body: `{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":null}]}`,
			want: map[string]string{"tools": `[{"type":"function","function":{"name":"f"}}]`},
		},
		{
			name: "custom tool choice names its function",
			body: `{"model":"m","input":"hi","tools":[{"type":"custom","name":"apply_patch"}],"tool_choice":{"type":"custom","name":"apply_patch"}}`,
			want: map[string]string{
				"tool_choice":                          `{"type":"function","function":{"name":"apply_patch"}}`,
				"tools.0.function.parameters.required": `["input"]`,
				"tools.0.function.description":         ``,
			},
		},
		{
			name: "store and metadata stay with lynkr",
			body: `{"model":"m","input":"hi","store":true,"metadata":{"a":"b"}}`,
			want: map[string]string{"store": ``, "metadata": ``},
		},
		{
			name: "reasoning effort and verbosity",
			body: `{"model":"m","input":"hi","reasoning":{"effort":"low","summary":"auto"},"text":{"verbosity":"low","format":{"type":"text"}}}`,
			want: map[string]string{"reasoning_effort": `"low"`, "verbosity": `"low"`, "response_format": ``},
		},
		{
			name: "tool output of text parts",
			body: `{"model":"m","input":[{"role":"user","content":"q"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}]}`,
			want: map[string]string{"messages.2.content": `"a\nb"`, "messages.#": `3`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, problems := Validate([]byte(tc.body)); len(problems) > 0 {
				t.Fatalf("test body is invalid: %v", problems)
			}
			got, err := ResponsesToChatRequest([]byte(tc.body), llm.Options{Model: tc.model})
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.want {
				if raw := gjson.GetBytes(got, path).Raw; raw != want {
					t.Errorf("%s = %s, want %s\nin %s", path, orNone(raw), orNone(want), got)
				}
			}
		})
	}
}

func orNone(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

func TestResponsesToChatRequestRefuses(t *testing.T) {
	tests := []struct {
		name, body, wantText string
	}{
		{"previous_response_id", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`, "previous_response_id: not supported"},
		{"not JSON", `{"model":`, "not valid JSON"},
		{"item_reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "item_reference cannot be converted"},
		{"every problem", `{"input":[{"role":"tool","content":"x"}],"temperature":"hot"}`, "model: is required; input[0].role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResponsesToChatRequest([]byte(tc.body), llm.Options{})
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error %v, want one wrapping llm.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
}

func TestChatToResponsesResponseRefuses(t *testing.T) {
	tests := []struct {
		name, body, wantText string
	}{
		{"not JSON", `{"id":`, "chat completion"},
		{"no choices", `{"id":"x","object":"chat.completion","choices":[]}`, "no choices"},
		{"error body", `{"error":{"message":"Rate limit reached","type":"requests"}}`, "Rate limit reached"},
		{"wrong type", `{"choices":"many"}`, "chat completion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ChatToResponsesResponse([]byte(`{"model":"m","input":"hi"}`), []byte(tc.body))
			if !errors.Is(err, llm.ErrInvalid) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error %v, want one wrapping llm.ErrInvalid that says %q", err, tc.wantText)
			}
		})
	}
}

// Production ids are random: two answers to the same completion differ in their ids only.
func TestChatToResponsesResponseIDs(t *testing.T) {
	body := []byte(`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`)
	a, _, err := ChatToResponsesResponse(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ChatToResponsesResponse(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	ida, idb := gjson.GetBytes(a, "id").String(), gjson.GetBytes(b, "id").String()
	if ida == idb || !strings.HasPrefix(ida, "resp_") || len(ida) != len("resp_")+48 {
		t.Errorf("ids %q and %q", ida, idb)
	}
	if m := gjson.GetBytes(a, "output.0.id").String(); !strings.HasPrefix(m, "msg_") {
		t.Errorf("message id %q", m)
	}
	if gjson.GetBytes(a, "model").String() != "m" || gjson.GetBytes(a, "usage").Raw != "null" {
		t.Errorf("without a request the upstream's model and no usage: %s", a)
	}
}
