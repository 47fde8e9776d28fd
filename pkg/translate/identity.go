package translate

import (
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
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

// chatIdentity is identity for Chat Completions, with one addition: a stream always asks the
// upstream for its usage (stream_options.include_usage), which Chat upstreams send only when
// asked and which spend, budgets and the token metrics are charged from — a client that did
// not ask would otherwise stream for free. The usage chunk the client did not ask for is kept
// from it; the "usage": null the upstream may add to the other chunks reaches it, as it would
// from the upstream had the client asked.
func chatIdentity() Converter {
	c := identity(llm.FormatChat, openai.ChatResponseUsage, openai.ChunkUsage, sse.Event.IsDone)
	request := c.Request
	c.Request = func(body []byte, opt llm.Options) ([]byte, error) {
		out, err := request(body, opt)
		if err != nil || !streamWithoutUsage(out) {
			return out, err
		}
		out, err = sjson.SetBytes(out, "stream_options.include_usage", true)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
		}
		return out, nil
	}
	c.Stream = func(req []byte) Stream {
		return &passthrough{eventUsage: openai.ChunkUsage, last: sse.Event.IsDone, dropUsage: streamWithoutUsage(req)}
	}
	return c
}

// streamWithoutUsage reports whether a Chat request asks for a stream without its usage.
func streamWithoutUsage(body []byte) bool {
	return gjson.GetBytes(body, "stream").Bool() && !gjson.GetBytes(body, "stream_options.include_usage").Bool()
}

// passthrough relays every event unchanged and reads the usage as it goes by.
type passthrough struct {
	eventUsage func(sse.Event, *llm.Usage)
	last       func(sse.Event) bool
	usage      llm.Usage
	done       bool
	// dropUsage keeps Chat's usage-only chunk (no choices) from the client, which did not ask
	// for it.
	dropUsage bool
}

func (p *passthrough) Next(ev sse.Event) ([]sse.Event, error) {
	p.eventUsage(ev, &p.usage)
	p.done = p.done || p.last(ev)
	if p.dropUsage && isUsageChunk(ev) {
		return nil, nil
	}
	return []sse.Event{ev}, nil
}

// isUsageChunk reports whether ev is Chat's last chunk before [DONE] of a stream that asked
// for its usage: no choices, a usage object.
func isUsageChunk(ev sse.Event) bool {
	if ev.IsDone() {
		return false
	}
	r := gjson.GetManyBytes(ev.Data, "choices.#", "usage")
	return r[0].Int() == 0 && r[1].IsObject()
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
