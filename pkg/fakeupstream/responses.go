package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// responsePhase is the state a Responses object is rendered in.
type responsePhase uint8

const (
	phaseInProgress responsePhase = iota // response.created, response.in_progress
	phaseFinal                           // the JSON body, response.completed/incomplete
	phaseFailed                          // response.failed
)

// responsesBody renders a non-streamed Responses object, pretty-printed as OpenAI sends it.
func (c *compiled) responsesBody(model string, encrypted bool) []byte {
	return indent(c.appendResponse(nil, model, phaseFinal, encrypted, nil), "  ")
}

// appendResponse appends the Responses object in phase; errObj is the error of a failed one.
func (c *compiled) appendResponse(b []byte, model string, phase responsePhase, encrypted bool, errObj []byte) []byte {
	status := c.status
	switch phase {
	case phaseInProgress:
		status = "in_progress"
	case phaseFailed:
		status = "failed"
	}
	b = append(b, `{"id":`...)
	b = appendString(b, c.respID)
	b = append(b, `,"object":"response","created_at":`...)
	b = appendInt(b, c.created)
	b = append(b, `,"status":`...)
	b = appendString(b, status)
	b = append(b, `,"background":false,"completed_at":`...)
	if phase == phaseFinal && status == "completed" {
		b = appendInt(b, c.created)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	if errObj != nil {
		b = append(b, errObj...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if phase == phaseFinal && c.incompleteReason != "" {
		b = append(b, `{"reason":`...)
		b = appendString(b, c.incompleteReason)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":`...)
	b = appendString(b, model)
	b = append(b, `,"output":[`...)
	if phase == phaseFinal {
		for i, item := range c.responseItems(encrypted) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, item...)
		}
	}
	b = append(b, `],"parallel_tool_calls":true,"previous_response_id":null,"prompt_cache_key":null,`+
		`"reasoning":{"effort":null,"summary":null},"safety_identifier":null,"service_tier":"default","store":true,`+
		`"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],`+
		`"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":`...)
	if phase == phaseFinal {
		b = c.appendResponsesUsage(b)
	} else {
		b = append(b, "null"...)
	}
	return append(b, `,"user":null,"metadata":{}}`...)
}

// appendResponsesUsage appends the usage of a Responses object; input_tokens counts cached
// and cache-written tokens, as OpenAI's prompt_tokens does.
func (c *compiled) appendResponsesUsage(b []byte) []byte {
	u := c.usage
	input := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, input)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.CacheReadTokens)
	b = append(b, `},"output_tokens":`...)
	b = appendInt(b, u.OutputTokens)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, u.ReasoningTokens)
	b = append(b, `},"total_tokens":`...)
	b = appendInt(b, input+u.OutputTokens)
	return append(b, '}')
}

// responseItems renders the finished output items: a reasoning item, a message, then a
// function_call per tool call.
func (c *compiled) responseItems(encrypted bool) [][]byte {
	var items [][]byte
	if c.hasThinking() {
		items = append(items, c.appendReasoningItem(nil, encrypted, true))
	}
	if c.hasText() {
		items = append(items, c.appendMessageItem(nil, c.itemStatus()))
	}
	for _, t := range c.tools {
		items = append(items, appendFunctionCall(nil, t, "completed", t.args))
	}
	return items
}

// itemStatus is the status of a finished message item.
func (c *compiled) itemStatus() string {
	if c.status == "incomplete" {
		return "incomplete"
	}
	return "completed"
}

func (c *compiled) reasoningID() string { return "rs_fake" + c.respID[len("resp_fake"):] }

func (c *compiled) messageItemID() string { return "msg_fake" + c.respID[len("resp_fake"):] }

// encryptedContent is the reasoning item's encrypted_content: the Signature, else a stand-in
// derived from the thinking text.
func (c *compiled) encryptedContent() string {
	if c.r.Signature != "" {
		return c.r.Signature
	}
	return base64.StdEncoding.EncodeToString([]byte("fakeupstream reasoning: " + strings.Join(c.thinking, "")))
}

func (c *compiled) appendReasoningItem(b []byte, encrypted, done bool) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.reasoningID())
	b = append(b, `,"type":"reasoning"`...)
	if encrypted {
		b = append(b, `,"encrypted_content":`...)
		b = appendString(b, c.encryptedContent())
	}
	b = append(b, `,"summary":[`...)
	if done && len(c.thinking) > 0 {
		b = appendSummaryPart(b, strings.Join(c.thinking, ""))
	}
	return append(b, "]}"...)
}

func appendSummaryPart(b []byte, text string) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = appendString(b, text)
	return append(b, '}')
}

// appendMessageItem appends the assistant message item; a message in progress has no content.
func (c *compiled) appendMessageItem(b []byte, status string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.messageItemID())
	b = append(b, `,"type":"message","status":`...)
	b = appendString(b, status)
	b = append(b, `,"content":[`...)
	if status != "in_progress" {
		b = appendOutputText(b, strings.Join(c.text, ""))
	}
	return append(b, `],"role":"assistant"}`...)
}

func appendOutputText(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = appendString(b, text)
	return append(b, '}')
}

func appendFunctionCall(b []byte, t tool, status, args string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.itemID)
	b = append(b, `,"type":"function_call","status":`...)
	b = appendString(b, status)
	b = append(b, `,"arguments":`...)
	b = appendString(b, args)
	b = append(b, `,"call_id":`...)
	b = appendString(b, t.openAIID)
	b = append(b, `,"name":`...)
	b = appendString(b, t.name)
	if t.namespace != "" {
		b = append(b, `,"namespace":`...)
		b = appendString(b, t.namespace)
	}
	return append(b, '}')
}

// eventSeq builds the events of a Responses stream, numbering them from 0.
type eventSeq struct {
	events [][]byte
	seq    int64
}

// event appends the event name whose payload is {"type":name,"sequence_number":n<rest>}; rest
// is empty or starts with a comma.
func (s *eventSeq) event(name string, rest []byte) {
	b := make([]byte, 0, len(name)+len(rest)+48)
	b = append(b, `{"type":`...)
	b = appendString(b, name)
	b = append(b, `,"sequence_number":`...)
	b = appendInt(b, s.seq)
	b = append(b, rest...)
	s.events = append(s.events, sseEvent(name, append(b, '}')))
	s.seq++
}

// itemEvent appends an event about the output item at index, led by its item_id and
// output_index; rest follows them.
func (s *eventSeq) itemEvent(name, itemID string, index int64, rest []byte) {
	b := []byte(`,"item_id":`)
	b = appendString(b, itemID)
	b = append(b, `,"output_index":`...)
	b = appendInt(b, index)
	s.event(name, append(b, rest...))
}

// outputItem appends response.output_item.added or .done for item at index.
func (s *eventSeq) outputItem(name string, index int64, item []byte) {
	b := []byte(`,"output_index":`)
	b = appendInt(b, index)
	b = append(b, `,"item":`...)
	s.event(name, append(b, item...))
}

// responsesEvents renders a Responses stream as OpenAI sends it: response.created and
// response.in_progress, then each output item between output_item.added and .done (a
// reasoning item with its summary part and text deltas, the message with its output_text
// part and deltas, each function_call with its argument deltas), then response.completed
// (or response.incomplete) carrying the whole response and its usage.
func (c *compiled) responsesEvents(model string, encrypted bool) [][]byte {
	var s eventSeq
	open := c.appendResponse([]byte(`,"response":`), model, phaseInProgress, encrypted, nil)
	s.event("response.created", open)
	s.event("response.in_progress", open)

	index := int64(0)
	if c.hasThinking() {
		id := c.reasoningID()
		s.outputItem("response.output_item.added", index, c.appendReasoningItem(nil, encrypted, false))
		if len(c.thinking) > 0 {
			full := strings.Join(c.thinking, "")
			s.itemEvent("response.reasoning_summary_part.added", id, index,
				appendSummaryPart([]byte(`,"summary_index":0,"part":`), ""))
			for _, d := range c.thinking {
				s.itemEvent("response.reasoning_summary_text.delta", id, index,
					appendString([]byte(`,"summary_index":0,"delta":`), d))
			}
			s.itemEvent("response.reasoning_summary_text.done", id, index,
				appendString([]byte(`,"summary_index":0,"text":`), full))
			s.itemEvent("response.reasoning_summary_part.done", id, index,
				appendSummaryPart([]byte(`,"summary_index":0,"part":`), full))
		}
		s.outputItem("response.output_item.done", index, c.appendReasoningItem(nil, encrypted, true))
		index++
	}
	if c.hasText() {
		id := c.messageItemID()
		full := strings.Join(c.text, "")
		s.outputItem("response.output_item.added", index, c.appendMessageItem(nil, "in_progress"))
		s.itemEvent("response.content_part.added", id, index,
			appendOutputText([]byte(`,"content_index":0,"part":`), ""))
		for _, d := range c.text {
			b := appendString([]byte(`,"content_index":0,"delta":`), d)
			s.itemEvent("response.output_text.delta", id, index, append(b, `,"logprobs":[]`...))
		}
		b := appendString([]byte(`,"content_index":0,"text":`), full)
		s.itemEvent("response.output_text.done", id, index, append(b, `,"logprobs":[]`...))
		s.itemEvent("response.content_part.done", id, index,
			appendOutputText([]byte(`,"content_index":0,"part":`), full))
		s.outputItem("response.output_item.done", index, c.appendMessageItem(nil, c.itemStatus()))
		index++
	}
	for _, t := range c.tools {
		s.outputItem("response.output_item.added", index, appendFunctionCall(nil, t, "in_progress", ""))
		for _, f := range t.frags {
			s.itemEvent("response.function_call_arguments.delta", t.itemID, index, appendString([]byte(`,"delta":`), f))
		}
		s.itemEvent("response.function_call_arguments.done", t.itemID, index, appendString([]byte(`,"arguments":`), t.args))
		s.outputItem("response.output_item.done", index, appendFunctionCall(nil, t, "completed", t.args))
		index++
	}
	final := "response.completed"
	if c.status == "incomplete" {
		final = "response.incomplete"
	}
	done := c.appendResponse([]byte(`,"response":`), model, phaseFinal, encrypted, nil)
	s.event(final, done)
	return s.events
}

// responsesStreamError renders the in-stream failure of a Responses stream after sent events:
// an "error" event, then the terminal response.failed whose response carries the error.
func (c *compiled) responsesStreamError(f *Fault, model string, sent int) []byte {
	if f.Body != "" {
		return sseEvent("error", []byte(f.Body))
	}
	code := or(f.Code, "server_error")
	msg := or(f.Message, "The server had an error while processing your request. Sorry about that!")
	s := eventSeq{seq: int64(sent)}
	b := []byte(`,"code":`)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	s.event("error", append(b, `,"param":null`...))

	errObj := []byte(`{"code":`)
	errObj = appendString(errObj, code)
	errObj = append(errObj, `,"message":`...)
	errObj = appendString(errObj, msg)
	errObj = append(errObj, '}')
	resp := c.appendResponse([]byte(`,"response":`), model, phaseFailed, false, errObj)
	s.event("response.failed", resp)
	return append(s.events[0], s.events[1]...)
}

// compactionBody answers POST …/responses/compact as OpenAI does: the request's user
// messages, kept verbatim, then one compaction item whose encrypted_content stands for the
// rest of the conversation. The body is compact JSON.
func compactionBody(body []byte, model string, seq int64, now time.Time) ([]byte, error) {
	var req struct {
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	items, err := inputItems(req.Input)
	if err != nil {
		return nil, err
	}
	suffix := pad(strconv.FormatInt(seq, 10), 24)
	b := []byte(`{"id":`)
	b = appendString(b, "resp_fakecompact"+suffix)
	b = append(b, `,"object":"response.compaction","created_at":`...)
	b = appendInt(b, now.Unix())
	b = append(b, `,"output":[`...)
	users := 0
	for _, it := range items {
		if it.Role != "user" || it.Type != "" && it.Type != "message" {
			continue
		}
		b = append(b, `{"id":`...)
		b = appendString(b, "msg_fakecompact"+suffix+"u"+strconv.Itoa(users))
		b = append(b, `,"type":"message","status":"completed","content":`...)
		if s, ok := it.stringContent(); ok {
			b = append(appendOutputTextLike(b, "input_text", s), ']')
		} else {
			b = append(b, it.Content...)
		}
		b = append(b, `,"role":"user"},`...)
		users++
	}
	summary := "fakeupstream compaction of request " + strconv.FormatInt(seq, 10) + ": " +
		strconv.Itoa(len(items)) + " input items, " + strconv.Itoa(users) + " from the user"
	b = append(b, `{"id":`...)
	b = appendString(b, "cmp_fake"+suffix)
	b = append(b, `,"type":"compaction","encrypted_content":`...)
	b = appendString(b, base64.StdEncoding.EncodeToString([]byte(summary)))
	input, output := int64(len(body)/4+1), int64(len(summary)/4+1)
	b = append(b, `}],"usage":{"input_tokens":`...)
	b = appendInt(b, input)
	b = append(b, `,"input_tokens_details":{"cached_tokens":0},"output_tokens":`...)
	b = appendInt(b, output)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":`...)
	b = appendInt(b, input+output)
	return append(b, "}}"...), nil
}

// appendOutputTextLike appends `[{"type":typ,"text":text}` — a one-part content array left
// open.
func appendOutputTextLike(b []byte, typ, text string) []byte {
	b = append(b, `[{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"text":`...)
	b = appendString(b, text)
	return append(b, '}')
}
