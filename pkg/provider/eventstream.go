package provider

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/sse"
)

// maxFrame bounds one event-stream message. AWS allows 16 MiB of payload; a length past this
// is a corrupt stream, not a reason to buffer gigabytes.
const maxFrame = 24 << 20

// ErrEventStream marks an AWS event stream that cannot be decoded (a bad length, checksum or
// header).
var ErrEventStream = errors.New("malformed AWS event stream")

// DecodeStream reads ConverseStream's application/vnd.amazon.eventstream answer. Each event
// message becomes an sse.Event named by its :event-type header (messageStart,
// contentBlockDelta, …) with the event's JSON payload as Data. An exception message
// (throttlingException, validationException, …) or error message ends the stream with an
// *apierror.Error carrying the status the exception stands for. A stream cut inside a message
// is io.ErrUnexpectedEOF; a clean end between messages is io.EOF.
func (p *bedrockProvider) DecodeStream(r io.Reader) func() (sse.Event, error) {
	f := &frameReader{r: bufio.NewReaderSize(r, 64<<10), dec: eventstream.NewDecoder(), provider: p.name}
	return f.next
}

type frameReader struct {
	r        io.Reader
	dec      *eventstream.Decoder
	provider string
	err      error // the error that ended the stream, returned again on every later call
}

func (f *frameReader) next() (sse.Event, error) {
	if f.err != nil {
		return sse.Event{}, f.err
	}
	for {
		msg, err := f.frame()
		if err != nil {
			f.err = err
			return sse.Event{}, err
		}
		ev, err, ok := f.event(msg)
		if err != nil {
			f.err = err
			return sse.Event{}, err
		}
		if ok {
			return ev, nil
		}
	}
}

// frame reads one message. It reads the prelude itself, to tell a clean end of stream from a
// cut one and to refuse absurd lengths before the decoder buffers them.
func (f *frameReader) frame() (eventstream.Message, error) {
	var prelude [8]byte
	switch n, err := io.ReadFull(f.r, prelude[:]); {
	case err == io.EOF && n == 0:
		return eventstream.Message{}, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return eventstream.Message{}, fmt.Errorf("%s event stream: %w", f.provider, io.ErrUnexpectedEOF)
	case err != nil:
		return eventstream.Message{}, fmt.Errorf("%s event stream: %w", f.provider, err)
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headers := binary.BigEndian.Uint32(prelude[4:8])
	if total < 16 || total > maxFrame || headers > total-16 {
		return eventstream.Message{}, fmt.Errorf("%w: %s: message length %d, headers length %d", ErrEventStream, f.provider, total, headers)
	}
	body := io.MultiReader(bytes.NewReader(prelude[:]), io.LimitReader(f.r, int64(total)-int64(len(prelude))))
	msg, err := f.dec.Decode(body, nil) // a nil buffer: each payload is the caller's to keep
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return eventstream.Message{}, fmt.Errorf("%s event stream: %w", f.provider, io.ErrUnexpectedEOF)
	case err != nil:
		return eventstream.Message{}, fmt.Errorf("%w: %s: %w", ErrEventStream, f.provider, err)
	}
	return msg, nil
}

// event converts a message: an event, an error, or nothing (ok false) for a message type this
// reader does not know.
func (f *frameReader) event(msg eventstream.Message) (ev sse.Event, err error, ok bool) {
	switch header(msg, ":message-type") {
	case "event":
		return sse.Event{Event: header(msg, ":event-type"), Data: msg.Payload}, nil, true
	case "exception":
		typ := header(msg, ":exception-type")
		text := gjson.GetBytes(msg.Payload, "message").String()
		if text == "" {
			text = string(bytes.TrimSpace(msg.Payload))
		}
		return sse.Event{}, apierror.FromUpstream(f.provider, exceptionStatus(typ, msg.Payload), errorBody(typ, text)), true
	case "error":
		return sse.Event{}, apierror.FromUpstream(f.provider, 500, errorBody(header(msg, ":error-code"), header(msg, ":error-message"))), true
	}
	return sse.Event{}, nil, false
}

func header(msg eventstream.Message, name string) string {
	if v := msg.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// errorBody is an error answer apierror.FromUpstream reads: {"message":"<type>: <text>"}.
func errorBody(typ, text string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{typ + ": " + text}) // a struct of one string always encodes
	return b
}

// exceptionStatus is the HTTP status a ConverseStream exception stands for: the status the
// same error has on a Converse call, or, for a model's own error, the status the model gave.
func exceptionStatus(typ string, payload []byte) int {
	if s := gjson.GetBytes(payload, "originalStatusCode").Int(); s >= 400 && s <= 599 {
		return int(s)
	}
	switch typ {
	case "throttlingException", "serviceQuotaExceededException":
		return 429
	case "serviceUnavailableException", "modelNotReadyException":
		return 503
	case "validationException":
		return 400
	case "accessDeniedException":
		return 403
	case "resourceNotFoundException":
		return 404
	case "modelTimeoutException":
		return 408
	default: // internalServerException, modelStreamErrorException, …
		return 500
	}
}
