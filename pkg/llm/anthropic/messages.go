// Package anthropic holds the Anthropic Messages wire format: its types, its validation, the
// usage it reports, and its conversion to and from the OpenAI Chat Completions format.
package anthropic

import (
	"encoding/json"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Roles of a conversation's messages.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	// RoleSystem marks a system message inside the conversation: it applies from its
	// position on and keeps the prompt cache of the turns before it.
	RoleSystem = "system"
)

// Content block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockSearchResult     = "search_result"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
	BlockServerToolUse    = "server_tool_use"
)

// Stop reasons.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopSequence     = "stop_sequence"
	StopToolUse      = "tool_use"
	StopPauseTurn    = "pause_turn"
	StopRefusal      = "refusal"
	StopContextLimit = "model_context_window_exceeded"
)

// Request is the body of POST /v1/messages (and, without max_tokens and the sampling
// fields, of POST /v1/messages/count_tokens).
type Request struct {
	Model         string        `json:"model"`
	Messages      []Message     `json:"messages"`
	System        *Content      `json:"system,omitempty"`
	MaxTokens     int64         `json:"max_tokens,omitempty"`
	Metadata      *Metadata     `json:"metadata,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	TopK          *int64        `json:"top_k,omitempty"`
	Tools         []Tool        `json:"tools,omitempty"`
	ToolChoice    *ToolChoice   `json:"tool_choice,omitempty"`
	Thinking      *Thinking     `json:"thinking,omitempty"`
	OutputConfig  *OutputConfig `json:"output_config,omitempty"`
	ServiceTier   string        `json:"service_tier,omitempty"`
}

// OutputConfig is a request's output_config: how hard the model works (Effort: low, medium,
// high or max) and the shape of its answer (Format: {"type":"json_schema","schema":…}).
type OutputConfig struct {
	Effort string          `json:"effort,omitempty"`
	Format json.RawMessage `json:"format,omitempty"`
}

// effort is the requested effort, "" when none.
func (o *OutputConfig) effort() string {
	if o == nil {
		return ""
	}
	return o.Effort
}

// Metadata is a request's metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Thinking is a request's extended thinking configuration: type "enabled" with a budget,
// "disabled", or "adaptive".
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens,omitempty"`
}

// Message is one turn of a conversation.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Content is a message's content (or a system prompt, or a tool result's content): a string,
// or an array of content blocks. Exactly one of Text and Blocks is set unless it is null.
type Content struct {
	Text   *string
	Blocks []ContentBlock
}

// TextContent returns the content that is the string s.
func TextContent(s string) Content { return Content{Text: &s} }

// IsNull reports whether the content is null or absent.
func (c Content) IsNull() bool { return c.Text == nil && c.Blocks == nil }

// MarshalJSON writes the string, the array of blocks, or null.
func (c Content) MarshalJSON() ([]byte, error) { return llm.MarshalTextOrList(c.Text, c.Blocks) }

// UnmarshalJSON reads a string, an array of blocks, or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	text, blocks, err := llm.UnmarshalTextOrList[ContentBlock](b, true, "content must be a string or an array of content blocks")
	*c = Content{Text: text, Blocks: blocks}
	return err
}

// ContentBlock is one block of content. Type says which of the fields apply:
//
//	text               Text, Citations
//	image              Source (base64, url or file)
//	document           Source (base64, text, content, url or file), Title, Context, Citations
//	tool_use           ID, Name, Input
//	tool_result        ToolUseID, Content, IsError
//	thinking           Thinking, Signature
//	redacted_thinking  Data
//
// Every type may carry CacheControl.
type ContentBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	Citations    json.RawMessage `json:"citations,omitempty"`
	Source       *Source         `json:"source,omitempty"`
	Title        string          `json:"title,omitempty"`
	Context      string          `json:"context,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      *Content        `json:"content,omitempty"`
	IsError      *bool           `json:"is_error,omitempty"`
	Thinking     string          `json:"thinking,omitempty"`
	Signature    string          `json:"signature,omitempty"`
	Data         string          `json:"data,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type contentBlock ContentBlock

// UnmarshalJSON reads a block. Of a block whose type lynkr does not convert only the type is
// read: its other members may be of any shape, and a conversion leaves it out and names it.
func (b *ContentBlock) UnmarshalJSON(data []byte) error {
	t := gjson.GetBytes(data, "type")
	switch {
	case t.Type == gjson.String && t.Str == BlockSearchResult:
		// A search result's source is a string (where the result came from), not an
		// image's or a document's source object.
		var sr struct {
			Title        string          `json:"title"`
			Content      *Content        `json:"content"`
			Citations    json.RawMessage `json:"citations"`
			CacheControl json.RawMessage `json:"cache_control"`
		}
		if err := json.Unmarshal(data, &sr); err != nil {
			return err
		}
		*b = ContentBlock{Type: t.Str, Title: sr.Title, Content: sr.Content, Citations: sr.Citations, CacheControl: sr.CacheControl}
		return nil
	case t.Type == gjson.String && blockMembers[t.Str] == nil:
		*b = ContentBlock{Type: t.Str}
		return nil
	}
	return llm.DecodeMembers(data, (*contentBlock)(b), blockMembers[t.Str]...)
}

// blockMembers are the members a conversion reads of each block type it converts.
var blockMembers = map[string][]string{
	BlockText:             {"type", "text", "citations", "cache_control"},
	BlockImage:            {"type", "source", "cache_control"},
	BlockDocument:         {"type", "source", "title", "context", "citations", "cache_control"},
	BlockToolUse:          {"type", "id", "name", "input", "cache_control"},
	BlockToolResult:       {"type", "tool_use_id", "content", "is_error", "cache_control"},
	BlockThinking:         {"type", "thinking", "signature"},
	BlockRedactedThinking: {"type", "data"},
}

// MarshalJSON writes the block with the members its type requires present even when empty,
// as the API sends them: a text block's text, a tool_use block's input, a thinking block's
// thinking and signature.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	out, err := llm.Marshal(contentBlock(b))
	if err != nil {
		return nil, err
	}
	switch b.Type {
	case BlockText:
		if b.Text == "" {
			return sjson.SetBytes(out, "text", "")
		}
	case BlockToolUse, BlockServerToolUse:
		if len(b.Input) == 0 {
			return sjson.SetRawBytes(out, "input", []byte("{}"))
		}
	case BlockThinking:
		if b.Thinking == "" {
			if out, err = sjson.SetBytes(out, "thinking", ""); err != nil {
				return nil, err
			}
		}
		if b.Signature == "" {
			return sjson.SetBytes(out, "signature", "")
		}
	case BlockRedactedThinking:
		if b.Data == "" {
			return sjson.SetBytes(out, "data", "")
		}
	}
	return out, nil
}

// Source types of image and document blocks.
const (
	SourceBase64  = "base64"
	SourceURL     = "url"
	SourceText    = "text"
	SourceContent = "content"
	SourceFile    = "file"
)

// Source is where an image's or a document's data comes from.
type Source struct {
	Type      string   `json:"type"`
	MediaType string   `json:"media_type,omitempty"`
	Data      string   `json:"data,omitempty"`
	URL       string   `json:"url,omitempty"`
	FileID    string   `json:"file_id,omitempty"`
	Content   *Content `json:"content,omitempty"`
}

// Tool is one tool the model may call: a client tool with a name and an input JSON Schema
// (Type empty or "custom"), or a server tool named by its versioned type, such as
// "web_search_20250305".
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	Strict       *bool           `json:"strict,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// IsClientTool reports whether the tool is one the client runs, described by a schema.
func (t Tool) IsClientTool() bool { return t.Type == "" || t.Type == "custom" }

type tool Tool

// UnmarshalJSON reads a tool. Of a server tool only the type and name are read: its other
// members may be of any shape, and a conversion leaves it out and names it.
func (t *Tool) UnmarshalJSON(data []byte) error {
	typ := gjson.GetBytes(data, "type")
	if typ.Type == gjson.String && typ.Str != "" && typ.Str != "custom" {
		*t = Tool{Type: typ.Str, Name: gjson.GetBytes(data, "name").Str}
		return nil
	}
	return llm.DecodeMembers(data, (*tool)(t), "type", "name", "description", "input_schema", "strict", "cache_control")
}

// Tool choice types.
const (
	ToolChoiceAuto = "auto"
	ToolChoiceAny  = "any"
	ToolChoiceTool = "tool"
	ToolChoiceNone = "none"
)

// ToolChoice is a request's tool_choice.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Response is a complete message, the answer to a request that did not stream. It is also the
// message of a stream's message_start event, with empty content and a null stop_reason.
type Response struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // "message"
	Role         string         `json:"role"` // "assistant"
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`
}

// Usage is the token usage of a message. InputTokens does not count the cached tokens, which
// are counted apart.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// LLM returns u in llm's units, where the input tokens include the cached ones.
func (u Usage) LLM() llm.Usage {
	return llm.Usage{
		InputTokens:       u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:      u.OutputTokens,
		CacheReadTokens:   u.CacheReadInputTokens,
		CacheCreateTokens: u.CacheCreationInputTokens,
	}
}

// UsageOf returns u in Anthropic's units.
func UsageOf(u llm.Usage) Usage {
	return Usage{
		InputTokens:              max(u.InputTokens-u.CacheReadTokens-u.CacheCreateTokens, 0),
		CacheCreationInputTokens: u.CacheCreateTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// Stream event names; each event's data has the same name in its "type".
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Delta types of content_block_delta events.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// MessageStartEvent opens a stream with the message, its content still empty.
type MessageStartEvent struct {
	Type    string   `json:"type"`
	Message Response `json:"message"`
}

// ContentBlockStartEvent opens the content block at Index, with its content empty.
type ContentBlockStartEvent struct {
	Type         string       `json:"type"`
	Index        int          `json:"index"`
	ContentBlock ContentBlock `json:"content_block"`
}

// ContentBlockDeltaEvent adds to the content block at Index.
type ContentBlockDeltaEvent struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta Delta  `json:"delta"`
}

// Delta is what a content_block_delta adds: Text (text_delta), PartialJSON (input_json_delta,
// a fragment of the tool input's JSON), Thinking (thinking_delta), Signature (signature_delta)
// or Citation (citations_delta).
type Delta struct {
	Type        string          `json:"type"`
	Text        string          `json:"text,omitempty"`
	PartialJSON string          `json:"partial_json,omitempty"`
	Thinking    string          `json:"thinking,omitempty"`
	Signature   string          `json:"signature,omitempty"`
	Citation    json.RawMessage `json:"citation,omitempty"`
}

// ContentBlockStopEvent closes the content block at Index.
type ContentBlockStopEvent struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

// MessageDeltaEvent carries the message's stop reason and its final (cumulative) usage.
type MessageDeltaEvent struct {
	Type  string       `json:"type"`
	Delta MessageDelta `json:"delta"`
	Usage Usage        `json:"usage"`
}

// MessageDelta is the top-level change a message_delta makes.
type MessageDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// TypeOnly is the data of the events that carry nothing but their type: message_stop, ping.
type TypeOnly struct {
	Type string `json:"type"`
}

// ErrorEvent is an error in a stream, or the body of an error response.
type ErrorEvent struct {
	Type  string      `json:"type"` // "error"
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
