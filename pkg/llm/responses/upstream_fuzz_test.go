package responses

import (
	"errors"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// FuzzChatToResponses checks that the request conversion never panics, refuses with
// llm.ErrInvalid only, writes JSON with store:false and the model asked for, and that the
// stream converter never panics on the recorded streams mutated.
func FuzzChatToResponses(f *testing.F) {
	for _, b := range addFiles(f, "testdata/upstream/*.request.json") {
		f.Add(b, "")
		f.Add(b, "gpt-5-codex")
	}
	for _, b := range addFiles(f, "testdata/upstream/*.req.json") {
		f.Add(b, "")
	}
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom"}],"reasoning_details":[{"type":"reasoning.encrypted","data":"x"},1,null]},{"role":"tool","content":[1]}],"tool_choice":{"type":"allowed_tools"}}`), "m")
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"},{"type":"file"},{"type":"input_audio"},{"type":"x"}]}],"tools":[{"type":"function"}],"max_tokens":-5}`), "")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		var dropped llm.Dropped
		out, err := ChatToResponsesRequest(body, llm.Options{Model: model, Dropped: &dropped})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error %v does not wrap llm.ErrInvalid", err)
			}
			return
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("not JSON: %s", out)
		}
		r := gjson.ParseBytes(out)
		if r.Get("store").Type != gjson.False || !r.Get("input").IsArray() {
			t.Fatalf("no store:false or input list: %s", out)
		}
		if want := validUTF8(model); model != "" && r.Get("model").String() != want {
			t.Fatalf("model %q, want %q", r.Get("model").String(), want)
		}
		if n := r.Get("max_output_tokens"); n.Exists() && n.Int() < minOutputTokens {
			t.Fatalf("max_output_tokens %d", n.Int())
		}
		// The body as an upstream event: the stream converter takes anything.
		s := NewResponsesToChatStream(body)
		for _, name := range []string{EventOutputItemAdded, EventOutputItemDone, EventCompleted} {
			evs, _ := s.Next(sse.Event{Event: name, Data: body})
			for _, ev := range evs {
				if !ev.IsDone() && !gjson.ValidBytes(ev.Data) {
					t.Fatalf("chunk is not JSON: %s", ev.Data)
				}
			}
		}
		s.Close()
	})
}
