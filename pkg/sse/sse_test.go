package sse_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/lynkr/lynkr/pkg/sse"
)

// readAll reads every event of wire, failing the test on any error but io.EOF.
func readAll(t *testing.T, r io.Reader, maxLine int) []sse.Event {
	t.Helper()
	sr := sse.NewReader(r, maxLine)
	var out []sse.Event
	for {
		ev, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
}

// equal compares events; nil and empty data are the same to a caller.
func equal(a, b []sse.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Event != b[i].Event || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []sse.Event
		want string
	}{
		{"named", []sse.Event{{Event: "message_start", Data: []byte(`{"type":"message_start"}`)}},
			"event: message_start\ndata: {\"type\":\"message_start\"}\n\n"},
		{"data only", []sse.Event{{Data: []byte(`{"id":"c1"}`)}}, "data: {\"id\":\"c1\"}\n\n"},
		{"done", []sse.Event{{Data: sse.Done}}, "data: [DONE]\n\n"},
		{"one data line per line", []sse.Event{{Event: "e", Data: []byte("a\nb\n\nc")}},
			"event: e\ndata: a\ndata: b\ndata: \ndata: c\n\n"},
		{"trailing newline in data", []sse.Event{{Data: []byte("a\n")}}, "data: a\ndata: \n\n"},
		{"empty data", []sse.Event{{Event: "ping"}}, "event: ping\ndata: \n\n"},
		{"several", []sse.Event{{Event: "a", Data: []byte("1")}, {Data: []byte("2")}},
			"event: a\ndata: 1\n\ndata: 2\n\n"},
		{"none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(sse.Encode(tc.in...)); got != tc.want {
				t.Errorf("Encode = %q, want %q", got, tc.want)
			}
		})
	}
}

// AppendTo appends: what the buffer held stays in front.
func TestAppendToKeepsThePrefix(t *testing.T) {
	b := []byte("prefix|")
	b = sse.Event{Event: "x", Data: []byte("y")}.AppendTo(b)
	if got, want := string(b), "prefix|event: x\ndata: y\n\n"; got != want {
		t.Errorf("AppendTo = %q, want %q", got, want)
	}
}

func TestIsDone(t *testing.T) {
	for _, tc := range []struct {
		ev   sse.Event
		want bool
	}{
		{sse.Event{Data: []byte("[DONE]")}, true},
		{sse.Event{Event: "done", Data: []byte("[DONE]")}, false}, // a named event is not OpenAI's terminator
		{sse.Event{Data: []byte("[DONE] ")}, false},
		{sse.Event{Data: []byte(`{"done":true}`)}, false},
		{sse.Event{}, false},
	} {
		if got := tc.ev.IsDone(); got != tc.want {
			t.Errorf("%+q IsDone = %v, want %v", tc.ev, got, tc.want)
		}
	}
}

func TestReader(t *testing.T) {
	ev := func(name, data string) sse.Event { return sse.Event{Event: name, Data: []byte(data)} }
	for _, tc := range []struct {
		name string
		wire string
		want []sse.Event
	}{
		{"anthropic", "event: message_start\ndata: {\"a\":1}\n\nevent: message_stop\ndata: {}\n\n",
			[]sse.Event{ev("message_start", `{"a":1}`), ev("message_stop", `{}`)}},
		{"openai", "data: {\"id\":1}\n\ndata: [DONE]\n\n", []sse.Event{ev("", `{"id":1}`), ev("", "[DONE]")}},
		{"multi-line data joined by newlines", "data: a\ndata: b\ndata:\ndata: c\n\n", []sse.Event{ev("", "a\nb\n\nc")}},
		{"CRLF line ends", "event: e\r\ndata: x\r\n\r\ndata: y\r\n\r\n", []sse.Event{ev("e", "x"), ev("", "y")}},
		{"no space after the colon", "event:e\ndata:x\n\n", []sse.Event{ev("e", "x")}},
		{"only one leading space is dropped", "data:  x \n\n", []sse.Event{ev("", " x ")}},
		{"a colon in the value stays", "data: {\"k\":\"v:w\"}\n\n", []sse.Event{ev("", `{"k":"v:w"}`)}},
		{"comments are skipped", ": keep-alive\n\n: ping\ndata: x\n: between\n\n", []sse.Event{ev("", "x")}},
		{"id and retry are skipped", "id: 7\nretry: 100\ndata: x\n\n", []sse.Event{ev("", "x")}},
		{"unknown fields are skipped", "foo: bar\nDATA: loud\ndata: x\n\n", []sse.Event{ev("", "x")}},
		{"a field without a colon has an empty value", "data\ndata\n\n", []sse.Event{ev("", "\n")}},
		{"blank lines between events are skipped", "\n\n\ndata: x\n\n\n\n", []sse.Event{ev("", "x")}},
		{"the last event of the name wins", "event: a\nevent: b\ndata: x\n\n", []sse.Event{ev("b", "x")}},
		{"a named event without data", "event: ping\n\n", []sse.Event{ev("ping", "")}},
		{"an unterminated last event is returned", "data: x\n\ndata: tail", []sse.Event{ev("", "x"), ev("", "tail")}},
		{"an unterminated last line with CR", "data: tail\r", []sse.Event{ev("", "tail")}},
		{"comments and ids alone make no event", ": c\nid: 1\nretry: 5\n\n", nil},
		{"empty stream", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readAll(t, strings.NewReader(tc.wire), 0); !equal(got, tc.want) {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}

// The reader does not depend on how the stream is cut: an upstream's TCP segments end
// anywhere, even within a CRLF.
func TestReaderPartialReads(t *testing.T) {
	wire := "event: content_block_delta\r\ndata: {\"delta\":\"he\"}\r\n\r\n: ping\r\ndata: line1\r\ndata: line2\r\n\r\ndata: [DONE]\r\n\r\n"
	want := readAll(t, strings.NewReader(wire), 0)
	if len(want) != 3 {
		t.Fatalf("whole stream: %d events, want 3: %q", len(want), want)
	}
	if got := readAll(t, iotest.OneByteReader(strings.NewReader(wire)), 0); !equal(got, want) {
		t.Errorf("one byte at a time: %q, want %q", got, want)
	}
	if got := readAll(t, iotest.HalfReader(strings.NewReader(wire)), 0); !equal(got, want) {
		t.Errorf("half reads: %q, want %q", got, want)
	}
	if got := readAll(t, iotest.DataErrReader(strings.NewReader(wire)), 0); !equal(got, want) {
		t.Errorf("data with EOF: %q, want %q", got, want)
	}
}

// A large event (a tool call's arguments, an image) passes whole, up to the line limit.
func TestReaderLargeEvent(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4<<20)
	wire := sse.Encode(sse.Event{Event: "big", Data: big}, sse.Event{Data: []byte("after")})
	got := readAll(t, iotest.HalfReader(bytes.NewReader(wire)), 0)
	if len(got) != 2 || got[0].Event != "big" || !bytes.Equal(got[0].Data, big) || string(got[1].Data) != "after" {
		t.Fatalf("got %d events; the first %q with %d bytes", len(got), got[0].Event, len(got[0].Data))
	}
}

// A line past the limit is an error that says so, not a truncated event; the reader stays
// failed after it. A line is within the limit when it fits with its line end.
func TestReaderLineTooLong(t *testing.T) {
	const limit = 128 << 10
	line := func(n int) string { return "data: " + strings.Repeat("x", n-len("data: ")-1) + "\n" } // n bytes, "\n" included
	wire := "data: ok\n\n" + line(limit+1) + "\ndata: later\n\n"
	r := sse.NewReader(strings.NewReader(wire), limit)
	if ev, err := r.Next(); err != nil || string(ev.Data) != "ok" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	for range 2 {
		ev, err := r.Next()
		if !errors.Is(err, sse.ErrLineTooLong) {
			t.Fatalf("Next = %d bytes, %v; want ErrLineTooLong", len(ev.Data), err)
		}
		if ev.Event != "" || ev.Data != nil {
			t.Errorf("an event came with the error: %q, %d bytes", ev.Event, len(ev.Data))
		}
	}
	if got := readAll(t, strings.NewReader(line(limit)+"\n"), limit); len(got) != 1 || len(got[0].Data) != limit-len("data: ")-1 {
		t.Errorf("a line at the limit: %d events", len(got))
	}
}

// A read error ends the stream with that error, not io.EOF: a cut connection is not a
// complete answer.
func TestReaderReadError(t *testing.T) {
	cut := errors.New("connection reset")
	r := sse.NewReader(io.MultiReader(strings.NewReader("data: 1\n\ndata: par"), iotest.ErrReader(cut)), 0)
	if ev, err := r.Next(); err != nil || string(ev.Data) != "1" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	if ev, err := r.Next(); !errors.Is(err, cut) {
		t.Fatalf("Next = %+q, %v; want the read error", ev, err)
	}
}

// Encode and Reader agree: what one writes, the other reads back.
func TestRoundTrip(t *testing.T) {
	in := []sse.Event{
		{Event: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"m"}}`)},
		{Data: []byte("multi\nline\n\ndata")},
		{Data: []byte(" leading space")},
		{Data: []byte(": not a comment")},
		{Event: "ping"},
		{Data: sse.Done},
	}
	if got := readAll(t, bytes.NewReader(sse.Encode(in...)), 0); !equal(got, in) {
		t.Errorf("read back %q, want %q", got, in)
	}
}

// A reader made for short lines refuses a longer one, however small the limit.
func TestReaderKeepsItsLineLimit(t *testing.T) {
	r := sse.NewReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 64)
	if _, err := r.Next(); err == nil {
		t.Fatal("a 106-byte line passed a 64-byte limit")
	}
	r = sse.NewReader(strings.NewReader("data: short\n\n"), 64)
	if ev, err := r.Next(); err != nil || string(ev.Data) != "short" {
		t.Fatalf("a short line: %q, %v", ev.Data, err)
	}
}
