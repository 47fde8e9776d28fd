package responses

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Parts and tools of types lynkr does not convert are not looked into, by the gateway's
// validation or by the conversion, whatever shape their members have.
func TestUnknownPartsAndToolsAreNotLookedInto(t *testing.T) {
	body := []byte(`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_video","text":{"a":1},"detail":7}]}],
		"tools":[{"type":"future_tool","format":"png","name":{"n":1},"strict":"yes"},{"type":"function","name":"f","parameters":{"type":"object"}}]}`)
	if _, problems := Validate(body); len(problems) > 0 {
		t.Fatalf("Validate: %q", problems)
	}
	if problems := Convertible(body); len(problems) > 0 {
		t.Fatalf("Convertible: %q", problems)
	}
	var d llm.Dropped
	if _, err := ResponsesToChatRequest(body, llm.Options{Dropped: &d}); err != nil {
		t.Fatal(err)
	}
	if got := d.String(); got != "input_video,future_tool" {
		t.Errorf("dropped %q, want input_video,future_tool", got)
	}
}

// A developer message between a call and its output follows the output: chat takes nothing
// between an assistant's tool calls and their tool messages.
func TestSystemBetweenCallAndOutput(t *testing.T) {
	body := []byte(`{"model":"m","input":[{"role":"user","content":"ls"},
		{"type":"function_call","call_id":"c1","name":"sh","arguments":"{}"},
		{"role":"developer","content":"Be brief."},
		{"type":"function_call_output","call_id":"c1","output":"a.go"},
		{"role":"user","content":"and?"}]}`)
	out, err := ResponsesToChatRequest(body, llm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range gjson.GetBytes(out, "messages").Array() {
		roles = append(roles, m.Get("role").Str)
	}
	if got := strings.Join(roles, ","); got != "user,assistant,tool,system,user" {
		t.Errorf("roles %s: %s", got, out)
	}
}
