package responses

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// addFiles adds the files matching pattern to the fuzz corpus.
func addFiles(f *testing.F, pattern string) [][]byte {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds match %s", pattern)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzValidate checks that Validate never panics and that it agrees with the conversion:
// a request without problems converts, one with problems is refused.
func FuzzValidate(f *testing.F) {
	for _, b := range addFiles(f, "testdata/request/*.json") {
		f.Add(b)
	}
	for _, b := range addFiles(f, "testdata/*/*.req.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}],"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}}`))
	f.Add([]byte(`{"model":"m","MODEL":1,"input":"x","input":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum, problems := Validate(body)
		out, err := ResponsesToChatRequest(body, llm.Options{})
		if len(problems) > 0 {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("problems %q, but the conversion says %v", problems, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("no problems, but the conversion fails: %v", err)
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("conversion is not JSON: %s", out)
		}
		if m := gjson.GetBytes(out, "model").String(); m != sum.Model || sum.Model == "" {
			t.Fatalf("summary model %q, converted model %q", sum.Model, m)
		}
		if s := gjson.GetBytes(out, "stream").Bool(); s != sum.Stream {
			t.Fatalf("summary stream %v, converted stream %v", sum.Stream, s)
		}
		if gjson.GetBytes(out, "messages.#").Int() == 0 {
			t.Fatalf("no messages in %s", out)
		}
	})
}

// FuzzResponsesToChatRequest checks that the conversion never panics, refuses with
// llm.ErrInvalid only, and writes JSON with the model asked for.
func FuzzResponsesToChatRequest(f *testing.F) {
	for _, b := range addFiles(f, "testdata/request/*.json") {
		f.Add(b, "")
		f.Add(b, "upstream-model")
	}
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := ResponsesToChatRequest(body, llm.Options{Model: model})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error %v does not wrap llm.ErrInvalid", err)
			}
			return
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("not JSON: %s", out)
		}
		// JSON carries text: a name that is not UTF-8 arrives with U+FFFD for each bad byte.
		if want := validUTF8(model); model != "" && gjson.GetBytes(out, "model").String() != want {
			t.Fatalf("model %q, want %q", gjson.GetBytes(out, "model").String(), want)
		}
	})
}

// validUTF8 replaces each byte of s that is not UTF-8 with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // ranging over a string yields U+FFFD for each bad byte
	}
	return b.String()
}

// FuzzChatToResponsesStream feeds arbitrary upstream event sequences to the stream converter:
// SSE text when the input starts like SSE, else a script of chat chunks (see scriptEvents),
// which reaches the converter's states far faster than mutated JSON does. Whatever comes in,
// the converter must not panic, every event must satisfy checkSequence, and a stream that
// completes must carry every piece of text and every tool call fragment it was given.
func FuzzChatToResponsesStream(f *testing.F) {
	for _, b := range addFiles(f, "testdata/stream/*.in.sse") {
		f.Add([]byte(`{"model":"m","input":"x"}`), b)
	}
	for _, script := range []string{
		"\x00\x01\x00\x02\x03\x00\x04\x00\x03\x01\x04\x01\x06\x02\x07\x00\x08\x00",
		"\x01\x05\x00\x01\x03\x04\x04\x04\x02\x03\x06\x01\x08\x00",
		"\x0d\x02\x04\x02\x0d\x06\x03\x05\x00\x07\x06\x00",
		"\x0c\x00\x02\x01\x0a\x00\x02\x01\x09\x00",
		"\x0b\x00\x00\x00\x06\x03\x08\x00",
	} {
		f.Add([]byte(`{"model":"m","input":"x","tools":[{"type":"function","name":"f0"}]}`), []byte(script))
		f.Add([]byte(`{"model":"m","input":"x","tools":[{"type":"custom","name":"f1"}]}`), []byte(script))
	}
	f.Fuzz(func(t *testing.T, req, upstream []byte) {
		var (
			events []sse.Event
			sent   sentText
		)
		if bytes.HasPrefix(upstream, []byte("data:")) || bytes.HasPrefix(upstream, []byte("event:")) {
			r := sse.NewReader(bytes.NewReader(upstream), 1<<16)
			for {
				ev, err := r.Next()
				if err != nil {
					break
				}
				events = append(events, ev)
			}
			sent.unknown = true
		} else {
			events = scriptEvents(upstream, &sent)
		}
		s := newTestStream(req)
		var out []sse.Event
		var err error
		for _, ev := range events {
			var evs []sse.Event
			evs, err = s.Next(ev)
			out = append(out, evs...)
			if err != nil {
				break
			}
		}
		if err == nil {
			var evs []sse.Event
			evs, err = s.Close()
			out = append(out, evs...)
		}
		checkSequence(t, out)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrTruncated) {
				t.Fatalf("error %v wraps neither llm.ErrInvalid nor llm.ErrTruncated", err)
			}
			return
		}
		if len(out) == 0 {
			t.Fatalf("a stream that ends without error sends events")
		}
		last := gjson.ParseBytes(out[len(out)-1].Data)
		switch out[len(out)-1].Event {
		case EventCompleted, EventIncomplete:
		case EventFailed:
			return
		default:
			t.Fatalf("last event %s", out[len(out)-1].Event)
		}
		if !sent.unknown {
			sent.check(t, last.Get("response"))
		}
	})
}

// sentText is what a script sent upstream, to be found again in the client's response.
type sentText struct {
	unknown                  bool // the input was raw SSE: nothing is known
	text, refusal, reasoning strings.Builder
	args                     int
	afterEnd                 bool // the script sent content after [DONE], which is ignored
}

// check finds every piece of text in the final response, in order, and as many tool call
// argument bytes.
func (s *sentText) check(t *testing.T, resp gjson.Result) {
	t.Helper()
	if s.afterEnd {
		return
	}
	var text, refusal, reasoning strings.Builder
	args, custom := 0, false
	for _, it := range resp.Get("output").Array() {
		switch it.Get("type").String() {
		case OutputFunctionCall:
			args += len(it.Get("arguments").String())
		case OutputCustomToolCall:
			custom = true
		case OutputReasoning:
			for _, p := range it.Get("content").Array() {
				reasoning.WriteString(p.Get("text").String())
			}
		case OutputMessage:
			for _, p := range it.Get("content").Array() {
				text.WriteString(p.Get("text").String())
				refusal.WriteString(p.Get("refusal").String())
			}
		}
	}
	if custom {
		args = s.args // a custom call's input is unwrapped from its arguments: no count to compare
	}
	if text.String() != s.text.String() || refusal.String() != s.refusal.String() ||
		reasoning.String() != s.reasoning.String() || args != s.args {
		t.Fatalf("sent text %q refusal %q reasoning %q and %d argument bytes; got %q %q %q and %d",
			s.text.String(), s.refusal.String(), s.reasoning.String(), s.args,
			text.String(), refusal.String(), reasoning.String(), args)
	}
}

// scriptEvents turns pairs of bytes (an operation and its argument) into chat chunks.
func scriptEvents(script []byte, sent *sentText) []sse.Event {
	var evs []sse.Event
	done := false
	chunk := func(delta string, finish string, index int) {
		fr := "null"
		if finish != "" {
			fr = fmt.Sprintf("%q", finish)
		}
		evs = append(evs, sse.Event{Data: fmt.Appendf(nil,
			`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":%d,"delta":%s,"finish_reason":%s}]}`,
			index, delta, fr)})
	}
	for i := 0; i+1 < len(script); i += 2 {
		op, arg := script[i]%14, int(script[i+1])
		piece := fmt.Sprintf("p%d ", arg)
		counts := !done // content after [DONE] is not converted
		switch op {
		case 0:
			chunk(fmt.Sprintf(`{"content":%q}`, piece), "", 0)
			if counts {
				sent.text.WriteString(piece)
			}
		case 1:
			chunk(fmt.Sprintf(`{"reasoning_content":%q}`, piece), "", 0)
			if counts {
				sent.reasoning.WriteString(piece)
			}
		case 2:
			chunk(fmt.Sprintf(`{"refusal":%q}`, piece), "", 0)
			if counts {
				sent.refusal.WriteString(piece)
			}
		case 3: // the first fragment of a call
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":"call_%d_%d","type":"function","function":{"name":"f%d","arguments":%q}}]}`,
				arg%4, arg%4, arg/4%2, arg%4, piece), "", 0)
			if counts {
				sent.args += len(piece)
			}
		case 4: // a later fragment
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%q}}]}`, arg%4, piece), "", 0)
			if counts {
				sent.args += len(piece)
			}
		case 5: // a fragment with the id only
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":"call_%d"}]}`, arg%4, arg), "", 0)
		case 6:
			chunk(`{}`, []string{"stop", "length", "tool_calls", "content_filter"}[arg%4], 0)
		case 7:
			evs = append(evs, sse.Event{Data: fmt.Appendf(nil,
				`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d}}}`,
				arg*10, arg, arg*11, arg)})
		case 8:
			evs = append(evs, sse.Event{Data: sse.Done})
			done = true
		case 9:
			evs = append(evs, sse.Event{Data: []byte(`{"error":{"message":"boom","type":"server_error"}}`)})
		case 10:
			evs = append(evs, sse.Event{Data: []byte([]string{"", "not json", `{"choices":5}`, " "}[arg%4])})
		case 11: // another choice, which lynkr never asks for
			chunk(fmt.Sprintf(`{"content":%q}`, piece), "", 1)
		case 12:
			chunk(`{"role":"assistant","content":"","refusal":null}`, "", 0)
		case 13: // a call whose name comes after its first fragment
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%q}}]}`, arg%4, piece), "", 0)
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"name":"late%d","arguments":""}}]}`, arg%4, arg), "", 0)
			if counts {
				sent.args += len(piece)
			}
		}
	}
	return evs
}
