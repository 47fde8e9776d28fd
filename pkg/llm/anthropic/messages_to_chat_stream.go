package anthropic

import (
	"bytes"
	"fmt"
	"time"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/sse"
)

// MessagesToChatStream converts an upstream Messages stream into the chat completion chunks
// the client expects: a first chunk with the assistant role, content and reasoning_content
// deltas, tool calls (index, id and name first, then argument fragments), a chunk with the
// finish_reason, a usage chunk if the client asked for stream_options.include_usage, and
// [DONE].
type MessagesToChatStream struct {
	model        string
	includeUsage bool
	created      int64

	started bool
	done    bool // message_stop arrived and the closing chunks were sent
	id      string
	blocks  map[int64]*chatBlock // open blocks by their Anthropic index
	tools   int                  // tool calls so far
	stop    string
	usage   llm.Usage
}

// chatBlock is what the stream remembers of an Anthropic content block.
type chatBlock struct {
	typ      string
	tool     int    // tool_use: its index among the tool calls
	input    string // tool_use: the input of content_block_start, when not empty
	argsSent bool
}

// NewMessagesToChatStream returns the converter of the stream that answers req, the client's
// chat request.
func NewMessagesToChatStream(req []byte) *MessagesToChatStream {
	return &MessagesToChatStream{
		model:        gjson.GetBytes(req, "model").Str,
		includeUsage: gjson.GetBytes(req, "stream_options.include_usage").Bool(),
		created:      time.Now().Unix(),
		blocks:       map[int64]*chatBlock{},
	}
}

// Next converts one upstream event. An upstream error event is returned as an
// *apierror.Error.
func (s *MessagesToChatStream) Next(ev sse.Event) ([]sse.Event, error) {
	if s.done {
		return nil, nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return nil, nil
	}
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("%w: upstream event %q is not valid JSON: %.100q", llm.ErrInvalid, ev.Event, data)
	}
	d := gjson.ParseBytes(data)
	name := ev.Event
	if name == "" {
		name = d.Get("type").Str
	}
	EventUsage(sse.Event{Event: name, Data: data}, &s.usage)
	var out []sse.Event
	if !s.started && name != EventPing && name != EventError {
		out = s.start(d.Get("message.id").Str, d.Get("message.model").Str)
	}
	switch name {
	case EventError:
		return nil, upstreamError(data)
	case EventContentBlockStart:
		idx, cb := d.Get("index").Int(), d.Get("content_block")
		b := &chatBlock{typ: cb.Get("type").Str}
		s.blocks[idx] = b
		switch b.typ {
		case BlockText:
			out = s.content(out, cb.Get("text").Str)
		case BlockThinking:
			out = s.reasoning(out, cb.Get("thinking").Str)
		case BlockRedactedThinking:
			out = s.detail(out, openai.ReasoningDetail{Type: openai.DetailEncrypted, Data: cb.Get("data").Str, Format: DetailFormat})
		case BlockToolUse:
			b.tool = s.tools
			s.tools++
			if in := cb.Get("input"); in.Exists() && !isEmptyObject(in) {
				b.input = in.Raw
			}
			out = append(out, s.chunk(openai.ChunkDelta{ToolCalls: []openai.ToolCallDelta{{
				Index: b.tool, ID: cb.Get("id").Str, Type: "function",
				Function: &openai.FunctionCallDelta{Name: cb.Get("name").Str},
			}}}, nil))
		}
	case EventContentBlockDelta:
		delta := d.Get("delta")
		switch delta.Get("type").Str {
		case DeltaText:
			out = s.content(out, delta.Get("text").Str)
		case DeltaThinking:
			out = s.reasoning(out, delta.Get("thinking").Str)
		case DeltaSignature:
			// The signature vouches for the thinking streamed before it; reasoning_details
			// carry it as OpenRouter does, so the next turn can hand it back.
			out = s.detail(out, openai.ReasoningDetail{Type: openai.DetailText, Signature: delta.Get("signature").Str, Format: DetailFormat})
		case DeltaInputJSON:
			b := s.blocks[d.Get("index").Int()]
			if frag := delta.Get("partial_json").Str; b != nil && b.typ == BlockToolUse && frag != "" {
				b.argsSent = true
				out = append(out, s.args(b.tool, frag))
			}
		}
	case EventContentBlockStop:
		idx := d.Get("index").Int()
		// A tool called without arguments streams none; chat clients parse the arguments
		// string, so they get the (empty) object.
		if b := s.blocks[idx]; b != nil && b.typ == BlockToolUse && !b.argsSent {
			in := b.input
			if in == "" {
				in = "{}"
			}
			out = append(out, s.args(b.tool, in))
		}
		delete(s.blocks, idx)
	case EventMessageDelta:
		if r := d.Get("delta.stop_reason"); r.Type == gjson.String {
			s.stop = r.Str
		}
	case EventMessageStop:
		s.done = true
		finish := finishFromStop(s.stop)
		out = append(out, s.chunk(openai.ChunkDelta{}, &finish))
		if s.includeUsage {
			u := openai.UsageOf(s.usage)
			out = append(out, event("", openai.ChatChunk{
				ID: s.id, Object: openai.ObjectChatChunk, Created: s.created, Model: s.model,
				Choices: []openai.ChunkChoice{}, Usage: &u,
			}))
		}
		out = append(out, sse.Event{Data: sse.Done})
	}
	return out, nil
}

// Close reports an upstream that stopped before message_stop.
func (s *MessagesToChatStream) Close() ([]sse.Event, error) {
	if !s.done {
		return nil, fmt.Errorf("messages stream: %w", llm.ErrTruncated)
	}
	return nil, nil
}

// Usage is the upstream's usage so far.
func (s *MessagesToChatStream) Usage() llm.Usage { return s.usage }

func (s *MessagesToChatStream) start(id, model string) []sse.Event {
	s.started = true
	s.id = id
	if s.model == "" {
		s.model = model
	}
	if s.id == "" {
		s.id = newID("msg_")
	}
	empty := ""
	return []sse.Event{s.chunk(openai.ChunkDelta{Role: openai.RoleAssistant, Content: &empty}, nil)}
}

func (s *MessagesToChatStream) content(out []sse.Event, text string) []sse.Event {
	if text == "" {
		return out
	}
	return append(out, s.chunk(openai.ChunkDelta{Content: &text}, nil))
}

func (s *MessagesToChatStream) reasoning(out []sse.Event, text string) []sse.Event {
	if text == "" {
		return out
	}
	return append(out, s.chunk(openai.ChunkDelta{ReasoningContent: &text}, nil))
}

func (s *MessagesToChatStream) detail(out []sse.Event, d openai.ReasoningDetail) []sse.Event {
	raw, err := llm.Marshal([]openai.ReasoningDetail{d})
	if err != nil {
		return out
	}
	return append(out, s.chunk(openai.ChunkDelta{ReasoningDetails: raw}, nil))
}

func (s *MessagesToChatStream) args(tool int, frag string) sse.Event {
	return s.chunk(openai.ChunkDelta{ToolCalls: []openai.ToolCallDelta{{
		Index: tool, Function: &openai.FunctionCallDelta{Arguments: frag},
	}}}, nil)
}

func (s *MessagesToChatStream) chunk(delta openai.ChunkDelta, finish *string) sse.Event {
	return event("", openai.ChatChunk{
		ID: s.id, Object: openai.ObjectChatChunk, Created: s.created, Model: s.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	})
}

func isEmptyObject(v gjson.Result) bool {
	if !v.IsObject() {
		return false
	}
	empty := true
	v.ForEach(func(_, _ gjson.Result) bool {
		empty = false
		return false
	})
	return empty
}
