package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/sse"
)

// EventReasoningSummaryTextDelta streams a piece of a reasoning summary, which a Responses
// upstream sends and ChatToResponsesStream does not.
const EventReasoningSummaryTextDelta = "response.reasoning_summary_text.delta"

// reasoningSeparator comes between two pieces of reasoning: summary parts, or items.
const reasoningSeparator = "\n\n"

// ResponsesToChatStream converts a Responses upstream's event stream into the chat completion
// chunks the client expects, as OpenAI streams them: a first chunk with the assistant role,
// content, refusal and reasoning_content deltas, tool calls (index, id, type and name first,
// then argument fragments), a chunk with the finish_reason, a chunk with empty choices and
// the usage if the client asked for stream_options.include_usage, and [DONE].
//
// Reasoning summaries (or reasoning text) stream as reasoning_content, their pieces separated
// by a blank line; a reasoning item's encrypted content, when the upstream sends it, follows
// as reasoning_details, as OpenRouter streams it. Text, reasoning or arguments that an
// output_item.done carries beyond the deltas streamed before it are sent then, so an upstream
// that sends whole items loses nothing.
type ResponsesToChatStream struct {
	model        string
	includeUsage bool
	now          func() time.Time

	started bool
	done    bool
	id      string
	created int64
	items   map[int64]*upStreamItem // by output_index
	tools   int                     // tool calls so far
	calls   bool

	reasoningSent bool    // some reasoning was sent
	reasoningKey  partKey // the reasoning piece last sent from
	details       int     // reasoning_details sent

	usage llm.Usage
}

// partKey names a piece of reasoning: the summary part (kind 's') or content part ('c') of the
// item at output index item, or what its output_item.done added ('d').
type partKey struct {
	item, part int64
	kind       byte
}

// upStreamItem is what the stream remembers of an output item: what it sent of it.
type upStreamItem struct {
	typ       string
	tool      int  // function_call: its index among the tool calls
	announced bool // function_call: its first chunk (id and name) is sent
	args      strings.Builder
	text      strings.Builder
	refusal   strings.Builder
	reasoning strings.Builder
}

// NewResponsesToChatStream returns the converter of the stream that answers req, the client's
// chat request.
func NewResponsesToChatStream(req []byte) *ResponsesToChatStream {
	return &ResponsesToChatStream{
		model:        gjson.GetBytes(req, "model").Str,
		includeUsage: gjson.GetBytes(req, "stream_options.include_usage").Bool(),
		now:          time.Now,
		items:        map[int64]*upStreamItem{},
	}
}

// Usage is the upstream's usage, known when the response ends.
func (s *ResponsesToChatStream) Usage() llm.Usage { return s.usage }

// Close reports an upstream that stopped before the event that ends its response.
func (s *ResponsesToChatStream) Close() ([]sse.Event, error) {
	if !s.done {
		s.done = true
		return nil, fmt.Errorf("responses stream: %w", llm.ErrTruncated)
	}
	return nil, nil
}

// Next converts one upstream event. An error event or a failed response is returned as an
// *apierror.Error with the upstream's message; an event that is not JSON is an error wrapping
// llm.ErrInvalid. Events after the end of the response are ignored.
func (s *ResponsesToChatStream) Next(ev sse.Event) ([]sse.Event, error) {
	if s.done {
		return nil, nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || ev.IsDone() {
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
	switch name {
	case EventError:
		s.done = true
		e := d.Get("error")
		if !e.IsObject() {
			e = d
		}
		return nil, upstreamError(e)
	case EventFailed:
		s.done = true
		EventUsage(sse.Event{Event: name, Data: data}, &s.usage)
		var e *ResponseError
		if v := d.Get("response.error"); v.IsObject() {
			e = &ResponseError{Code: v.Get("code").String(), Message: v.Get("message").String()}
		}
		return nil, failedError(e)
	}
	var out []sse.Event
	if !s.started {
		out = s.start(d.Get("response"))
	}
	idx := d.Get("output_index").Int()
	switch name {
	case EventOutputItemAdded:
		out = s.added(out, idx, d.Get("item"))
	case EventOutputTextDelta:
		it := s.item(idx, OutputMessage)
		delta := d.Get("delta").Str
		it.text.WriteString(delta)
		out = s.content(out, delta)
	case EventRefusalDelta:
		it := s.item(idx, OutputMessage)
		delta := d.Get("delta").Str
		it.refusal.WriteString(delta)
		out = s.refusal(out, delta)
	case EventReasoningSummaryTextDelta:
		out = s.reasoning(out, idx, partKey{idx, d.Get("summary_index").Int(), 's'}, d.Get("delta").Str)
	case EventReasoningTextDelta:
		out = s.reasoning(out, idx, partKey{idx, d.Get("content_index").Int(), 'c'}, d.Get("delta").Str)
	case EventFunctionCallArgumentsDelta:
		it := s.item(idx, OutputFunctionCall)
		out = s.announce(out, it, "", "")
		if frag := d.Get("delta").Str; frag != "" {
			it.args.WriteString(frag)
			out = append(out, s.args(it.tool, frag))
		}
	case EventOutputItemDone:
		out = s.itemDone(out, idx, d.Get("item"))
	case EventCompleted, EventIncomplete:
		out = s.end(out, name, data, d.Get("response"))
	}
	return out, nil
}

// start sends the first chunk, with the assistant role, taking the id and creation time of
// the upstream's response when the event has them.
func (s *ResponsesToChatStream) start(resp gjson.Result) []sse.Event {
	s.started = true
	s.id = resp.Get("id").Str
	if s.id == "" {
		s.id = ids{}.make("chatcmpl-")
	}
	s.created = resp.Get("created_at").Int()
	if s.created == 0 {
		s.created = s.now().Unix()
	}
	if s.model == "" {
		s.model = resp.Get("model").Str
	}
	empty := ""
	return []sse.Event{s.chunk(openai.ChunkDelta{Role: openai.RoleAssistant, Content: &empty}, nil)}
}

// item returns the output item at idx, remembering it as of type typ when it is new.
func (s *ResponsesToChatStream) item(idx int64, typ string) *upStreamItem {
	it := s.items[idx]
	if it == nil {
		it = &upStreamItem{typ: typ}
		if typ == OutputFunctionCall {
			it.tool = s.tools
			s.tools++
			s.calls = true
		}
		s.items[idx] = it
	}
	return it
}

func (s *ResponsesToChatStream) added(out []sse.Event, idx int64, item gjson.Result) []sse.Event {
	typ := item.Get("type").Str
	it := s.item(idx, typ)
	if typ != OutputFunctionCall {
		return out
	}
	out = s.announce(out, it, item.Get("call_id").Str, item.Get("name").Str)
	if args := item.Get("arguments").Str; args != "" {
		it.args.WriteString(args)
		out = append(out, s.args(it.tool, args))
	}
	return out
}

// announce sends a tool call's first chunk, with its id and name, once.
func (s *ResponsesToChatStream) announce(out []sse.Event, it *upStreamItem, callID, name string) []sse.Event {
	if it.announced {
		return out
	}
	it.announced = true
	return append(out, s.chunk(openai.ChunkDelta{ToolCalls: []openai.ToolCallDelta{{
		Index: it.tool, ID: callID, Type: "function", Function: &openai.FunctionCallDelta{Name: name},
	}}}, nil))
}

// itemDone sends what the finished item holds beyond what was streamed of it.
func (s *ResponsesToChatStream) itemDone(out []sse.Event, idx int64, raw gjson.Result) []sse.Event {
	var item upItem
	if err := json.Unmarshal([]byte(raw.Raw), &item); err != nil {
		return out
	}
	it := s.item(idx, item.Type)
	switch item.Type {
	case OutputFunctionCall:
		out = s.announce(out, it, item.CallID, item.Name)
		args := item.Arguments
		if it.args.Len() == 0 && strings.TrimSpace(args) == "" {
			args = "{}" // chat clients parse the arguments: a call without any gets the empty object
		}
		if rest := remainder(it.args.String(), args); rest != "" {
			it.args.WriteString(rest)
			out = append(out, s.args(it.tool, rest))
		}
	case OutputMessage:
		var text, refusal strings.Builder
		for _, p := range item.Content {
			text.WriteString(p.Text)
			refusal.WriteString(p.Refusal)
		}
		if rest := remainder(it.text.String(), text.String()); rest != "" {
			it.text.WriteString(rest)
			out = s.content(out, rest)
		}
		if rest := remainder(it.refusal.String(), refusal.String()); rest != "" {
			it.refusal.WriteString(rest)
			out = s.refusal(out, rest)
		}
	case OutputReasoning:
		if rest := remainder(it.reasoning.String(), item.reasoningText()); rest != "" {
			key := partKey{idx, 0, 'd'} // a piece of its own, unless it continues the last
			if it.reasoning.Len() > 0 {
				key = s.reasoningKey
			}
			out = s.reasoning(out, idx, key, rest)
		}
		if item.EncryptedContent != "" {
			out = append(out, s.reasoningDetail(encryptedDetail(item, s.details)))
			s.details++
		}
	}
	return out
}

// remainder is what full holds after sent, or "" when full does not continue sent.
func remainder(sent, full string) string {
	if len(full) <= len(sent) || !strings.HasPrefix(full, sent) {
		return ""
	}
	return full[len(sent):]
}

// end sends the finish_reason, the usage when asked for, and [DONE].
func (s *ResponsesToChatStream) end(out []sse.Event, name string, data []byte, resp gjson.Result) []sse.Event {
	s.done = true
	EventUsage(sse.Event{Event: name, Data: data}, &s.usage)
	var d *IncompleteDetails
	if r := resp.Get("incomplete_details.reason"); r.Type == gjson.String {
		d = &IncompleteDetails{Reason: r.Str}
	}
	status := resp.Get("status").Str
	if name == EventIncomplete {
		status = StatusIncomplete
	}
	finish := finishOf(status, d, s.calls)
	out = append(out, s.chunk(openai.ChunkDelta{}, &finish))
	if s.includeUsage {
		var u Usage
		if v := resp.Get("usage"); v.IsObject() {
			_ = json.Unmarshal([]byte(v.Raw), &u) // a usage that does not decode counts zero
		}
		cu := chatUsage(u)
		out = append(out, s.event(openai.ChatChunk{
			ID: s.id, Object: openai.ObjectChatChunk, Created: s.created, Model: s.model,
			Choices: []openai.ChunkChoice{}, Usage: &cu,
		}))
	}
	return append(out, sse.Event{Data: sse.Done})
}

func (s *ResponsesToChatStream) content(out []sse.Event, text string) []sse.Event {
	if text == "" {
		return out
	}
	return append(out, s.chunk(openai.ChunkDelta{Content: &text}, nil))
}

func (s *ResponsesToChatStream) refusal(out []sse.Event, text string) []sse.Event {
	if text == "" {
		return out
	}
	return append(out, s.chunk(openai.ChunkDelta{Refusal: &text}, nil))
}

// reasoning sends a piece of reasoning of the item at idx; key names the summary part or
// content part it belongs to, and a piece of another part than the last is set apart by a
// blank line.
func (s *ResponsesToChatStream) reasoning(out []sse.Event, idx int64, key partKey, text string) []sse.Event {
	if text == "" {
		return out
	}
	it := s.item(idx, OutputReasoning)
	if s.reasoningSent && key != s.reasoningKey {
		if it.reasoning.Len() > 0 { // between the parts of one item, as reasoningText joins them
			it.reasoning.WriteString(reasoningSeparator)
		}
		text = reasoningSeparator + text
		it.reasoning.WriteString(text[len(reasoningSeparator):])
	} else {
		it.reasoning.WriteString(text)
	}
	s.reasoningSent = true
	s.reasoningKey = key
	return append(out, s.chunk(openai.ChunkDelta{ReasoningContent: &text}, nil))
}

func (s *ResponsesToChatStream) args(tool int, frag string) sse.Event {
	return s.chunk(openai.ChunkDelta{ToolCalls: []openai.ToolCallDelta{{
		Index: tool, Function: &openai.FunctionCallDelta{Arguments: frag},
	}}}, nil)
}

// reasoningDetail sends a chunk whose delta is one piece of reasoning_details.
func (s *ResponsesToChatStream) reasoningDetail(d openai.ReasoningDetail) sse.Event {
	raw, _ := llm.Marshal([]openai.ReasoningDetail{d}) // strings and ints only
	return s.chunk(openai.ChunkDelta{ReasoningDetails: raw}, nil)
}

func (s *ResponsesToChatStream) chunk(delta openai.ChunkDelta, finish *string) sse.Event {
	return s.event(openai.ChatChunk{
		ID: s.id, Object: openai.ObjectChatChunk, Created: s.created, Model: s.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	})
}

// event is the data-only event of a chunk. A chunk holds strings, numbers and valid raw JSON
// only, so it always encodes.
func (s *ResponsesToChatStream) event(c openai.ChatChunk) sse.Event {
	b, _ := llm.Marshal(c)
	return sse.Event{Data: b}
}
