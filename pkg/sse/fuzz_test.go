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

// fuzzLimit is the line limit of the fuzzed readers: small enough that the fuzzer reaches it.
const fuzzLimit = 64 << 10

// next reads every event of wire from r, and the error that ended them (nil at io.EOF).
func next(r *sse.Reader) ([]sse.Event, error) {
	var out []sse.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

// FuzzReader feeds any bytes to the reader, whole and one byte at a time, and checks what
// a caller relies on: it ends, with io.EOF or ErrLineTooLong only; how the stream is cut does
// not change what it reads; no event comes from nothing; and what it read, written again by
// Encode, reads back the same.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
		"data: {\"id\":\"c\"}\n\ndata: [DONE]\n\n",
		"event: e\r\ndata: a\r\ndata: b\r\n\r\n",
		": ping\nid: 1\nretry: 10\n\ndata\n\n",
		"data:x\ndata:  y\n\nevent: tail",
		"event: a\n\n\n\ndata: \r\r\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		whole, err := next(sse.NewReader(bytes.NewReader(wire), fuzzLimit))
		if err != nil && !errors.Is(err, sse.ErrLineTooLong) {
			t.Fatalf("Next: %v", err)
		}
		if lines := bytes.Count(wire, []byte{'\n'}) + 1; len(whole) > lines {
			t.Fatalf("%d events from %d lines", len(whole), lines)
		}
		for _, ev := range whole {
			if ev.Event == "" && ev.Data == nil && !bytes.Contains(wire, []byte("data")) {
				t.Fatalf("an empty event from a stream without data: %q", wire)
			}
		}
		byByte, err2 := next(sse.NewReader(iotest.OneByteReader(bytes.NewReader(wire)), fuzzLimit))
		if !equal(whole, byByte) || (err == nil) != (err2 == nil) || errors.Is(err, sse.ErrLineTooLong) != errors.Is(err2, sse.ErrLineTooLong) {
			t.Fatalf("read whole: %q, %v\nbyte by byte: %q, %v", whole, err, byByte, err2)
		}
		if err != nil {
			return
		}
		// A value whose line ended in several CRs keeps all but the last two: Encode cannot
		// write such a value back (its "\r" would end the line), as no upstream sends one.
		for _, ev := range whole {
			if strings.HasSuffix(ev.Event, "\r") || bytes.Contains(ev.Data, []byte("\r\n")) || bytes.HasSuffix(ev.Data, []byte{'\r'}) {
				return
			}
		}
		again, err := next(sse.NewReader(bytes.NewReader(sse.Encode(whole...)), 0))
		if err != nil || !equal(again, whole) {
			t.Fatalf("read %q\nwritten and read again %q, %v", whole, again, err)
		}
	})
}

// FuzzRoundTrip writes any event, of a name and data a stream can carry (no line end in the
// name, no CR in the data), and reads it back.
func FuzzRoundTrip(f *testing.F) {
	f.Add("message_delta", []byte(`{"type":"message_delta"}`))
	f.Add("", []byte("[DONE]"))
	f.Add("", []byte(""))
	f.Add("e", []byte("\n\n a\n:b\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if strings.ContainsAny(name, "\r\n") || bytes.ContainsRune(data, '\r') {
			t.Skip("not representable on the wire")
		}
		in := sse.Event{Event: name, Data: data}
		wire := sse.Encode(in)
		got, err := next(sse.NewReader(bytes.NewReader(wire), 0))
		if err != nil || !equal(got, []sse.Event{in}) {
			t.Fatalf("wrote %+q as %q, read %+q, %v", in, wire, got, err)
		}
	})
}
