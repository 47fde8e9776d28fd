package translate

import (
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// identity is the converter of a format to itself: the client's bytes pass through untouched
// except for the model name, so unknown fields, thinking signatures and the order of keys
// reach the upstream exactly as the client sent them. It reads the usage on the way back.
// last tells the stream's closing event.
func identity(f llm.Format, responseUsage func([]byte) llm.Usage, eventUsage func(sse.Event, *llm.Usage), last func(sse.Event) bool) Converter {
	return Converter{
		From: f, To: f,
		Request: func(body []byte, opt llm.Options) ([]byte, error) {
			model := opt.Model
			if model == "" || gjson.GetBytes(body, "model").Str == model {
				return body, nil // the client asked for the upstream's own name
			}
			out, err := sjson.SetBytes(body, "model", model)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
			}
			return out, nil
		},
		Response: func(_, body []byte) ([]byte, llm.Usage, error) {
			return body, responseUsage(body), nil
		},
		Stream: func([]byte) Stream { return &passthrough{eventUsage: eventUsage, last: last} },
	}
}

// passthrough relays every event unchanged and reads the usage as it goes by.
type passthrough struct {
	eventUsage func(sse.Event, *llm.Usage)
	last       func(sse.Event) bool
	usage      llm.Usage
	done       bool
}

func (p *passthrough) Next(ev sse.Event) ([]sse.Event, error) {
	p.eventUsage(ev, &p.usage)
	p.done = p.done || p.last(ev)
	return []sse.Event{ev}, nil
}

// Close reports a stream that ended without its closing event, so the client is told instead
// of being handed a truncated answer as if it were complete.
func (p *passthrough) Close() ([]sse.Event, error) {
	if !p.done {
		return nil, llm.ErrTruncated
	}
	return nil, nil
}

func (p *passthrough) Usage() llm.Usage { return p.usage }
