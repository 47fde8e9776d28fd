// Package sse reads and writes Server-Sent Events as the Anthropic and OpenAI APIs send them.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Event is one server-sent event. Event is empty for data-only events (OpenAI chat chunks).
type Event struct {
	Event string
	Data  []byte
}

// Done is the data of the event that closes an OpenAI chat completion stream.
var Done = []byte("[DONE]")

// IsDone reports whether e is OpenAI's "data: [DONE]" terminator.
func (e Event) IsDone() bool { return e.Event == "" && bytes.Equal(e.Data, Done) }

// AppendTo appends the wire form of e to b: an optional "event:" line, one "data:" line per
// line of data, and the blank line that ends the event.
func (e Event) AppendTo(b []byte) []byte {
	if e.Event != "" {
		b = append(b, "event: "...)
		b = append(b, e.Event...)
		b = append(b, '\n')
	}
	data := e.Data
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		b = append(b, "data: "...)
		b = append(b, data[:i]...)
		b = append(b, '\n')
		data = data[i+1:]
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	return append(b, '\n', '\n')
}

// Encode returns the wire form of the events, concatenated.
func Encode(events ...Event) []byte {
	var b []byte
	for _, e := range events {
		b = e.AppendTo(b)
	}
	return b
}

// ErrLineTooLong is returned by Reader.Next when one line exceeds the reader's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// Reader decodes events from a stream. Comment lines and id/retry fields are skipped.
type Reader struct {
	s *bufio.Scanner
}

// NewReader returns a reader of r that accepts lines of up to maxLine bytes
// (a default of 16 MiB when maxLine <= 0).
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = 16 << 20
	}
	s := bufio.NewScanner(r)
	// The scanner's limit is the larger of the buffer's capacity and maxLine: the first
	// buffer may not be larger than the limit asked for.
	s.Buffer(make([]byte, 0, min(64<<10, maxLine)), maxLine)
	return &Reader{s: s}
}

// Next returns the next event, or io.EOF after the last one.
func (r *Reader) Next() (Event, error) {
	var (
		ev      Event
		data    []byte
		hasData bool
	)
	for r.s.Scan() {
		line := r.s.Bytes()
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			if hasData || ev.Event != "" {
				ev.Data = data
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "event":
			ev.Event = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		}
	}
	if err := r.s.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Event{}, fmt.Errorf("%w: %w", ErrLineTooLong, err)
		}
		return Event{}, err
	}
	if hasData || ev.Event != "" {
		ev.Data = data
		return ev, nil
	}
	return Event{}, io.EOF
}
