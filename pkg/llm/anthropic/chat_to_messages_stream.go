package anthropic

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// ChatToMessagesStream converts an upstream chat completion stream into the Messages stream
// the client expects: message_start, then each content block's start (the first followed by a
// ping, as Anthropic sends it), deltas and stop with its index, then message_delta (stop
// reason and usage) and message_stop.
//
// Anthropic's blocks never overlap, while a chat stream may interleave the argument fragments
// of parallel tool calls. So one block is open at a time, in the order each part of the
// answer first appeared; what arrives for a later part waits in its buffer until that part's
// block opens, and a tool call's block closes only once its arguments are a complete JSON
// value. Nothing is dropped, and the stream stays live in the usual sequential case.
type ChatToMessagesStream struct {
	req      []byte
	estimate int64 // input tokens, estimated from the request until the upstream reports them

	started bool
	ended   bool // [DONE] or a finish_reason arrived
	closed  bool // the closing events were sent
	id      string

	segs   []*segment         // the parts of the answer, in order of appearance
	cur    int                // segs[cur] is open (if it exists); those before are closed
	calls  map[int64]*segment // tool calls by their chat index
	blocks int                // Anthropic blocks opened so far

	finish   string
	matched  string // the stop sequence that ended the answer
	reported *llm.Usage
	outBytes int
	usage    llm.Usage
}

// Kinds of segment.
const (
	segText = iota
	segThinking
	segTool
)

// segment is one part of the answer, which becomes one content block.
type segment struct {
	kind   int
	index  int             // its Anthropic block index, once open
	opened bool            // its content_block_start was sent
	buf    strings.Builder // content that arrived before the block opened
	id     string          // tool calls only
	name   string
	args   jsonScan
	closed bool
}

// NewChatToMessagesStream returns the converter of the stream that answers req, the client's
// Messages request.
func NewChatToMessagesStream(req []byte) *ChatToMessagesStream {
	return &ChatToMessagesStream{req: req, estimate: EstimateInputTokens(req), calls: map[int64]*segment{}}
}

// Next converts one upstream event.
func (s *ChatToMessagesStream) Next(ev sse.Event) ([]sse.Event, error) {
	if s.closed {
		return nil, nil
	}
	if ev.IsDone() {
		s.ended = true
		return s.end(nil)
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return nil, nil
	}
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("%w: upstream chunk is not valid JSON: %.100q", llm.ErrInvalid, data)
	}
	chunk := gjson.ParseBytes(data)
	if e := chunk.Get("error"); ev.Event == "error" || (e.Exists() && e.Type != gjson.Null) {
		return nil, chatUpstreamError(data)
	}
	var out []sse.Event
	if !s.started {
		out = s.start(chunk.Get("id").Str)
	}
	if u := chunk.Get("usage"); u.IsObject() {
		r := chatUsage(u)
		s.reported = &r
	}
	for _, ch := range chunk.Get("choices").Array() {
		if ch.Get("index").Int() != 0 {
			continue // Anthropic answers have one choice; the request asked for one
		}
		delta := ch.Get("delta")
		if r := delta.Get("reasoning_content"); r.Type == gjson.String && r.Str != "" {
			out = s.appendContent(out, segThinking, r.Str)
		} else if r := delta.Get("reasoning"); r.Type == gjson.String && r.Str != "" {
			out = s.appendContent(out, segThinking, r.Str)
		}
		if c := delta.Get("content"); c.Type == gjson.String && c.Str != "" {
			out = s.appendContent(out, segText, c.Str)
		}
		for _, tc := range delta.Get("tool_calls").Array() {
			var err error
			if out, err = s.toolDelta(out, tc); err != nil {
				return nil, err
			}
		}
		if f := ch.Get("finish_reason"); f.Type == gjson.String && f.Str != "" {
			s.finish, s.ended = f.Str, true
			s.matched = matchedStop(ch.Get("stop_reason"), s.req)
		}
	}
	return out, nil
}

// Close ends the client's stream, or reports an upstream that stopped before it finished.
func (s *ChatToMessagesStream) Close() ([]sse.Event, error) {
	if s.closed {
		return nil, nil
	}
	if !s.ended {
		return nil, fmt.Errorf("chat completion stream: %w", llm.ErrTruncated)
	}
	return s.end(nil)
}

// Usage is the upstream's usage, or the estimate the client was given if it reported none.
func (s *ChatToMessagesStream) Usage() llm.Usage {
	if s.reported != nil {
		return *s.reported
	}
	return s.usage
}

func (s *ChatToMessagesStream) start(id string) []sse.Event {
	s.started = true
	s.id = messageID(id)
	msg := Response{
		ID: s.id, Type: "message", Role: RoleAssistant, Model: clientModel(s.req, ""),
		Content: []ContentBlock{}, Usage: Usage{InputTokens: s.estimate},
	}
	return []sse.Event{event(EventMessageStart, MessageStartEvent{Type: EventMessageStart, Message: msg})}
}

// appendContent adds text or thinking: to the open block if it is of that kind, else to a new
// part (which opens at once if nothing else is open or the open part can close).
func (s *ChatToMessagesStream) appendContent(out []sse.Event, kind int, text string) []sse.Event {
	s.outBytes += len(text)
	if s.cur < len(s.segs) && s.segs[s.cur].kind == kind {
		return append(out, s.delta(s.segs[s.cur], text))
	}
	if n := len(s.segs); n > 0 && s.segs[n-1].kind == kind && !s.segs[n-1].opened {
		s.segs[n-1].buf.WriteString(text)
		return out
	}
	seg := &segment{kind: kind}
	seg.buf.WriteString(text)
	s.segs = append(s.segs, seg)
	return s.advance(out)
}

// toolDelta adds a tool call fragment: the first one of a call names it, the others carry
// pieces of its arguments.
func (s *ChatToMessagesStream) toolDelta(out []sse.Event, tc gjson.Result) ([]sse.Event, error) {
	idx := tc.Get("index").Int()
	id := tc.Get("id").Str
	fn := tc.Get("function")
	name := fn.Get("name").Str
	args := fn.Get("arguments").Str
	seg := s.calls[idx]
	// Some servers send every call of a parallel set at index 0, each with its own id.
	if seg == nil || (id != "" && seg.id != "" && id != seg.id) {
		seg = &segment{kind: segTool, id: id, name: name}
		s.calls[idx] = seg
		s.segs = append(s.segs, seg)
	} else {
		if seg.id == "" {
			seg.id = id
		}
		if seg.name == "" {
			seg.name = name
		}
	}
	s.outBytes += len(name) + len(args)
	if args != "" {
		switch {
		case seg.closed:
			if strings.TrimSpace(args) != "" {
				return nil, fmt.Errorf("%w: tool call %d: arguments continued after a complete JSON value", llm.ErrInvalid, idx)
			}
		case seg.opened:
			seg.args.feed(args)
			out = append(out, s.delta(seg, args))
		default:
			seg.args.feed(args)
			seg.buf.WriteString(args)
		}
	}
	return s.advance(out), nil
}

// advance opens the next part when none is open, and closes the open part when a later one
// waits and the open one is complete.
func (s *ChatToMessagesStream) advance(out []sse.Event) []sse.Event {
	for s.cur < len(s.segs) {
		seg := s.segs[s.cur]
		if !seg.opened {
			out = s.open(out, seg)
		}
		if s.cur+1 == len(s.segs) || (seg.kind == segTool && !seg.args.complete()) {
			return out
		}
		out = s.closeSeg(out, seg)
	}
	return out
}

func (s *ChatToMessagesStream) open(out []sse.Event, seg *segment) []sse.Event {
	seg.opened, seg.index = true, s.blocks
	s.blocks++
	var block ContentBlock
	switch seg.kind {
	case segText:
		block = ContentBlock{Type: BlockText}
	case segThinking:
		block = ContentBlock{Type: BlockThinking}
	case segTool:
		if seg.id == "" {
			seg.id = newID("toolu_")
		}
		block = ContentBlock{Type: BlockToolUse, ID: seg.id, Name: seg.name}
	}
	out = append(out, event(EventContentBlockStart, ContentBlockStartEvent{Type: EventContentBlockStart, Index: seg.index, ContentBlock: block}))
	if seg.index == 0 {
		// Anthropic sends its ping after the first content_block_start.
		out = append(out, event(EventPing, TypeOnly{Type: EventPing}))
	}
	if seg.buf.Len() > 0 {
		out = append(out, s.delta(seg, seg.buf.String()))
		seg.buf.Reset()
	}
	return out
}

func (s *ChatToMessagesStream) closeSeg(out []sse.Event, seg *segment) []sse.Event {
	seg.closed = true
	s.cur++
	return append(out, event(EventContentBlockStop, ContentBlockStopEvent{Type: EventContentBlockStop, Index: seg.index}))
}

func (s *ChatToMessagesStream) delta(seg *segment, text string) sse.Event {
	d := Delta{Type: DeltaText, Text: text}
	switch seg.kind {
	case segThinking:
		d = Delta{Type: DeltaThinking, Thinking: text}
	case segTool:
		d = Delta{Type: DeltaInputJSON, PartialJSON: text}
	}
	return event(EventContentBlockDelta, ContentBlockDeltaEvent{Type: EventContentBlockDelta, Index: seg.index, Delta: d})
}

// end closes every block, those still waiting included, and sends the stop reason, the usage
// and message_stop.
func (s *ChatToMessagesStream) end(out []sse.Event) ([]sse.Event, error) {
	if !s.started {
		out = s.start("")
	}
	for s.cur < len(s.segs) {
		seg := s.segs[s.cur]
		if !seg.opened {
			out = s.open(out, seg)
		}
		out = s.closeSeg(out, seg)
	}
	s.closed = true
	reason, seq := stopFromFinish(s.finish, len(s.calls) > 0, s.matched)
	if s.reported != nil {
		s.usage = *s.reported
	} else {
		s.usage = llm.Usage{InputTokens: s.estimate, OutputTokens: llm.EstimateTokens(s.outBytes)}
	}
	out = append(out,
		event(EventMessageDelta, MessageDeltaEvent{Type: EventMessageDelta, Delta: MessageDelta{StopReason: &reason, StopSequence: seq}, Usage: UsageOf(s.usage)}),
		event(EventMessageStop, TypeOnly{Type: EventMessageStop}),
	)
	return out, nil
}

// chatUsage reads a chat usage object; DeepSeek names its cached tokens differently.
func chatUsage(u gjson.Result) llm.Usage {
	cached := u.Get("prompt_tokens_details.cached_tokens").Int()
	if cached == 0 {
		cached = u.Get("prompt_cache_hit_tokens").Int()
	}
	return llm.Usage{
		InputTokens:     u.Get("prompt_tokens").Int(),
		OutputTokens:    u.Get("completion_tokens").Int(),
		CacheReadTokens: cached,
	}
}

// chatUpstreamError reads the error an OpenAI-compatible server put in its stream.
func chatUpstreamError(data []byte) error {
	status := http.StatusBadGateway
	if c := gjson.GetBytes(data, "error.code"); c.Type == gjson.Number && c.Int() >= 400 && c.Int() <= 599 {
		status = int(c.Int())
	}
	return apierror.FromUpstream("", status, data)
}

// event returns the server-sent event name with the JSON of v as data.
func event(name string, v any) sse.Event {
	b, err := llm.Marshal(v)
	if err != nil { // the event types hold only strings, numbers and valid raw JSON
		b = []byte(`{"type":"error","error":{"type":"api_error","message":"lynkr could not encode an event"}}`)
		name = EventError
	}
	return sse.Event{Event: name, Data: b}
}

// jsonScan follows a JSON value arriving in pieces, to tell when it is complete.
type jsonScan struct {
	depth    int
	started  bool // the value began with { or [
	scalar   bool // the value began with something else: never reported complete
	inString bool
	escaped  bool
	done     bool
}

func (j *jsonScan) feed(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case j.done || j.scalar:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				j.done, j.scalar = false, true
			}
		case j.inString:
			switch {
			case j.escaped:
				j.escaped = false
			case c == '\\':
				j.escaped = true
			case c == '"':
				j.inString = false
			}
		case c == '"':
			if !j.started {
				j.scalar = true
			}
			j.inString = true
		case c == '{' || c == '[':
			j.started = true
			j.depth++
		case c == '}' || c == ']':
			j.depth--
			if j.started && j.depth == 0 {
				j.done = true
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':':
		default:
			if !j.started {
				j.scalar = true
			}
		}
	}
}

// complete reports whether the value so far is one whole object or array.
func (j *jsonScan) complete() bool { return j.done && !j.scalar }
