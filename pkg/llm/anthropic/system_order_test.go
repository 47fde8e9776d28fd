package anthropic

import (
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// A system message between tool calls and their results follows the results: Anthropic
// wants a tool_use answered first thing in the next user turn.
func TestSystemBetweenToolCallAndResult(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"ls"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"sh","arguments":"{}"}}]},
		{"role":"developer","content":"Be brief."},
		{"role":"tool","tool_call_id":"c1","content":"a.go"},
		{"role":"user","content":"and?"}]}`)
	for _, model := range []string{"claude-sonnet-4-5", "claude-opus-4-8"} {
		out, err := ChatToMessagesRequest(body, llm.Options{Model: model})
		if err != nil {
			t.Fatal(err)
		}
		turn := gjson.GetBytes(out, "messages.2")
		if turn.Get("role").Str != "user" || turn.Get("content.0.type").Str != "tool_result" {
			t.Fatalf("%s: the turn after the tool call does not start with its result: %s", model, out)
		}
		if !gjson.GetBytes(out, `messages.#.content.#(text%"*Be brief.*")`).Exists() &&
			!gjson.GetBytes(out, `messages.#(role=="system")`).Exists() {
			t.Errorf("%s: the system text is lost: %s", model, out)
		}
	}
}
