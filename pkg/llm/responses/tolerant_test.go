package responses

import (
	"testing"

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
