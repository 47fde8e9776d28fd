package converse

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// FuzzMessagesToConverseRequest checks that any request either converts into a request
// Converse would take or is refused as invalid input, never anything else.
func FuzzMessagesToConverseRequest(f *testing.F) {
	ins, _ := filepath.Glob("testdata/request/*.in.json")
	for _, in := range ins {
		f.Add(readFile(f, in), "anthropic.claude-sonnet-4-5-20250929-v1:0")
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[]}]}]}`), "")
	f.Add([]byte(`{"messages":[{"role":"assistant","content":[{"type":"text","text":" "},{"type":"thinking"}]}],"tool_choice":{"type":"none"}}`), "meta.llama")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := MessagesToConverseRequest(body, llm.Options{Model: model})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error %v does not wrap llm.ErrInvalid", err)
			}
			return
		}
		if err := converseRequestProblem(out); err != nil {
			t.Fatalf("%v\nin:  %s\nout: %s", err, body, out)
		}
		id, rest, err := SplitModelID(out)
		if err != nil {
			t.Fatal(err)
		}
		if model != "" && id != model {
			t.Fatalf("modelId %q, want %q", id, model)
		}
		if bytes.Contains(rest, []byte(`"modelId"`)) && model != "" && !bytes.Contains(body, []byte(`modelId`)) {
			t.Fatalf("modelId left in the body: %s", rest)
		}
	})
}

// FuzzConverseStream feeds any sequence of ConverseStream events to the stream converter
// (one "eventType {json}" per line, as in the golden transcripts) and checks that what comes
// out is a well-formed Anthropic stream, complete exactly when Close reports no error.
func FuzzConverseStream(f *testing.F) {
	ins, _ := filepath.Glob("testdata/stream/*.events")
	for _, in := range ins {
		f.Add(readFile(f, in))
	}
	f.Add([]byte("contentBlockStart {\"contentBlockIndex\":0,\"start\":{\"toolUse\":{\"toolUseId\":\"a\",\"name\":\"b\"}}}\ncontentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"}}\nmessageStop {}"))
	f.Add([]byte("contentBlockDelta {\"contentBlockIndex\":3,\"delta\":{\"reasoningContent\":{\"redactedContent\":\"AA\"}}}\ncontentBlockDelta {\"contentBlockIndex\":3,\"delta\":{\"text\":\"x\"}}\nmetadata {\"usage\":{}}\nmessageStop {}\nmetadata {}"))
	f.Fuzz(func(t *testing.T, transcript []byte) {
		s := NewConverseToMessagesStream([]byte(goldenRequest))
		var out []sse.Event
		for _, ev := range parseEvents(t, transcript) {
			o, err := s.Next(ev)
			if err != nil {
				if err := checkAnthropicStream(out, false); err != nil {
					t.Fatalf("before the error: %v", err)
				}
				return
			}
			out = append(out, o...)
		}
		tail, err := s.Close()
		if err != nil && !errors.Is(err, llm.ErrTruncated) {
			t.Fatalf("Close: %v", err)
		}
		if err := checkAnthropicStream(append(out, tail...), err == nil); err != nil {
			t.Fatalf("%v\n%s", err, sse.Encode(append(out, tail...)...))
		}
	})
}
