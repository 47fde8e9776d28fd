package responses

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// seeded returns an id source that gives the same ids every run.
func seeded() ids {
	return ids{
		r:   rand.NewChaCha8([32]byte{'l', 'y', 'n', 'k', 'r'}),
		now: func() time.Time { return time.Unix(1753795200, 0) },
	}
}

// newTestStream is NewChatToResponsesStream with seeded ids.
func newTestStream(req []byte) *ChatToResponsesStream {
	s := NewChatToResponsesStream(req)
	s.ids = seeded()
	return s
}

// streamConverter is what runStream drives: ChatToResponsesStream and ResponsesToChatStream.
type streamConverter interface {
	Next(sse.Event) ([]sse.Event, error)
	Close() ([]sse.Event, error)
}

// runStream feeds the upstream SSE in to a stream converter and returns the client events and
// the error of Next or Close.
func runStream(s streamConverter, in []byte) ([]sse.Event, error) {
	r := sse.NewReader(bytes.NewReader(in), 0)
	var out []sse.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
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

// golden compares got with the file, or rewrites the file under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run with -update after checking):\n got: %s\nwant: %s", path, firstDiff(got, want), firstDiff(want, got))
	}
}

// firstDiff returns a's line where a and b first differ.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return al[i]
		}
	}
	return "(end of file)"
}

func TestChatToResponsesStreamGolden(t *testing.T) {
	tests := []struct {
		name    string
		wantErr error
	}{
		{name: "text"},
		{name: "text_tool_call"},
		{name: "parallel_sequential"},
		{name: "parallel_interleaved"},
		{name: "same_index_ids"},
		{name: "length"},
		{name: "usage_cached"},
		{name: "reasoning_no_done"},
		{name: "refusal"},
		{name: "custom_tool_call"},
		{name: "upstream_error"},
		{name: "truncated", wantErr: llm.ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join("testdata", "stream", tc.name)
			req, err := os.ReadFile(base + ".req.json")
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(base + ".in.sse")
			if err != nil {
				t.Fatal(err)
			}
			out, err := runStream(newTestStream(req), in)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			checkSequence(t, out)
			golden(t, base+".out.sse", sse.Encode(out...))
		})
	}
}

// checkSequence checks what every Responses stream must satisfy, whatever the upstream sent:
// each event's name is its data's type, sequence numbers count from 0 by one, items are added
// in output order and each is done once, one at a time, and deltas add up to the done text.
func checkSequence(t *testing.T, evs []sse.Event) {
	t.Helper()
	open := -1 // the output index of the item in progress
	next := 0  // the output index the next added item must have
	texts := map[string]string{}
	for i, ev := range evs {
		d := gjson.ParseBytes(ev.Data)
		if !gjson.ValidBytes(ev.Data) || d.Get("type").String() != ev.Event {
			t.Fatalf("event %d: name %q, data %s", i, ev.Event, ev.Data)
		}
		if got := d.Get("sequence_number").Int(); got != int64(i) || !d.Get("sequence_number").Exists() {
			t.Fatalf("event %d (%s): sequence_number %d", i, ev.Event, got)
		}
		if d.Get("error").Exists() && ev.Event != EventFailed {
			t.Fatalf("event %d: a top-level error member makes SDKs stop: %s", i, ev.Data)
		}
		idx := int(d.Get("output_index").Int())
		key := d.Get("item_id").String() + "/" + d.Get("content_index").String()
		switch ev.Event {
		case EventCreated, EventInProgress:
			if i > 1 {
				t.Fatalf("event %d: %s after the start", i, ev.Event)
			}
		case EventOutputItemAdded:
			if open != -1 || idx != next {
				t.Fatalf("event %d: item %d added while %d is open, want %d", i, idx, open, next)
			}
			open, next = idx, next+1
		case EventOutputItemDone:
			if open != idx {
				t.Fatalf("event %d: item %d done while %d is open", i, idx, open)
			}
			open = -1
		case EventCompleted, EventIncomplete, EventFailed:
			if i != len(evs)-1 {
				t.Fatalf("event %d: %s is not last", i, ev.Event)
			}
			if ev.Event != EventFailed && open != -1 {
				t.Fatalf("event %d: %s while item %d is open", i, ev.Event, open)
			}
			if n := len(d.Get("response.output").Array()); ev.Event != EventFailed && n != next {
				t.Fatalf("event %d: %d output items, %d were streamed", i, n, next)
			}
		case EventOutputTextDelta, EventRefusalDelta, EventReasoningTextDelta, EventFunctionCallArgumentsDelta, EventCustomToolCallInputDelta:
			if open != idx {
				t.Fatalf("event %d: delta for item %d while %d is open", i, idx, open)
			}
			texts[key] += d.Get("delta").String()
		case EventOutputTextDone, EventReasoningTextDone:
			if texts[key] != d.Get("text").String() {
				t.Fatalf("event %d: done text %q, deltas %q", i, d.Get("text").String(), texts[key])
			}
		case EventRefusalDone:
			if texts[key] != d.Get("refusal").String() {
				t.Fatalf("event %d: done refusal %q, deltas %q", i, d.Get("refusal").String(), texts[key])
			}
		case EventFunctionCallArgumentsDone:
			if texts[key] != d.Get("arguments").String() {
				t.Fatalf("event %d: done arguments %q, deltas %q", i, d.Get("arguments").String(), texts[key])
			}
		case EventCustomToolCallInputDone:
			if texts[key] != d.Get("input").String() {
				t.Fatalf("event %d: done input %q, deltas %q", i, d.Get("input").String(), texts[key])
			}
		}
	}
}

// summary names the events briefly: the type without "response.", the item type for item
// events, the status for the closing event.
func summary(evs []sse.Event) string {
	var b []string
	for _, ev := range evs {
		d := gjson.ParseBytes(ev.Data)
		name := strings.TrimPrefix(ev.Event, "response.")
		switch ev.Event {
		case EventOutputItemAdded, EventOutputItemDone:
			name += "(" + d.Get("item.type").String() + ")"
		case EventCompleted, EventIncomplete, EventFailed:
			name += "(" + d.Get("response.status").String() + ")"
		case EventOutputTextDelta, EventFunctionCallArgumentsDelta, EventCustomToolCallInputDelta:
			name += "(" + d.Get("delta").String() + ")"
		}
		b = append(b, name)
	}
	return strings.Join(b, " ")
}

func chunk(delta string, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	return `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + fr + `}]}`
}

// TestChatToResponsesStream checks the state machine's decisions one at a time.
func TestChatToResponsesStream(t *testing.T) {
	const start = "created in_progress "
	tests := []struct {
		name    string
		req     string
		events  []string // the data of each upstream event
		close   bool     // call Close after the events
		want    string
		wantErr error
	}{
		{
			name:   "text after a tool call is a new message after it",
			events: []string{chunk(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}`, ""), chunk(`{"content":"hi"}`, ""), chunk(`{}`, "tool_calls"), "[DONE]"},
			want:   start + "output_item.added(function_call) function_call_arguments.delta({}) function_call_arguments.done output_item.done(function_call) output_item.added(message) content_part.added output_text.delta(hi) output_text.done content_part.done output_item.done(message) completed(completed)",
		},
		{
			name:   "a call is added once its name is known",
			events: []string{chunk(`{"tool_calls":[{"index":0,"id":"a","function":{"arguments":"{\"x\""}}]}`, ""), chunk(`{"tool_calls":[{"index":0,"function":{"name":"f","arguments":":1}"}}]}`, ""), chunk(`{}`, "tool_calls"), "[DONE]"},
			want:   start + `output_item.added(function_call) function_call_arguments.delta({"x":1}) function_call_arguments.done output_item.done(function_call) completed(completed)`,
		},
		{
			name:   "finish without [DONE] completes at Close",
			events: []string{chunk(`{"content":"a"}`, "stop")},
			close:  true,
			want:   start + "output_item.added(message) content_part.added output_text.delta(a) output_text.done content_part.done output_item.done(message) completed(completed)",
		},
		{
			name:    "no finish and no [DONE] is truncated",
			events:  []string{chunk(`{"content":"a"}`, "")},
			close:   true,
			want:    start + "output_item.added(message) content_part.added output_text.delta(a)",
			wantErr: llm.ErrTruncated,
		},
		{
			name:    "nothing at all is truncated",
			close:   true,
			wantErr: llm.ErrTruncated,
		},
		{
			name:   "[DONE] alone completes an empty response",
			events: []string{"[DONE]"},
			close:  true,
			want:   start + "completed(completed)",
		},
		{
			name:   "events after the end are ignored",
			events: []string{chunk(`{}`, "stop"), "[DONE]", chunk(`{"content":"late"}`, ""), "[DONE]"},
			close:  true,
			want:   start + "completed(completed)",
		},
		{
			name:   "content filter is incomplete",
			events: []string{chunk(`{"content":"a"}`, "content_filter"), "[DONE]"},
			want:   start + "output_item.added(message) content_part.added output_text.delta(a) output_text.done content_part.done output_item.done(message) incomplete(incomplete)",
		},
		{
			name:    "a chunk that is not JSON",
			events:  []string{chunk(`{"content":"a"}`, ""), `{"choices":[`},
			want:    start + "output_item.added(message) content_part.added output_text.delta(a)",
			wantErr: llm.ErrInvalid,
		},
		{
			name:   "other choices are ignored",
			events: []string{`{"choices":[{"index":1,"delta":{"content":"b"},"finish_reason":null},{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}`, "[DONE]"},
			want:   start + "output_item.added(message) content_part.added output_text.delta(a) output_text.done content_part.done output_item.done(message) completed(completed)",
		},
		{
			name:   "keep-alive events with no data are skipped",
			events: []string{"", chunk(`{}`, "stop"), "[DONE]"},
			want:   start + "completed(completed)",
		},
		{
			name:   "a custom tool's input is sent whole",
			req:    `{"model":"m","input":"x","tools":[{"type":"custom","name":"p"}]}`,
			events: []string{chunk(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"p","arguments":"{\"input\":"}}]}`, ""), chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"x\\ny\"}"}}]}`, ""), chunk(`{}`, "tool_calls"), "[DONE]"},
			want:   start + "output_item.added(custom_tool_call) custom_tool_call_input.delta(x\ny) custom_tool_call_input.done output_item.done(custom_tool_call) completed(completed)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req == "" {
				req = `{"model":"m","input":"x"}`
			}
			s := newTestStream([]byte(req))
			var out []sse.Event
			var err error
			for _, data := range tc.events {
				var evs []sse.Event
				evs, err = s.Next(sse.Event{Data: []byte(data)})
				out = append(out, evs...)
				if err != nil {
					break
				}
			}
			if err == nil && tc.close {
				var evs []sse.Event
				evs, err = s.Close()
				out = append(out, evs...)
			}
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			checkSequence(t, out)
			if got := summary(out); got != strings.TrimSpace(tc.want) {
				t.Errorf("events:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestChatToResponsesStreamUsage(t *testing.T) {
	s := newTestStream(nil)
	if (s.Usage() != llm.Usage{}) {
		t.Fatalf("usage before any chunk: %+v", s.Usage())
	}
	in, err := os.ReadFile("testdata/stream/usage_cached.in.sse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runStream(s, in); err != nil {
		t.Fatal(err)
	}
	if want := (llm.Usage{InputTokens: 12400, OutputTokens: 96, CacheReadTokens: 11264}); s.Usage() != want {
		t.Errorf("usage %+v, want %+v", s.Usage(), want)
	}
}

func BenchmarkChatToResponsesStream(b *testing.B) {
	in, err := os.ReadFile("testdata/stream/text_tool_call.in.sse")
	if err != nil {
		b.Fatal(err)
	}
	req, err := os.ReadFile("testdata/stream/text_tool_call.req.json")
	if err != nil {
		b.Fatal(err)
	}
	var events []sse.Event
	r := sse.NewReader(bytes.NewReader(in), 0)
	for ev, err := r.Next(); err == nil; ev, err = r.Next() {
		events = append(events, ev)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewChatToResponsesStream(req)
		for _, ev := range events {
			if _, err := s.Next(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}
