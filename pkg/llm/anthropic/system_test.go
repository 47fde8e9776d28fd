package anthropic

import (
	"testing"

	"github.com/tidwall/gjson"
)

func TestInlineSystemMessages(t *testing.T) {
	body := []byte(`{"model":"m", "max_tokens":1,"messages":[{"role":"user","content":"hi"},` +
		`{"role":"system","content":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]},` +
		`{"role":"assistant","content":"ok"},{"role":"system","content":"Now in French."}],"x":{"kept": true}}`)
	out, err := InlineSystemMessages(body)
	if err != nil {
		t.Fatal(err)
	}
	msgs := gjson.GetBytes(out, "messages").Array()
	if len(msgs) != 4 {
		t.Fatalf("messages %s", out)
	}
	first, second := msgs[1], msgs[3]
	if first.Get("role").Str != "user" || first.Get("content.0.text").Str != "<system>\nBe brief.\n</system>" ||
		first.Get("content.0.cache_control.type").Str != "ephemeral" {
		t.Errorf("first system message became %s", first.Raw)
	}
	if second.Get("role").Str != "user" || second.Get("content.0.text").Str != "<system>\nNow in French.\n</system>" {
		t.Errorf("second system message became %s", second.Raw)
	}
	if msgs[0].Raw != `{"role":"user","content":"hi"}` || gjson.GetBytes(out, "x").Raw != `{"kept": true}` {
		t.Errorf("the rest of the body changed: %s", out)
	}
	plain := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if got, _ := InlineSystemMessages(plain); string(got) != string(plain) {
		t.Errorf("a body without system messages changed: %s", got)
	}
}
