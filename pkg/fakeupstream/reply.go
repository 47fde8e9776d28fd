package fakeupstream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Reply is one scripted answer to a chat/completions or messages request, rendered in the
// wire format of whichever endpoint the request reached. The zero Reply answers an empty text.
type Reply struct {
	// Text is the assistant text. It streams as Deltas if set, else as Chunks near-equal
	// pieces, else one piece per word (each word with the space before it).
	Text   string
	Chunks int
	Deltas []string
	// Echo replaces Text (and Deltas) with "echo: " followed by the text of the request's
	// last user message, so concurrent requests can each be checked for their own answer. An echo
	// reply is rendered per request; any other reply is rendered once per model.
	Echo bool

	// Thinking, if set, comes first: an Anthropic thinking block closed by a signature_delta
	// carrying Signature; on Chat Completions, reasoning_content deltas (the DeepSeek/vLLM
	// convention); on Responses, a reasoning item whose summary is Thinking and whose
	// encrypted_content (sent when the request includes "reasoning.encrypted_content") is
	// Signature. ThinkingChunks splits it like Chunks.
	Thinking       string
	ThinkingChunks int
	Signature      string

	// ToolCalls follow the text, each as its own tool_use block (Anthropic), tool_calls
	// index (Chat Completions) or function_call item (Responses), in order.
	ToolCalls []ToolCall

	// StopReason is Anthropic's stop_reason: end_turn, max_tokens, stop_sequence, tool_use,
	// pause_turn, refusal. Empty means tool_use when there are tool calls, else end_turn.
	// On Chat Completions it maps to finish_reason (stop, length, tool_calls,
	// content_filter); a value outside both vocabularies is sent as is to both. On Responses,
	// max_tokens and refusal end the response "incomplete" (reason max_output_tokens,
	// content_filter), anything else "completed".
	StopReason string

	// Usage is reported as given; the zero Usage reports 10 input tokens and one output
	// token per delta.
	Usage Usage

	// Model names the model in the answer; empty echoes the request's model (or the Azure
	// deployment name), else "fake-model".
	Model string

	// Header holds extra response headers, e.g. rate-limit headers.
	Header http.Header

	// HeaderDelay passes before the status line is written; ChunkDelay between stream
	// events. Both end early when the client goes away.
	HeaderDelay time.Duration
	ChunkDelay  time.Duration

	// Fault, if set, makes this answer fail; the reply's content is what a mid-stream
	// fault interrupts.
	Fault *Fault
}

// ToolCall is one tool call of a Reply.
type ToolCall struct {
	// ID is the call id on both formats; empty generates "toolu_…" (Anthropic) and
	// "call_…" (OpenAI).
	ID   string
	Name string
	// Namespace, on the Responses endpoint, names the namespace tool the function belongs
	// to (the function_call item's "namespace"); other formats ignore it.
	Namespace string
	// Arguments are the fragments in which the JSON arguments stream, after the empty first
	// fragment both vendors send. Joined they should form a JSON object; nil means "{}".
	Arguments []string
}

// Usage is a reply's token accounting. InputTokens excludes cached tokens, as Anthropic counts
// them; OpenAI's prompt_tokens is InputTokens+CacheReadTokens+CacheWriteTokens with
// prompt_tokens_details.cached_tokens = CacheReadTokens. ReasoningTokens is part of
// OutputTokens and shows in OpenAI's completion_tokens_details.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	ReasoningTokens  int64
}

// Split cuts s into n pieces of near-equal rune count (fewer if s has fewer runes); n <= 0
// cuts it into words, each word carrying the whitespace before it. The pieces join back to s.
func Split(s string, n int) []string {
	if s == "" {
		return nil
	}
	if n <= 0 {
		return words(s)
	}
	runes := utf8.RuneCountInString(s)
	n = min(n, runes)
	out := make([]string, 0, n)
	start, seen := 0, 0
	for i := range n {
		want := runes * (i + 1) / n
		end := start
		for seen < want {
			_, size := utf8.DecodeRuneInString(s[end:])
			end += size
			seen++
		}
		out = append(out, s[start:end])
		start = end
	}
	return out
}

func words(s string) []string {
	var out []string
	start, prevSpace := 0, true
	for i, r := range s {
		space := unicode.IsSpace(r)
		if space && !prevSpace {
			out = append(out, s[start:i])
			start = i
		}
		prevSpace = space
	}
	return append(out, s[start:])
}

// variant names one pre-rendered form of an answer.
type variant uint8

const (
	openAIJSON variant = iota
	openAIStream
	openAIStreamUsage // stream_options.include_usage
	anthropicJSON
	anthropicStream
	responsesJSON
	responsesStream
	responsesJSONEncrypted // include: ["reasoning.encrypted_content"]
	responsesStreamEncrypted
	numVariants
)

// rendered is one answer on the wire: a JSON body (one element) or the SSE events of a stream,
// each complete with its framing.
type rendered struct {
	parts  [][]byte
	length []string // Content-Length header value of a JSON body
}

// maxCachedModels bounds a compiled reply's per-model cache.
const maxCachedModels = 64

// compiled is a Reply resolved once: deltas split, ids and stop reasons chosen, and its
// renderings cached per model.
type compiled struct {
	r        Reply
	text     []string
	thinking []string
	tools    []tool
	stop     string // Anthropic stop_reason
	finish   string // OpenAI finish_reason
	usage    Usage
	msgID    string
	chatID   string
	respID   string
	created  int64
	// status is the Responses status, completed or incomplete (for incompleteReason).
	status, incompleteReason string
	// perRequest marks a reply rendered for one request only (script mode), never cached.
	perRequest bool
	// isDefault marks the Handler's default reply, which script mode replaces.
	isDefault bool

	mu    sync.RWMutex
	cache map[string]*[numVariants]rendered
}

type tool struct {
	anthropicID, openAIID, name string
	itemID, namespace           string // Responses function_call item id and namespace
	frags                       []string
	input                       json.RawMessage // joined arguments, or {} when they are not JSON
	args                        string          // joined arguments as sent
}

// compile resolves r; seq makes its ids unique within a Handler.
func compile(r Reply, seq int64, now time.Time) *compiled {
	c := &compiled{r: r, created: now.Unix(), cache: map[string]*[numVariants]rendered{}}
	suffix := strconv.FormatInt(seq, 10)
	c.msgID = "msg_fake" + pad(suffix, 20)
	c.chatID = "chatcmpl-fake" + pad(suffix, 25)
	c.respID = "resp_fake" + pad(suffix, 40)
	c.setText(r.Text)
	c.thinking = Split(r.Thinking, r.ThinkingChunks)
	for i, tc := range r.ToolCalls {
		id := pad(suffix+"x"+strconv.Itoa(i), 20)
		t := tool{
			name: tc.Name, namespace: tc.Namespace, frags: tc.Arguments,
			anthropicID: tc.ID, openAIID: tc.ID, itemID: "fc_fake" + id,
		}
		if t.anthropicID == "" {
			t.anthropicID, t.openAIID = "toolu_fake"+id, "call_fake"+id
		}
		if t.frags == nil {
			t.frags = []string{"{}"}
		}
		for _, f := range t.frags {
			t.args += f
		}
		t.input = json.RawMessage(t.args)
		if !json.Valid(t.input) {
			t.input = json.RawMessage("{}")
		}
		c.tools = append(c.tools, t)
	}
	c.stop, c.finish = stopReasons(r.StopReason, len(c.tools) > 0)
	c.status = "completed"
	switch c.stop {
	case "max_tokens":
		c.status, c.incompleteReason = "incomplete", "max_output_tokens"
	case "refusal":
		c.status, c.incompleteReason = "incomplete", "content_filter"
	}
	c.setUsage()
	return c
}

func (c *compiled) setText(text string) {
	switch {
	case c.r.Deltas != nil && !c.r.Echo:
		c.text = c.r.Deltas
	default:
		c.text = Split(text, c.r.Chunks)
	}
}

func (c *compiled) setUsage() {
	c.usage = c.r.Usage
	if c.usage == (Usage{}) {
		n := int64(len(c.text) + len(c.thinking))
		for _, t := range c.tools {
			n += int64(len(t.frags))
		}
		c.usage = Usage{InputTokens: 10, OutputTokens: max(n, 1)}
	}
}

// withText returns a copy of c answering text (an echo), with no cache.
func (c *compiled) withText(text string) *compiled {
	e := &compiled{
		r: c.r, thinking: c.thinking, tools: c.tools, stop: c.stop, finish: c.finish,
		msgID: c.msgID, chatID: c.chatID, respID: c.respID, created: c.created,
		status: c.status, incompleteReason: c.incompleteReason, perRequest: true,
	}
	e.setText(text)
	e.setUsage()
	return e
}

// forModel returns every rendering of c for model, rendering and caching them on first use.
// The lookup does not allocate.
func (c *compiled) forModel(model []byte) *[numVariants]rendered {
	c.mu.RLock()
	all := c.cache[string(model)]
	c.mu.RUnlock()
	if all != nil {
		return all
	}
	m := string(model)
	all = new([numVariants]rendered)
	name := c.modelName(model)
	for v := range numVariants {
		all[v] = c.render(v, name)
	}
	c.mu.Lock()
	if len(c.cache) < maxCachedModels {
		c.cache[m] = all
	}
	c.mu.Unlock()
	return all
}

// modelName is the model an answer names: the Reply's, else the request's (key), else
// "fake-model".
func (c *compiled) modelName(key []byte) string {
	switch {
	case c.r.Model != "":
		return c.r.Model
	case len(key) > 0:
		return string(key)
	}
	return "fake-model"
}

func (c *compiled) render(v variant, model string) rendered {
	switch v {
	case openAIJSON:
		return jsonBody(c.openAIBody(model))
	case openAIStream:
		return rendered{parts: c.openAIEvents(model, false)}
	case openAIStreamUsage:
		return rendered{parts: c.openAIEvents(model, true)}
	case anthropicJSON:
		return jsonBody(c.anthropicBody(model))
	case anthropicStream:
		return rendered{parts: c.anthropicEvents(model)}
	case responsesJSON, responsesJSONEncrypted:
		return jsonBody(c.responsesBody(model, v == responsesJSONEncrypted))
	default:
		return rendered{parts: c.responsesEvents(model, v == responsesStreamEncrypted)}
	}
}

func jsonBody(b []byte) rendered {
	return rendered{parts: [][]byte{b}, length: []string{strconv.Itoa(len(b))}}
}

// stopReasons resolves a Reply.StopReason into Anthropic's stop_reason and OpenAI's
// finish_reason.
func stopReasons(s string, tools bool) (stop, finish string) {
	if s == "" {
		s = "end_turn"
		if tools {
			s = "tool_use"
		}
	}
	switch s {
	case "end_turn", "stop_sequence", "pause_turn":
		return s, "stop"
	case "max_tokens":
		return s, "length"
	case "tool_use":
		return s, "tool_calls"
	case "refusal":
		return s, "content_filter"
	case "stop":
		return "end_turn", s
	case "length":
		return "max_tokens", s
	case "tool_calls":
		return "tool_use", s
	case "content_filter":
		return "refusal", s
	}
	return s, s
}

// pad left-pads s with zeros to n bytes.
func pad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}
