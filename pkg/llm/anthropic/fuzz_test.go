package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/sse"
)

// addFiles adds the files matching pattern under testdata to the fuzz corpus.
func addFiles(f *testing.F, pattern string) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("testdata", pattern))
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// knownError reports whether err is one the worker knows how to show a client.
func knownError(err error) bool {
	var ae *apierror.Error
	return errors.Is(err, llm.ErrInvalid) || errors.Is(err, llm.ErrTruncated) || errors.As(err, &ae)
}

// A request the validator accepts converts into one the other side's validator accepts,
// or is refused as invalid (server tools, files by id).
func FuzzValidateMessages(f *testing.F) {
	for _, b := range addFiles(f, "*/*.req.json") {
		f.Add(b)
	}
	for _, b := range addFiles(f, "messages_to_chat_request/*.in.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, problems := ValidateMessages(body)
		if len(problems) > maxProblems+1 {
			t.Fatalf("%d problems", len(problems))
		}
		if len(problems) > 0 {
			return
		}
		out, err := MessagesToChatRequest(body, llm.Options{})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("valid request refused with %v", err)
			}
			return
		}
		if _, problems := openai.ValidateChat(out); len(problems) > 0 {
			t.Fatalf("converted request is invalid: %q\n%s", problems, out)
		}
	})
}

func FuzzValidateChat(f *testing.F) {
	for _, b := range addFiles(f, "*/*.req.json") {
		f.Add(b)
	}
	for _, b := range addFiles(f, "chat_to_messages_request/*.in.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, problems := openai.ValidateChat(body)
		if len(problems) > maxProblems+1 {
			t.Fatalf("%d problems", len(problems))
		}
		if len(problems) > 0 {
			return
		}
		out, err := ChatToMessagesRequest(body, llm.Options{})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("valid request refused with %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("converted request is not JSON: %s", out)
		}
	})
}

func FuzzMessagesToChatRequest(f *testing.F) {
	for _, b := range addFiles(f, "messages_to_chat_request/*.in.json") {
		f.Add(b, "")
	}
	f.Add([]byte(`{"model":"m","system":"x-anthropic-billing-header: a;","messages":[]}`), "gpt-5")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := MessagesToChatRequest(body, llm.Options{Model: model})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %s", out)
		}
	})
}

func FuzzChatToMessagesRequest(f *testing.F) {
	for _, b := range addFiles(f, "chat_to_messages_request/*.in.json") {
		f.Add(b, "")
	}
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := ChatToMessagesRequest(body, llm.Options{Model: model})
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %s", out)
		}
	})
}

// streamer is the shape of both stream converters.
type streamer interface {
	Next(sse.Event) ([]sse.Event, error)
	Close() ([]sse.Event, error)
	Usage() llm.Usage
}

// feed runs the events of upstream through s and returns what the client received and the
// error that ended the stream, if any.
func feed(t *testing.T, s streamer, upstream []byte) ([]sse.Event, error) {
	r := sse.NewReader(bytes.NewReader(upstream), 1<<20)
	var out []sse.Event
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, sse.ErrLineTooLong) {
				t.Fatal(err)
			}
			break
		}
		evs, err := s.Next(ev)
		out = append(out, evs...)
		if err != nil {
			return out, err
		}
	}
	evs, err := s.Close()
	return append(out, evs...), err
}

// wire returns s as it comes out of a JSON encoding: invalid UTF-8 bytes become U+FFFD.
func wire(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// nonSpace counts the bytes of s that are not JSON white space.
func nonSpace(s string) int {
	return len(s) - strings.Count(s, " ") - strings.Count(s, "\n") - strings.Count(s, "\t") - strings.Count(s, "\r")
}

func FuzzChatToMessagesStream(f *testing.F) {
	reqs := addFiles(f, "chat_to_messages/*.req.json")
	for i, in := range addFiles(f, "chat_to_messages/*.in.sse") {
		f.Add(reqs[i], in)
	}
	f.Fuzz(func(t *testing.T, req, upstream []byte) {
		out, err := feed(t, NewChatToMessagesStream(req), upstream)
		if err != nil && !knownError(err) {
			t.Fatalf("unexpected error %v", err)
		}
		checkMessagesStream(t, out, err == nil)
		if err != nil {
			return
		}
		// Nothing is dropped: the text and the arguments that went in come out. (The input is
		// read as the converter reads it: of duplicate keys, the first one counts.)
		var textIn, argsIn, textOut, argsOut int
		r := sse.NewReader(bytes.NewReader(upstream), 1<<20)
		for ev, rerr := r.Next(); rerr == nil && !ev.IsDone(); ev, rerr = r.Next() {
			for _, ch := range gjson.ParseBytes(ev.Data).Get("choices").Array() {
				if ch.Get("index").Int() != 0 {
					continue
				}
				delta := ch.Get("delta")
				if c := delta.Get("content"); c.Type == gjson.String {
					textIn += len(wire(c.Str))
				}
				for _, tc := range delta.Get("tool_calls").Array() {
					argsIn += nonSpace(wire(tc.Get("function").Get("arguments").Str))
				}
			}
		}
		for _, ev := range out {
			d := gjson.ParseBytes(ev.Data).Get("delta")
			textOut += len(d.Get("text").Str)
			argsOut += nonSpace(d.Get("partial_json").Str)
		}
		if textIn != textOut || argsIn != argsOut {
			t.Fatalf("text %d in, %d out; arguments %d in, %d out", textIn, textOut, argsIn, argsOut)
		}
	})
}

// checkMessagesStream checks the Anthropic stream a client received: message_start first,
// blocks opened in index order, one at a time, deltas only to the open block, and, for a
// complete stream, message_delta and message_stop last.
func checkMessagesStream(t *testing.T, evs []sse.Event, complete bool) {
	t.Helper()
	open, next := -1, 0
	for i, ev := range evs {
		if !json.Valid(ev.Data) {
			t.Fatalf("event %d is not JSON: %s", i, ev.Data)
		}
		d := gjson.ParseBytes(ev.Data)
		if d.Get("type").Str != ev.Event {
			t.Fatalf("event %d: name %s, type %s", i, ev.Event, d.Get("type").Str)
		}
		if (i == 0) != (ev.Event == EventMessageStart) {
			t.Fatalf("event %d is %s", i, ev.Event)
		}
		idx := int(d.Get("index").Int())
		switch ev.Event {
		case EventContentBlockStart:
			if open != -1 || idx != next {
				t.Fatalf("event %d opens block %d while %d is open, %d expected", i, idx, open, next)
			}
			open, next = idx, next+1
		case EventContentBlockDelta:
			if idx != open {
				t.Fatalf("event %d adds to block %d while %d is open", i, idx, open)
			}
		case EventContentBlockStop:
			if idx != open {
				t.Fatalf("event %d closes block %d while %d is open", i, idx, open)
			}
			open = -1
		case EventMessageDelta:
			if open != -1 {
				t.Fatalf("message_delta with block %d open", open)
			}
			if d.Get("delta.stop_reason").Str == "" {
				t.Fatalf("message_delta without stop_reason: %s", ev.Data)
			}
		}
	}
	if complete && (len(evs) < 2 || evs[len(evs)-1].Event != EventMessageStop || evs[len(evs)-2].Event != EventMessageDelta) {
		t.Fatalf("complete stream does not end with message_delta, message_stop: %v", evs)
	}
}

func FuzzMessagesToChatStream(f *testing.F) {
	reqs := addFiles(f, "messages_to_chat/*.req.json")
	for i, in := range addFiles(f, "messages_to_chat/*.in.sse") {
		f.Add(reqs[i], in)
	}
	f.Fuzz(func(t *testing.T, req, upstream []byte) {
		out, err := feed(t, NewMessagesToChatStream(req), upstream)
		if err != nil && !knownError(err) {
			t.Fatalf("unexpected error %v", err)
		}
		var textOut int
		for i, ev := range out {
			if ev.IsDone() {
				if err != nil || i != len(out)-1 {
					t.Fatalf("[DONE] at %d of %d, error %v", i, len(out), err)
				}
				continue
			}
			if ev.Event != "" || !json.Valid(ev.Data) {
				t.Fatalf("chunk %d is not a JSON data event: %q %s", i, ev.Event, ev.Data)
			}
			c := gjson.ParseBytes(ev.Data)
			if c.Get("object").Str != openai.ObjectChatChunk {
				t.Fatalf("chunk %d: %s", i, ev.Data)
			}
			textOut += len(c.Get("choices.0.delta.content").Str)
		}
		if err != nil {
			return
		}
		if len(out) == 0 || !out[len(out)-1].IsDone() {
			t.Fatalf("complete stream does not end with [DONE]")
		}
		var textIn int
		r := sse.NewReader(bytes.NewReader(upstream), 1<<20)
		for ev, rerr := r.Next(); rerr == nil; ev, rerr = r.Next() {
			if len(bytes.TrimSpace(ev.Data)) == 0 {
				continue // an event without data is no event (nor is it to the SSE spec), even one named message_stop
			}
			d := gjson.ParseBytes(ev.Data)
			name := ev.Event
			if name == "" {
				name = d.Get("type").Str
			}
			if name == EventMessageStop {
				break
			}
			switch name {
			case EventContentBlockDelta:
				if delta := d.Get("delta"); delta.Get("type").Str == DeltaText {
					textIn += len(wire(delta.Get("text").Str))
				}
			case EventContentBlockStart:
				if cb := d.Get("content_block"); cb.Get("type").Str == BlockText {
					textIn += len(wire(cb.Get("text").Str))
				}
			}
		}
		if textIn != textOut {
			t.Fatalf("text %d in, %d out", textIn, textOut)
		}
	})
}
