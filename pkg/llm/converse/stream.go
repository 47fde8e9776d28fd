package converse

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// ConverseToMessagesStream converts a ConverseStream answer, one event at a time, into the
// Anthropic Messages stream: message_start (with the usage known so far), then for each
// content block content_block_start (the first followed by a ping, as Anthropic sends it), its
// deltas and content_block_stop, then message_delta (stop_reason and usage) and message_stop.
//
// Its input events are named by their ConverseStream event type (sse.Event.Event is
// "messageStart", "contentBlockDelta", …) and carry the event's JSON payload as Data. An
// event named for an exception (":exception-type", e.g. "throttlingException") is an error.
//
// Converse reports the stop reason (messageStop) before the usage (metadata), and Anthropic
// wants both in message_delta, so the closing events wait for metadata, or for Close.
type ConverseToMessagesStream struct {
	model    string
	id       string
	estimate int64 // prompt tokens, estimated for message_start; Converse reports usage last

	started  bool // message_start sent
	pinged   bool // ping sent
	blocks   map[int64]*openBlock
	next     int  // the next Anthropic content block index
	stopped  bool // messageStop seen
	reason   string
	sequence *string
	done     bool // message_stop sent
	usage    llm.Usage
	metered  bool // a metadata event reported the usage
}

// openBlock is a content block between its start and its stop.
type openBlock struct {
	index int    // Anthropic's index
	kind  string // text, tool_use, thinking or redacted_thinking
	data  strings.Builder
}

// NewConverseToMessagesStream returns the converter of the stream answering req, the client's
// Messages request.
func NewConverseToMessagesStream(req []byte) *ConverseToMessagesStream {
	return &ConverseToMessagesStream{
		model:    gjson.GetBytes(req, "model").String(),
		id:       newMessageID(),
		estimate: llm.EstimateTokens(len(req)),
		blocks:   map[int64]*openBlock{},
	}
}

// Next converts one ConverseStream event.
func (s *ConverseToMessagesStream) Next(ev sse.Event) ([]sse.Event, error) {
	out, err := s.convert(ev)
	return s.ping(out), err
}

// ping puts Anthropic's ping after the first content_block_start, where Anthropic sends it.
func (s *ConverseToMessagesStream) ping(out []sse.Event) []sse.Event {
	if s.pinged {
		return out
	}
	for i, e := range out {
		if e.Event == "content_block_start" {
			s.pinged = true
			return slices.Insert(out, i+1, event("ping", typeOnly{Type: "ping"}))
		}
	}
	return out
}

func (s *ConverseToMessagesStream) convert(ev sse.Event) ([]sse.Event, error) {
	if s.done {
		return nil, nil
	}
	data := gjson.ParseBytes(ev.Data)
	switch ev.Event {
	case "messageStart":
		return s.start(nil), nil
	case "contentBlockStart":
		out := s.start(nil)
		if tu := data.Get("start.toolUse"); tu.IsObject() {
			var b *openBlock
			out, b = s.open(out, data.Get("contentBlockIndex").Int(), "tool_use")
			out = append(out, event("content_block_start", blockStart{Type: "content_block_start", Index: b.index, ContentBlock: anthropicBlock{
				Type: "tool_use", ID: tu.Get("toolUseId").String(), Name: tu.Get("name").String(), Input: json.RawMessage("{}"),
			}}))
		}
		return out, nil
	case "contentBlockDelta":
		return s.delta(data)
	case "contentBlockStop":
		return s.stopBlock(s.start(nil), data.Get("contentBlockIndex").Int()), nil
	case "messageStop":
		out := s.stopAll(s.start(nil))
		s.stopped = true
		s.reason = stopReason(data.Get("stopReason").String())
		if seq := data.Get("additionalModelResponseFields.stop_sequence"); seq.Type == gjson.String && s.reason == "stop_sequence" {
			v := seq.String()
			s.sequence = &v
		}
		return out, nil
	case "metadata":
		if u := data.Get("usage"); u.IsObject() {
			s.usage = usageFrom(u)
			s.metered = true
		}
		if s.stopped {
			return s.finish(nil), nil
		}
		return nil, nil
	}
	if strings.HasSuffix(ev.Event, "Exception") || ev.Event == "error" {
		msg := data.Get("message").String()
		if msg == "" {
			msg = strings.TrimSpace(string(ev.Data))
		}
		return nil, fmt.Errorf("bedrock stream %s: %s", ev.Event, msg)
	}
	return nil, nil // events Anthropic has no counterpart for
}

// Close ends the stream. A stream that stopped but sent no usage is closed with the usage
// known; one that never reached messageStop is an error wrapping llm.ErrTruncated.
func (s *ConverseToMessagesStream) Close() ([]sse.Event, error) {
	if s.done {
		return nil, nil
	}
	if !s.stopped {
		return nil, fmt.Errorf("%w: Converse stream ended before messageStop", llm.ErrTruncated)
	}
	return s.ping(s.finish(nil)), nil
}

// Usage returns the usage the upstream reported (in its metadata event).
func (s *ConverseToMessagesStream) Usage() llm.Usage { return s.usage }

func (s *ConverseToMessagesStream) delta(data gjson.Result) ([]sse.Event, error) {
	out := s.start(nil)
	idx := data.Get("contentBlockIndex").Int()
	d := data.Get("delta")
	switch {
	case d.Get("text").Exists():
		var b *openBlock
		out, b = s.ensure(out, idx, "text")
		text := d.Get("text").String()
		out = append(out, deltaOf(b.index, blockDelta{Type: "text_delta", Text: &text}))
	case d.Get("toolUse").IsObject():
		b := s.blocks[idx]
		if b == nil || b.kind != "tool_use" {
			return nil, fmt.Errorf("%w: toolUse delta for content block %d before its contentBlockStart", errResponse, idx)
		}
		in := d.Get("toolUse.input").String()
		out = append(out, deltaOf(b.index, blockDelta{Type: "input_json_delta", PartialJSON: &in}))
	case d.Get("reasoningContent").IsObject():
		rc := d.Get("reasoningContent")
		if rd := rc.Get("redactedContent"); rd.Exists() {
			var b *openBlock
			out, b = s.ensure(out, idx, "redacted_thinking")
			b.data.WriteString(rd.String())
			break
		}
		var b *openBlock
		out, b = s.ensure(out, idx, "thinking")
		if t := rc.Get("text"); t.Exists() {
			text := t.String()
			out = append(out, deltaOf(b.index, blockDelta{Type: "thinking_delta", Thinking: &text}))
		}
		if sig := rc.Get("signature"); sig.Exists() {
			v := sig.String()
			out = append(out, deltaOf(b.index, blockDelta{Type: "signature_delta", Signature: &v}))
		}
	}
	return out, nil
}

// start sends message_start, once, before anything else.
func (s *ConverseToMessagesStream) start(out []sse.Event) []sse.Event {
	if s.started {
		return out
	}
	s.started = true
	msg := anthropicMessage{
		ID: s.id, Type: "message", Role: "assistant", Model: s.model,
		Content: []anthropicBlock{},
		Usage:   anthropicUsage{InputTokens: s.estimate},
	}
	return append(out, event("message_start", messageStart{Type: "message_start", Message: msg}))
}

// ensure returns the open block at idx of kind, opening it (and closing any other) as needed.
func (s *ConverseToMessagesStream) ensure(out []sse.Event, idx int64, kind string) ([]sse.Event, *openBlock) {
	if b := s.blocks[idx]; b != nil && b.kind == kind {
		return out, b
	}
	out, b := s.open(out, idx, kind)
	switch kind {
	case "text":
		empty := ""
		out = append(out, event("content_block_start", blockStart{Type: "content_block_start", Index: b.index, ContentBlock: anthropicBlock{Type: "text", Text: &empty}}))
	case "thinking":
		empty, sig := "", ""
		out = append(out, event("content_block_start", blockStart{Type: "content_block_start", Index: b.index, ContentBlock: anthropicBlock{Type: "thinking", Thinking: &empty, Signature: &sig}}))
	}
	// redacted_thinking starts at its stop, when its data is complete: Anthropic streams it
	// whole in content_block_start and has no delta for it.
	return out, b
}

// open opens a block at idx. Anthropic streams one block at a time, so any block still open
// is closed first (Converse, too, sends one block at a time; this keeps a stream that does
// not well-formed).
func (s *ConverseToMessagesStream) open(out []sse.Event, idx int64, kind string) ([]sse.Event, *openBlock) {
	out = s.stopAll(out)
	b := &openBlock{index: s.next, kind: kind}
	s.next++
	s.blocks[idx] = b
	return out, b
}

func (s *ConverseToMessagesStream) stopBlock(out []sse.Event, idx int64) []sse.Event {
	b := s.blocks[idx]
	if b == nil {
		return out
	}
	delete(s.blocks, idx)
	if b.kind == "redacted_thinking" {
		data := b.data.String()
		out = append(out, event("content_block_start", blockStart{Type: "content_block_start", Index: b.index, ContentBlock: anthropicBlock{Type: "redacted_thinking", Data: &data}}))
	}
	return append(out, event("content_block_stop", blockStop{Type: "content_block_stop", Index: b.index}))
}

// stopAll closes every open block, in the order they were opened.
func (s *ConverseToMessagesStream) stopAll(out []sse.Event) []sse.Event {
	idxs := make([]int64, 0, len(s.blocks))
	for idx := range s.blocks {
		idxs = append(idxs, idx)
	}
	slices.SortFunc(idxs, func(a, b int64) int { return s.blocks[a].index - s.blocks[b].index })
	for _, idx := range idxs {
		out = s.stopBlock(out, idx)
	}
	return out
}

func (s *ConverseToMessagesStream) finish(out []sse.Event) []sse.Event {
	out = s.stopAll(s.start(out))
	s.done = true
	reason := s.reason
	// Without a metadata event the usage is unknown: say only that nothing is known of the
	// output, rather than overwrite message_start's input estimate with a zero.
	var usage any = outputOnly{}
	if s.metered {
		usage = anthropicUsageOf(s.usage)
	}
	return append(out,
		event("message_delta", messageDelta{Type: "message_delta", Delta: stopDelta{StopReason: &reason, StopSequence: s.sequence}, Usage: usage}),
		event("message_stop", typeOnly{Type: "message_stop"}),
	)
}

// Anthropic stream event shapes.

type typeOnly struct {
	Type string `json:"type"`
}

type messageStart struct {
	Type    string           `json:"type"`
	Message anthropicMessage `json:"message"`
}

type blockStart struct {
	Type         string         `json:"type"`
	Index        int            `json:"index"`
	ContentBlock anthropicBlock `json:"content_block"`
}

type blockDeltaEvent struct {
	Type  string     `json:"type"`
	Index int        `json:"index"`
	Delta blockDelta `json:"delta"`
}

type blockDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
}

type blockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type messageDelta struct {
	Type  string    `json:"type"`
	Delta stopDelta `json:"delta"`
	Usage any       `json:"usage"` // anthropicUsage, or outputOnly when the upstream sent none
}

type outputOnly struct {
	OutputTokens int64 `json:"output_tokens"`
}

type stopDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

func deltaOf(index int, d blockDelta) sse.Event {
	return event("content_block_delta", blockDeltaEvent{Type: "content_block_delta", Index: index, Delta: d})
}

// event encodes one Anthropic stream event. Its shapes hold strings, numbers and the constant
// tool input {}, which always encode.
func event(name string, v any) sse.Event {
	b, _ := llm.Marshal(v)
	return sse.Event{Event: name, Data: b}
}
