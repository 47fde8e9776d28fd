package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/sse"
)

// Stream event types: the event: line of each event and the type member of its data.
const (
	EventCreated                    = "response.created"
	EventInProgress                 = "response.in_progress"
	EventCompleted                  = "response.completed"
	EventIncomplete                 = "response.incomplete"
	EventFailed                     = "response.failed"
	EventOutputItemAdded            = "response.output_item.added"
	EventOutputItemDone             = "response.output_item.done"
	EventContentPartAdded           = "response.content_part.added"
	EventContentPartDone            = "response.content_part.done"
	EventOutputTextDelta            = "response.output_text.delta"
	EventOutputTextDone             = "response.output_text.done"
	EventRefusalDelta               = "response.refusal.delta"
	EventRefusalDone                = "response.refusal.done"
	EventReasoningTextDelta         = "response.reasoning_text.delta"
	EventReasoningTextDone          = "response.reasoning_text.done"
	EventFunctionCallArgumentsDelta = "response.function_call_arguments.delta"
	EventFunctionCallArgumentsDone  = "response.function_call_arguments.done"
	EventCustomToolCallInputDelta   = "response.custom_tool_call_input.delta"
	EventCustomToolCallInputDone    = "response.custom_tool_call_input.done"
)

// ChatToResponsesStream converts a streamed chat completion (data-only chunks ending with
// [DONE]) into the Responses event stream, as the real API sends it: response.created and
// response.in_progress, then each output item in turn (output_item.added, its content parts
// with their deltas and done events, or its function call arguments, then output_item.done),
// then response.completed — or response.incomplete, with incomplete_details, when the upstream
// stopped for length or content filtering. Every event carries the event: line of its type
// and a sequence_number that counts from 0.
//
// Items are sent one after the other. A chat stream may interleave the fragments of parallel
// tool calls; the first call streams as its fragments come, the others are kept whole and
// sent in order when it is done, so no fragment is lost and no item overlaps another. A call
// of one of the request's custom tools becomes a custom_tool_call; its input is unwrapped from
// the function arguments chat streams, so it is sent whole when the call is done.
type ChatToResponsesStream struct {
	echo echo
	ids  ids
	seq  int64
	err  error

	resp    Response
	started bool
	ended   bool

	items []*streamItem
	live  int                 // items before live are done
	calls map[int]*streamItem // the function call items by chat tool call index

	finish   string
	finished bool
	usage    *openai.Usage
}

// streamItem is one output item being built.
type streamItem struct {
	id, typ      string
	index        int
	callID, name string
	namespace    string                   // of a call to a tool of a namespace
	details      []openai.ReasoningDetail // another provider's signed or encrypted reasoning
	covered      int                      // bytes of reasoning text the details cover
	encrypt      bool                     // send details as encrypted_content
	upstreamID   string                   // the call id the upstream gave, if any
	args         strings.Builder
	sent         int // bytes of args already sent
	parts        []*streamPart
	added        bool
	closed       bool // no more content will come
	done         bool
	incomplete   bool
}

// streamPart is one content part of a message or reasoning item.
type streamPart struct {
	typ                   string // output_text, refusal or reasoning_text
	text                  strings.Builder
	sent                  int
	added, closed, isDone bool
}

// NewChatToResponsesStream returns the converter of the chat stream that answers req, the
// client's Responses request.
func NewChatToResponsesStream(req []byte) *ChatToResponsesStream {
	return &ChatToResponsesStream{echo: echoOf(req), calls: make(map[int]*streamItem)}
}

// Usage returns the usage the upstream reported so far.
func (s *ChatToResponsesStream) Usage() llm.Usage {
	if s.usage == nil {
		return llm.Usage{}
	}
	return s.usage.LLM()
}

// Next takes one chat chunk (or [DONE]) and returns the Responses events it completes.
// A chunk that is not a chat chunk is an error wrapping llm.ErrInvalid; a chunk carrying an
// error ends the stream with response.failed.
func (s *ChatToResponsesStream) Next(ev sse.Event) ([]sse.Event, error) {
	if s.ended || s.err != nil {
		return nil, s.err
	}
	if ev.IsDone() {
		out := s.start(nil, 0, "")
		return s.end(out), s.err
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return nil, nil
	}
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("%w: upstream chat chunk is not JSON: %.80q", llm.ErrInvalid, data)
	}
	if e := gjson.GetBytes(data, "error"); e.Exists() && e.Type != gjson.Null {
		out := s.start(nil, 0, "")
		return s.fail(out, e), s.err
	}
	var ch openai.ChatChunk
	if err := json.Unmarshal(data, &ch); err != nil {
		return nil, fmt.Errorf("%w: upstream chat chunk: %w", llm.ErrInvalid, err)
	}
	out := s.start(nil, ch.Created, ch.Model)
	if ch.Usage != nil {
		u := *ch.Usage
		s.usage = &u
	}
	if ch.ServiceTier != "" {
		s.resp.ServiceTier = ch.ServiceTier
	}
	for _, c := range ch.Choices {
		if c.Index != 0 {
			continue // Responses has one answer; lynkr never asks for more
		}
		d := c.Delta
		s.text(PartReasoningText, reasoningOf(deref(d.ReasoningContent), deref(d.Reasoning)))
		s.reasoningDetails(d.ReasoningDetails)
		s.text(PartOutputText, deref(d.Content))
		s.text(PartRefusal, deref(d.Refusal))
		for _, tc := range d.ToolCalls {
			s.toolCall(tc)
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			s.finish = *c.FinishReason
			s.finished = true
		}
	}
	return s.pump(out), s.err
}

// Close ends the stream. An upstream that stopped after its finish_reason but before [DONE]
// still completes; one that stopped before is an error wrapping llm.ErrTruncated.
func (s *ChatToResponsesStream) Close() ([]sse.Event, error) {
	if s.ended || s.err != nil {
		return nil, s.err
	}
	if !s.finished {
		s.ended = true
		return nil, fmt.Errorf("%w: the chat stream stopped before its finish_reason", llm.ErrTruncated)
	}
	return s.end(nil), s.err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// start sends response.created and response.in_progress before the first output.
func (s *ChatToResponsesStream) start(out []sse.Event, created int64, model string) []sse.Event {
	if s.started {
		return out
	}
	s.started = true
	s.resp = s.echo.response(s.ids.make(prefixResponse), s.ids.unix(created), model)
	out = s.emit(out, EventCreated, responsePayload{s.resp})
	return s.emit(out, EventInProgress, responsePayload{s.resp})
}

// text adds a piece of text of kind (output_text, refusal, reasoning_text) to the open message
// or reasoning item, opening one after the last item when there is none.
func (s *ChatToResponsesStream) text(kind, delta string) {
	if delta == "" {
		return
	}
	typ := OutputMessage
	if kind == PartReasoningText {
		typ = OutputReasoning
	}
	var it *streamItem
	if n := len(s.items); n > 0 && s.items[n-1].typ == typ && !s.items[n-1].closed {
		it = s.items[n-1]
	} else {
		s.closeText()
		it = s.newItem(typ)
	}
	var p *streamPart
	if n := len(it.parts); n > 0 && it.parts[n-1].typ == kind {
		p = it.parts[n-1]
	} else {
		if n > 0 {
			it.parts[n-1].closed = true
		}
		p = &streamPart{typ: kind}
		it.parts = append(it.parts, p)
	}
	p.text.WriteString(delta)
}

// toolCall adds a fragment of a tool call.
func (s *ChatToResponsesStream) toolCall(tc openai.ToolCallDelta) {
	it := s.calls[tc.Index]
	if it != nil && tc.ID != "" && it.upstreamID != "" && tc.ID != it.upstreamID {
		it = nil // a server that numbers every call 0 and tells them apart by id
	}
	if it == nil {
		s.closeText()
		it = s.newItem(OutputFunctionCall)
		s.calls[tc.Index] = it
	}
	if tc.ID != "" && it.upstreamID == "" {
		it.upstreamID = tc.ID
		if !it.added {
			it.callID = tc.ID
		}
	}
	if f := tc.Function; f != nil {
		if f.Name != "" && it.name == "" && !it.added {
			it.name = f.Name
			if ns, ok := s.echo.namespaced[f.Name]; ok {
				it.name, it.namespace = ns.name, ns.namespace
			}
		}
		it.args.WriteString(f.Arguments)
	}
}

// reasoningDetails keeps the signed or encrypted reasoning a chunk carries (Claude's
// signature, as reasoning_details bring it) with the reasoning item it belongs to: a signature
// vouches for the reasoning text since the last one.
func (s *ChatToResponsesStream) reasoningDetails(raw json.RawMessage) {
	details := carried(raw)
	if len(details) == 0 {
		return
	}
	var it *streamItem
	if n := len(s.items); n > 0 && s.items[n-1].typ == OutputReasoning && !s.items[n-1].closed {
		it = s.items[n-1]
	} else {
		s.closeText()
		it = s.newItem(OutputReasoning)
	}
	var text strings.Builder
	for _, p := range it.parts {
		text.WriteString(p.text.String())
	}
	for _, d := range details {
		if d.Type == openai.DetailText && d.Text == "" {
			d.Text = text.String()[it.covered:]
			it.covered = text.Len()
		}
		it.details = append(it.details, d)
	}
}

// closeText closes the last item if it is a message or reasoning: what follows starts a new
// item. Function calls stay open to the end, since chat may send their fragments interleaved.
func (s *ChatToResponsesStream) closeText() {
	if n := len(s.items); n > 0 && (s.items[n-1].typ == OutputMessage || s.items[n-1].typ == OutputReasoning) {
		s.items[n-1].close()
	}
}

func (it *streamItem) close() {
	it.closed = true
	if n := len(it.parts); n > 0 {
		it.parts[n-1].closed = true
	}
}

func (s *ChatToResponsesStream) newItem(typ string) *streamItem {
	it := &streamItem{typ: typ, index: len(s.items)}
	s.items = append(s.items, it)
	return it
}

// add gives the item its id, and a call its type, which its name decides.
func (s *ChatToResponsesStream) add(it *streamItem) {
	it.added = true
	prefix := prefixMessage
	switch it.typ {
	case OutputFunctionCall:
		prefix = prefixFunction
		if s.echo.custom[it.name] {
			it.typ, prefix = OutputCustomToolCall, prefixCustom
		}
		if it.callID == "" {
			it.callID = s.ids.make(prefixCall)
		}
	case OutputReasoning:
		prefix = prefixReasoning
		it.encrypt = s.echo.encrypted
	}
	it.id = s.ids.make(prefix)
}

// pump sends what can be sent: the live item's new content and, once it is closed, its done
// events, then the same for the items after it.
func (s *ChatToResponsesStream) pump(out []sse.Event) []sse.Event {
	for s.live < len(s.items) {
		it := s.items[s.live]
		if !it.added {
			if it.typ == OutputFunctionCall && it.name == "" && !it.closed {
				break // wait for the name the added event must carry
			}
			s.add(it)
			out = s.emit(out, EventOutputItemAdded, itemPayload{it.index, it.snapshot(false)})
		}
		switch it.typ {
		case OutputCustomToolCall:
			if it.closed {
				input := customInput(it.args.String())
				if input != "" {
					out = s.emit(out, EventCustomToolCallInputDelta, argsDelta{it.id, it.index, input})
				}
				out = s.emit(out, EventCustomToolCallInputDone, customDone{it.id, it.index, input})
			}
		case OutputFunctionCall:
			if it.args.Len() > it.sent {
				out = s.emit(out, EventFunctionCallArgumentsDelta, argsDelta{it.id, it.index, it.args.String()[it.sent:]})
				it.sent = it.args.Len()
			}
			if it.closed {
				out = s.emit(out, EventFunctionCallArgumentsDone, argsDone{it.id, it.name, it.index, it.args.String()})
			}
		default:
			var open bool
			if out, open = s.pumpParts(out, it); open {
				return out
			}
		}
		if !it.closed {
			break
		}
		it.done = true
		out = s.emit(out, EventOutputItemDone, itemPayload{it.index, it.snapshot(true)})
		s.live++
	}
	return out
}

// pumpParts sends the new content of a message or reasoning item's parts and reports whether
// a part is still open.
func (s *ChatToResponsesStream) pumpParts(out []sse.Event, it *streamItem) ([]sse.Event, bool) {
	for j, p := range it.parts {
		if p.isDone {
			continue
		}
		if !p.added {
			p.added = true
			out = s.emit(out, EventContentPartAdded, partPayload{it.id, it.index, j, OutputPart{Type: p.typ}})
		}
		if p.text.Len() > p.sent {
			d := p.text.String()[p.sent:]
			p.sent = p.text.Len()
			switch p.typ {
			case PartOutputText:
				out = s.emit(out, EventOutputTextDelta, textDelta{it.id, it.index, j, d, []json.RawMessage{}})
			case PartRefusal:
				out = s.emit(out, EventRefusalDelta, plainDelta{it.id, it.index, j, d})
			default:
				out = s.emit(out, EventReasoningTextDelta, plainDelta{it.id, it.index, j, d})
			}
		}
		if !p.closed {
			return out, true
		}
		p.isDone = true
		full := p.text.String()
		switch p.typ {
		case PartOutputText:
			out = s.emit(out, EventOutputTextDone, textDone{it.id, it.index, j, full, []json.RawMessage{}})
		case PartRefusal:
			out = s.emit(out, EventRefusalDone, refusalDone{it.id, it.index, j, full})
		default:
			out = s.emit(out, EventReasoningTextDone, reasoningDone{it.id, it.index, j, full})
		}
		out = s.emit(out, EventContentPartDone, partPayload{it.id, it.index, j, p.output()})
	}
	return out, !it.closed
}

func (p *streamPart) output() OutputPart {
	if p.typ == PartRefusal {
		return OutputPart{Type: p.typ, Refusal: p.text.String()}
	}
	return OutputPart{Type: p.typ, Text: p.text.String()}
}

// snapshot is the item as output_item.added (empty, in progress) or output_item.done (whole)
// shows it.
func (it *streamItem) snapshot(whole bool) OutputItem {
	o := OutputItem{ID: it.id, Type: it.typ, Status: StatusInProgress}
	if whole {
		o.Status = StatusCompleted
		if it.incomplete {
			o.Status = StatusIncomplete
		}
	}
	switch it.typ {
	case OutputFunctionCall:
		o.CallID, o.Name, o.Namespace = it.callID, it.name, it.namespace
		if whole {
			o.Arguments = it.args.String()
		}
	case OutputCustomToolCall:
		o.CallID, o.Name = it.callID, it.name
		if whole {
			o.Input = customInput(it.args.String())
		}
	case OutputReasoning:
		o.Status = ""
		o.Summary = []OutputPart{}
		if whole {
			for _, p := range it.parts {
				o.Content = append(o.Content, p.output())
			}
			if it.encrypt && len(it.details) > 0 {
				o.EncryptedContent = EncodeReasoning(it.details)
			}
		}
	default:
		o.Role = RoleAssistant
		o.Content = []OutputPart{}
		if whole {
			for _, p := range it.parts {
				o.Content = append(o.Content, p.output())
			}
		}
	}
	return o
}

// end closes every item, sends what is left and the closing event.
func (s *ChatToResponsesStream) end(out []sse.Event) []sse.Event {
	s.ended = true
	if n := len(s.items); n > 0 && (s.finish == openai.FinishLength || s.finish == openai.FinishContentFilter) {
		s.items[n-1].incomplete = true
	}
	for _, it := range s.items {
		it.close()
	}
	out = s.pump(out)
	s.resp.Output = make([]OutputItem, 0, len(s.items))
	for _, it := range s.items {
		s.resp.Output = append(s.resp.Output, it.snapshot(true))
	}
	s.resp.finish(s.finish)
	if s.usage != nil {
		u := usageFromChat(*s.usage)
		s.resp.Usage = &u
	}
	typ := EventCompleted
	if s.resp.Status == StatusIncomplete {
		typ = EventIncomplete
	}
	return s.emit(out, typ, responsePayload{s.resp})
}

// fail ends the stream with response.failed, for a chunk that carries an error.
func (s *ChatToResponsesStream) fail(out []sse.Event, e gjson.Result) []sse.Event {
	s.ended = true
	msg := e.Get("message").String()
	if msg == "" {
		msg = e.String()
	}
	code := "server_error"
	if c := e.Get("code"); c.Type == gjson.String && c.String() != "" {
		code = c.String()
	} else if t := e.Get("type"); t.Type == gjson.String && t.String() != "" {
		code = t.String()
	}
	s.resp.Status = StatusFailed
	s.resp.Error = &ResponseError{Code: code, Message: msg}
	s.resp.Output = []OutputItem{}
	for _, it := range s.items {
		if it.done {
			s.resp.Output = append(s.resp.Output, it.snapshot(true))
		}
	}
	if s.usage != nil {
		u := usageFromChat(*s.usage)
		s.resp.Usage = &u
	}
	return s.emit(out, EventFailed, responsePayload{s.resp})
}

// emit appends the event typ with its payload, after the type and sequence_number members.
func (s *ChatToResponsesStream) emit(out []sse.Event, typ string, payload any) []sse.Event {
	b, err := llm.Marshal(payload)
	if err != nil {
		if s.err == nil {
			s.err = fmt.Errorf("%w: %s: %w", llm.ErrInvalid, typ, err)
		}
		return out
	}
	data := make([]byte, 0, len(b)+len(typ)+48)
	data = append(data, `{"type":"`...)
	data = append(data, typ...)
	data = append(data, `","sequence_number":`...)
	data = strconv.AppendInt(data, s.seq, 10)
	if len(b) > 2 {
		data = append(data, ',')
		data = append(data, b[1:]...)
	} else {
		data = append(data, '}')
	}
	s.seq++
	return append(out, sse.Event{Event: typ, Data: data})
}

// Event payloads, without the type and sequence_number that emit puts first.
type (
	responsePayload struct {
		Response Response `json:"response"`
	}
	itemPayload struct {
		OutputIndex int        `json:"output_index"`
		Item        OutputItem `json:"item"`
	}
	partPayload struct {
		ItemID       string     `json:"item_id"`
		OutputIndex  int        `json:"output_index"`
		ContentIndex int        `json:"content_index"`
		Part         OutputPart `json:"part"`
	}
	textDelta struct {
		ItemID       string            `json:"item_id"`
		OutputIndex  int               `json:"output_index"`
		ContentIndex int               `json:"content_index"`
		Delta        string            `json:"delta"`
		Logprobs     []json.RawMessage `json:"logprobs"`
	}
	textDone struct {
		ItemID       string            `json:"item_id"`
		OutputIndex  int               `json:"output_index"`
		ContentIndex int               `json:"content_index"`
		Text         string            `json:"text"`
		Logprobs     []json.RawMessage `json:"logprobs"`
	}
	plainDelta struct {
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
		Delta        string `json:"delta"`
	}
	refusalDone struct {
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
		Refusal      string `json:"refusal"`
	}
	reasoningDone struct {
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
		Text         string `json:"text"`
	}
	argsDelta struct {
		ItemID      string `json:"item_id"`
		OutputIndex int    `json:"output_index"`
		Delta       string `json:"delta"`
	}
	customDone struct {
		ItemID      string `json:"item_id"`
		OutputIndex int    `json:"output_index"`
		Input       string `json:"input"`
	}
	argsDone struct {
		ItemID      string `json:"item_id"`
		Name        string `json:"name"`
		OutputIndex int    `json:"output_index"`
		Arguments   string `json:"arguments"`
	}
)
