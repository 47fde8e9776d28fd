package responses

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		body string
		sum  llm.Summary
		want []string // Validate's problems
		chat []string // Convertible's, when they differ
	}{
		{
			name: "string input",
			body: `{"model":"gpt-4.1","input":"hi","stream":true}`,
			sum:  llm.Summary{Model: "gpt-4.1", Stream: true},
		},
		{
			name: "codex-like items",
			body: `{"model":"gpt-5-codex","instructions":"x","input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"d"}]},{"role":"user","content":"u"},{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"s"}],"encrypted_content":"e"},{"type":"function_call","call_id":"c","name":"shell","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"shell","parameters":{"type":"object"},"strict":false}],"tool_choice":"auto","parallel_tool_calls":false,"store":false,"stream":true,"include":["reasoning.encrypted_content"],"prompt_cache_key":"k","reasoning":{"effort":"medium","summary":"auto"},"text":{"verbosity":"low"},"client_metadata":{"x":"y"}}`,
			sum:  llm.Summary{Model: "gpt-5-codex", Stream: true},
		},
		{
			name: "not JSON",
			body: `{"model":"m",`,
			want: []string{"the body is not valid JSON"},
		},
		{
			name: "not UTF-8",
			body: "{\"model\":\"\xff\",\"input\":\"x\"}",
			want: []string{"the body is not valid UTF-8"},
		},
		{
			name: "not an object",
			body: `["model"]`,
			want: []string{"the body must be a JSON object"},
		},
		{
			name: "missing model and input",
			body: `{}`,
			want: []string{"model: is required", "input: is required"},
		},
		{
			name: "wrong types everywhere",
			body: `{"model":5,"input":{"a":1},"stream":"yes","temperature":"hot","max_output_tokens":1.5,"top_p":2,"tools":{},"tool_choice":7,"metadata":{"a":1},"instructions":[]}`,
			want: []string{
				"model: must be a string, not a number",
				"stream: must be true or false, not a string",
				"input: must be a string or an array of items, not an object",
				"instructions: must be a string, not an array",
				"tools: must be an array, not an object",
				"tool_choice: must be a string or an object, not a number",
				"max_output_tokens: must be an integer, not a number",
				"temperature: must be a number, not a string",
				"top_p: must be between 0 and 1, not 2",
				"metadata.a: must be a string, not a number",
			},
		},
		{
			name: "objects that are not",
			body: `{"model":"m","input":"x","metadata":"a","reasoning":[],"text":{"format":"json"}}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{
				"metadata: must be an object, not a string",
				"reasoning: must be an object, not an array",
				"text.format: must be an object, not a string",
			},
		},
		{
			name: "text not an object",
			body: `{"model":"m","input":"x","metadata":null,"text":1}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{"text: must be an object, not a number"},
		},
		{
			name: "bad items",
			body: `{"model":"m","input":[1,{"role":"tool","content":"x"},{"type":"message","content":"x"},{"type":"function_call","name":"f"},{"type":"function_call_output","call_id":""},{"type":"computer_call"},{"content":"no type"},{"role":"user","content":[{"type":"output_image"},{"type":"input_image","file_id":"file_1"},{"type":"input_text"}]},{"role":"assistant","content":[{"type":"input_image","image_url":"https://x"}]}]}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{
				"input[0]: must be an object, not a number",
				"input[2].role: is required",
				"input[3].call_id: is required",
				"input[3].arguments: is required",
				"input[4].call_id: must not be empty",
				"input[4].output: is required",
				"input[6].type: is required",
				"input[7].content[2].text: is required",
			},
			chat: []string{
				"input[0]: must be an object, not a number",
				`input[1].role: "tool" has no counterpart in a chat conversation`,
				"input[2].role: is required",
				"input[3].call_id: is required",
				"input[3].arguments: is required",
				"input[4].call_id: must not be empty",
				"input[4].output: is required",
				"input[6].type: is required",
				"input[7].content[1].file_id: an uploaded image cannot be sent to a chat upstream; send it as image_url (an https or data: URL)",
				"input[7].content[2].text: is required",
			},
		},
		{
			name: "what needs storage",
			body: `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}],"previous_response_id":"resp_1","conversation":"conv_1","background":true,"prompt":{"id":"pmpt_1"}}`,
			sum:  llm.Summary{Model: "m"},
			chat: []string{
				"input[0]: item_reference cannot be converted: only the upstream that stored the item can read it; send the item itself",
				"previous_response_id: not supported: lynkr does not store responses; send the whole conversation in input (store:false)",
				"conversation: not supported: lynkr does not store conversations; send the whole conversation in input",
				"background: not supported: lynkr does not store responses to poll later; leave background false",
				"prompt: stored prompt templates are not supported; send instructions and input",
			},
		},
		{
			name: "tools and tool choice",
			body: `{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":"{}"},{"type":"function","name":"f"},{"type":"web_search"},{"type":"function"},{"type":"namespace","name":"ns","tools":[{"type":"function","name":"a"},{"type":"function"}]},{"type":"namespace","tools":{}}],"tool_choice":{"type":"function","name":"g"}}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{
				"tools[0].parameters: must be a JSON Schema object, not a string",
				`tools[1].name: "f" names two tools`,
				"tools[3].name: is required",
				"tools[4].tools[1].name: is required",
				"tools[5].name: is required",
				"tools[5].tools: must be an array of tools, not an object",
				`tool_choice.name: "g" is not one of the tools`,
			},
		},
		{
			name: "allowed tools",
			body: `{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"allowed_tools","mode":"sometimes","tools":[{"type":"function","name":"f"},{"type":"function","name":"h"}]}}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{
				`tool_choice.tools[1].name: "h" is not one of the tools`,
			},
		},
		{
			name: "text format",
			body: `{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":[]}}}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{"text.format.name: is required", "text.format.schema: must be a JSON Schema object"},
		},
		{
			name: "duplicate and case-folded members",
			body: `{"model":"a","Model":"b","input":"x","input":"y","stream":true}`,
			sum:  llm.Summary{Model: "a", Stream: true},
			want: []string{
				`body: member "Model" is not known; did you mean "model"?`,
				`body: member "input" is given twice`,
			},
		},
		{
			name: "calls and outputs pair up",
			body: `{"model":"m","input":[{"type":"function_call_output","call_id":"early","output":"x"},{"type":"function_call","call_id":"a","name":"f","arguments":"{}"},{"type":"function_call","call_id":"b","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"b","output":"y"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]}`,
			sum:  llm.Summary{Model: "m"},
			chat: []string{
				`input[0].call_id: no function_call before this output has call_id "early"`,
				`input[1]: function_call "a" has no function_call_output after it; chat models need the result of every call`,
				`input[4]: function_call "c" has no function_call_output after it; chat models need the result of every call`,
			},
		},
		{
			name: "empty input",
			body: `{"model":"m","input":[]}`,
			sum:  llm.Summary{Model: "m"},
			want: []string{"input: must not be empty"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, got := Validate([]byte(tc.body))
			if sum != tc.sum {
				t.Errorf("summary %+v, want %+v", sum, tc.sum)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			want := tc.chat
			if want == nil {
				want = tc.want
			}
			if got := Convertible([]byte(tc.body)); !slices.Equal(got, want) {
				t.Errorf("Convertible:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Every request in testdata is valid.
func TestValidateTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.req.json")
	more, _ := filepath.Glob("testdata/request/*.json")
	for _, f := range append(files, more...) {
		if strings.HasSuffix(f, ".chat.json") || strings.HasPrefix(f, filepath.Join("testdata", "upstream")) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, problems := Validate(b); len(problems) > 0 {
			t.Errorf("%s: %v", f, problems)
		}
	}
}

func TestValidateBoundsTheList(t *testing.T) {
	var items []string
	for range 500 {
		items = append(items, `{"type":5}`)
	}
	_, got := Validate(fmt.Appendf(nil, `{"model":"m","input":[%s]}`, strings.Join(items, ",")))
	if len(got) != maxProblems+1 || got[maxProblems] != "and 900 more problems" {
		t.Errorf("%d problems, last %q", len(got), got[len(got)-1])
	}
}

func BenchmarkValidate(b *testing.B) {
	body, err := os.ReadFile("testdata/request/codex_turn.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, problems := Validate(body); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

func BenchmarkResponsesToChatRequest(b *testing.B) {
	body, err := os.ReadFile("testdata/request/codex_turn.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ResponsesToChatRequest(body, llm.Options{Model: "upstream"}); err != nil {
			b.Fatal(err)
		}
	}
}
