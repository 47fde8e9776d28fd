package fakeupstream

import (
	"strings"
	"time"
)

// anthropicBody renders a non-streaming Messages response.
func (c *compiled) anthropicBody(model string) []byte {
	b := c.appendMessageHead(nil, model)
	b = append(b, `,"content":[`...)
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if c.hasThinking() {
		sep()
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendString(b, strings.Join(c.thinking, ""))
		b = append(b, `,"signature":`...)
		b = appendString(b, c.r.Signature)
		b = append(b, '}')
	}
	if c.hasText() {
		sep()
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, strings.Join(c.text, ""))
		b = append(b, '}')
	}
	for _, t := range c.tools {
		sep()
		b = c.appendToolUse(b, t, t.input)
	}
	b = append(b, `],"stop_reason":`...)
	b = appendString(b, c.stop)
	b = append(b, `,"stop_sequence":null,"usage":`...)
	b = c.appendAnthropicUsage(b, c.usage.OutputTokens)
	return append(b, '}')
}

func (c *compiled) hasThinking() bool { return len(c.thinking) > 0 || c.r.Signature != "" }

// hasText reports whether the answer has a text block: it does unless it is only tool calls
// (and thinking).
func (c *compiled) hasText() bool { return len(c.text) > 0 || len(c.tools) == 0 }

func (c *compiled) appendMessageHead(b []byte, model string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.msgID)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	return appendString(b, model)
}

func (c *compiled) appendToolUse(b []byte, t tool, input []byte) []byte {
	b = append(b, `{"type":"tool_use","id":`...)
	b = appendString(b, t.anthropicID)
	b = append(b, `,"name":`...)
	b = appendString(b, t.name)
	b = append(b, `,"input":`...)
	b = append(b, input...)
	return append(b, '}')
}

func (c *compiled) appendAnthropicUsage(b []byte, output int64) []byte {
	u := c.usage
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.InputTokens)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.CacheWriteTokens)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.CacheReadTokens)
	b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
	b = appendInt(b, u.CacheWriteTokens)
	b = append(b, `,"ephemeral_1h_input_tokens":0},"output_tokens":`...)
	b = appendInt(b, output)
	return append(b, `,"service_tier":"standard"}`...)
}

// anthropicEvents renders a Messages stream: message_start, a ping after the first
// content_block_start, each block's start/deltas/stop (thinking with its signature_delta, text,
// then each tool_use with input_json_delta fragments after an empty one), message_delta with
// the stop reason and cumulative usage, and message_stop.
func (c *compiled) anthropicEvents(model string) [][]byte {
	var events [][]byte
	event := func(name string, payload []byte) { events = append(events, sseEvent(name, payload)) }

	start := append([]byte(`{"type":"message_start","message":`), c.appendMessageHead(nil, model)...)
	start = append(start, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	start = c.appendAnthropicUsage(start, min(c.usage.OutputTokens, 1))
	event("message_start", append(start, "}}"...))

	index := int64(0)
	blockStart := func(block []byte) {
		b := []byte(`{"type":"content_block_start","index":`)
		b = appendInt(b, index)
		b = append(b, `,"content_block":`...)
		b = append(b, block...)
		event("content_block_start", append(b, '}'))
		if index == 0 {
			event("ping", []byte(`{"type": "ping"}`))
		}
	}
	delta := func(kind, field, value string) {
		b := []byte(`{"type":"content_block_delta","index":`)
		b = appendInt(b, index)
		b = append(b, `,"delta":{"type":"`...)
		b = append(b, kind...)
		b = append(b, `","`...)
		b = append(b, field...)
		b = append(b, `":`...)
		b = appendString(b, value)
		event("content_block_delta", append(b, "}}"...))
	}
	blockStop := func() {
		b := []byte(`{"type":"content_block_stop","index":`)
		b = appendInt(b, index)
		event("content_block_stop", append(b, '}'))
		index++
	}

	if c.hasThinking() {
		blockStart([]byte(`{"type":"thinking","thinking":"","signature":""}`))
		for _, d := range c.thinking {
			delta("thinking_delta", "thinking", d)
		}
		delta("signature_delta", "signature", c.r.Signature)
		blockStop()
	}
	if c.hasText() {
		blockStart([]byte(`{"type":"text","text":""}`))
		for _, d := range c.text {
			delta("text_delta", "text", d)
		}
		blockStop()
	}
	for _, t := range c.tools {
		blockStart(c.appendToolUse(nil, t, []byte("{}")))
		delta("input_json_delta", "partial_json", "")
		for _, f := range t.frags {
			delta("input_json_delta", "partial_json", f)
		}
		blockStop()
	}

	md := []byte(`{"type":"message_delta","delta":{"stop_reason":`)
	md = appendString(md, c.stop)
	md = append(md, `,"stop_sequence":null},"usage":{"input_tokens":`...)
	md = appendInt(md, c.usage.InputTokens)
	md = append(md, `,"cache_creation_input_tokens":`...)
	md = appendInt(md, c.usage.CacheWriteTokens)
	md = append(md, `,"cache_read_input_tokens":`...)
	md = appendInt(md, c.usage.CacheReadTokens)
	md = append(md, `,"output_tokens":`...)
	md = appendInt(md, c.usage.OutputTokens)
	event("message_delta", append(md, "}}"...))
	event("message_stop", []byte(`{"type":"message_stop"}`))
	return events
}

// anthropicErrorType maps an HTTP status to Anthropic's error type and a message like theirs.
func anthropicErrorType(status int) (typ, msg string) {
	switch status {
	case 400:
		return "invalid_request_error", "Invalid request."
	case 401:
		return "authentication_error", "invalid x-api-key"
	case 402:
		return "billing_error", "Your credit balance is too low to access the Anthropic API."
	case 403:
		return "permission_error", "Your API key does not have permission to use the specified resource."
	case 404:
		return "not_found_error", "Not found"
	case 405:
		return "invalid_request_error", "Method not allowed"
	case 413:
		return "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case 429:
		return "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
	case 504:
		return "timeout_error", "Request timeout"
	case 529:
		return "overloaded_error", "Overloaded"
	}
	if status >= 500 {
		return "api_error", "Internal server error"
	}
	return "invalid_request_error", "Invalid request."
}

// anthropicError renders Anthropic's error body; requestID is omitted when empty (in-stream
// error events).
func anthropicError(status int, f *Fault, requestID string) []byte {
	typ, msg := anthropicErrorType(status)
	if f != nil {
		typ, msg = or(f.Type, typ), or(f.Message, msg)
	}
	b := []byte(`{"type":"error","error":{"type":`)
	b = appendString(b, typ)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, '}')
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendString(b, requestID)
	}
	return append(b, '}')
}

// anthropicModels renders GET /v1/models as Anthropic lists them.
func anthropicModels(ids []string, created time.Time) []byte {
	b := []byte(`{"data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"model","id":`...)
		b = appendString(b, id)
		b = append(b, `,"display_name":`...)
		b = appendString(b, id)
		b = append(b, `,"created_at":`...)
		b = appendString(b, created.UTC().Format(time.RFC3339))
		b = append(b, '}')
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	if len(ids) > 0 {
		b = appendString(b, ids[0])
		b = append(b, `,"last_id":`...)
		b = appendString(b, ids[len(ids)-1])
	} else {
		b = append(b, `null,"last_id":null`...)
	}
	return append(b, '}')
}

// countTokensBody answers count_tokens with a deterministic estimate: a token per four bytes
// of the request, plus one.
func countTokensBody(body []byte) []byte {
	b := []byte(`{"input_tokens":`)
	b = appendInt(b, int64(len(body)/4+1))
	return append(b, '}')
}
