package fakeupstream

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCommandArgument(t *testing.T) {
	tests := []struct {
		schema  string
		name    string
		isArray bool
	}{
		{`{"type":"object","properties":{"command":{"type":"string"}}}`, "command", false},
		{`{"type":"object","properties":{"cmd":{"type":"string"},"workdir":{"type":"string"}}}`, "cmd", false},
		{`{"type":"object","properties":{"cmd":{"type":"string"},"command":{"type":"string"}}}`, "command", false},
		{`{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}}}`, "command", true},
		{`{"type":"object","properties":{"command":{"type":["array","null"]}}}`, "command", true},
		{`{"type":"object","properties":{"script":{"type":"string"}}}`, "command", false},
		{``, "command", false},
		{`[1]`, "command", false},
	}
	for _, tt := range tests {
		name, isArray := commandArgument(json.RawMessage(tt.schema))
		if name != tt.name || isArray != tt.isArray {
			t.Errorf("commandArgument(%s) = %q, %v; want %q, %v", tt.schema, name, isArray, tt.name, tt.isArray)
		}
	}
}

func TestStripContext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"<system-reminder>\nx\n</system-reminder>\nrun bash: ls", "\nrun bash: ls"},
		{"a<system-reminder>x</system-reminder>b<system-reminder>y</system-reminder>c", "abc"},
		{"<environment_context><cwd>/w</cwd></environment_context>", ""},
		{"keep<system-reminder>unterminated", "keep"},
	}
	for _, tt := range tests {
		if got := stripContext(tt.in); got != tt.want {
			t.Errorf("stripContext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzScriptReply: whatever the request, script mode answers without panicking, and a shell
// call it makes carries complete JSON arguments holding the command.
func FuzzScriptReply(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"run bash: ls"}],"tools":[{"name":"Bash","input_schema":{"properties":{"command":{"type":"string"}}}}]}`)
	f.Add(`{"messages":[{"role":"tool","content":[{"type":"text","text":"r"}]}]}`)
	f.Add(`{"input":[{"role":"user","content":"run bash: \"q\"\\"}],"tools":[{"type":"namespace","name":"n","tools":[{"type":"function","name":"shell","parameters":{"properties":{"command":{"type":"array"}}}}]}]}`)
	f.Add(`{"input":"say: hi","include":["reasoning.encrypted_content"]}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, ep := range []Endpoint{Messages, ChatCompletions, Responses} {
			r := scriptReply(ep, []byte(body), scanRequest([]byte(body)), 1, Reply{})
			for _, tc := range r.ToolCalls {
				args := strings.Join(tc.Arguments, "")
				var v map[string]any
				if err := json.Unmarshal([]byte(args), &v); err != nil || len(v) != 1 {
					t.Fatalf("%s: arguments %q: %v", ep, args, err)
				}
			}
		}
	})
}
