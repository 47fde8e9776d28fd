package provider

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/sse"
)

// frame encodes one event-stream message with the AWS SDK's own encoder.
func frame(t *testing.T, headers map[string]string, payload string) []byte {
	t.Helper()
	var h eventstream.Headers
	for k, v := range headers {
		h.Set(k, eventstream.StringValue(v))
	}
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, eventstream.Message{Headers: h, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func eventFrame(t *testing.T, typ, payload string) []byte {
	return frame(t, map[string]string{":message-type": "event", ":event-type": typ, ":content-type": "application/json"}, payload)
}

func exceptionFrame(t *testing.T, typ, payload string) []byte {
	return frame(t, map[string]string{":message-type": "exception", ":exception-type": typ, ":content-type": "application/json"}, payload)
}

func TestDecodeStream(t *testing.T) {
	start := eventFrame(t, "messageStart", `{"role":"assistant"}`)
	delta := eventFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcdefgh"}`)
	stop := eventFrame(t, "messageStop", `{"stopReason":"end_turn"}`)
	corrupt := bytes.Clone(delta)
	corrupt[len(corrupt)-6] ^= 0xff // a payload byte: the message checksum no longer holds
	huge := make([]byte, 12)
	binary.BigEndian.PutUint32(huge[0:4], 1<<30)

	tests := []struct {
		name   string
		stream [][]byte
		events []string // event names read before the end
		status int      // the *apierror.Error status the stream ends with; 0 for none
		end    error    // the error the stream ends with otherwise (io.EOF for a clean end)
	}{
		{"complete", [][]byte{start, delta, stop}, []string{"messageStart", "contentBlockDelta", "messageStop"}, 0, io.EOF},
		{"empty", nil, nil, 0, io.EOF},
		{"throttled", [][]byte{start, exceptionFrame(t, "throttlingException", `{"message":"Too many requests, please wait."}`)}, []string{"messageStart"}, http.StatusTooManyRequests, nil},
		{"model stream error", [][]byte{start, delta, exceptionFrame(t, "modelStreamErrorException", `{"message":"overloaded","originalStatusCode":529}`)}, []string{"messageStart", "contentBlockDelta"}, 529, nil},
		{"validation", [][]byte{exceptionFrame(t, "validationException", `{"message":"bad"}`)}, nil, http.StatusBadRequest, nil},
		{"error message", [][]byte{frame(t, map[string]string{":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, "")}, nil, http.StatusInternalServerError, nil},
		{"unknown message type skipped", [][]byte{frame(t, map[string]string{":message-type": "initial-response"}, "{}"), start}, []string{"messageStart"}, 0, io.EOF},
		{"cut in the prelude", [][]byte{start, delta[:5]}, []string{"messageStart"}, 0, io.ErrUnexpectedEOF},
		{"cut in the payload", [][]byte{start, delta[:len(delta)-10]}, []string{"messageStart"}, 0, io.ErrUnexpectedEOF},
		{"cut before the checksum", [][]byte{delta[:len(delta)-4]}, nil, 0, io.ErrUnexpectedEOF},
		{"bad checksum", [][]byte{start, corrupt, stop}, []string{"messageStart"}, 0, ErrEventStream},
		{"absurd length", [][]byte{huge}, nil, 0, ErrEventStream},
	}
	p := &bedrockProvider{base: base{name: "bedrock"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := p.DecodeStream(bytes.NewReader(bytes.Join(tt.stream, nil)))
			var names []string
			var err error
			for {
				var ev sse.Event
				if ev, err = next(); err != nil {
					break
				}
				names = append(names, ev.Event)
			}
			if strings.Join(names, ",") != strings.Join(tt.events, ",") {
				t.Errorf("events %v, want %v", names, tt.events)
			}
			var ae *apierror.Error
			switch {
			case tt.status != 0:
				if !errors.As(err, &ae) || ae.Status != tt.status || !strings.HasPrefix(ae.Message, "bedrock: ") {
					t.Errorf("end %v, want an *apierror.Error with status %d", err, tt.status)
				}
			case !errors.Is(err, tt.end):
				t.Errorf("end %v, want %v", err, tt.end)
			}
			if _, again := next(); again == nil || again.Error() != err.Error() {
				t.Errorf("after the end, next() = %v, want %v again", again, err)
			}
		})
	}
}

func TestDecodeStreamPayloadsAreKept(t *testing.T) {
	// Each event's Data must survive the decoding of the next one.
	p := &bedrockProvider{base: base{name: "bedrock"}}
	next := p.DecodeStream(bytes.NewReader(append(eventFrame(t, "a", `{"n":1}`), eventFrame(t, "b", `{"n":2}`)...)))
	first, err := next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next(); err != nil {
		t.Fatal(err)
	}
	if string(first.Data) != `{"n":1}` {
		t.Errorf("first event's data became %s", first.Data)
	}
}

func TestExceptionMessage(t *testing.T) {
	p := &bedrockProvider{base: base{name: "bedrock"}}
	_, err := p.DecodeStream(bytes.NewReader(exceptionFrame(t, "serviceUnavailableException", `{"message":"Bedrock is unable to process your request."}`)))()
	var ae *apierror.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v", err)
	}
	want := "bedrock: serviceUnavailableException: Bedrock is unable to process your request."
	if ae.Status != http.StatusServiceUnavailable || ae.Type != apierror.TypeOverloaded || ae.Message != want {
		t.Errorf("got %d %s %q, want 503 %s %q", ae.Status, ae.Type, ae.Message, apierror.TypeOverloaded, want)
	}
}
