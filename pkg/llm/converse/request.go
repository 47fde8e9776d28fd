package converse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// The parts of an Anthropic Messages request the conversion reads. Content stays raw until
// its shape (a string or a list of blocks) is known.
type messagesRequest struct {
	Model         string          `json:"model"`
	System        json.RawMessage `json:"system"`
	Messages      []inMessage     `json:"messages"`
	MaxTokens     *int64          `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int64          `json:"top_k"`
	StopSequences []string        `json:"stop_sequences"`
	Tools         []inTool        `json:"tools"`
	ToolChoice    *inToolChoice   `json:"tool_choice"`
	Thinking      json.RawMessage `json:"thinking"`
}

type inMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type inBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	Source       *inSource       `json:"source"`
	Title        string          `json:"title"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	Thinking     string          `json:"thinking"`
	Signature    string          `json:"signature"`
	Data         string          `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type inBlockFields inBlock

// UnmarshalJSON reads a block. Of a block whose type the conversion does not read only the
// type is kept: its other members may be of any shape, and the block is left out and named.
func (b *inBlock) UnmarshalJSON(data []byte) error {
	switch t := gjson.GetBytes(data, "type"); t.Str {
	case "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking":
		return json.Unmarshal(data, (*inBlockFields)(b))
	default:
		*b = inBlock{Type: t.Str}
		return nil
	}
}

type inSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
}

type inTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type inToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// emptyToolResult stands in for a tool result with no content: Converse refuses empty text
// blocks, and a conversation whose history it refuses can never continue.
const emptyToolResult = "(no output)"

// MessagesToConverseRequest converts an Anthropic Messages request into a Converse request.
// model is the Bedrock model id to call; empty keeps the request's own model. The id is
// recorded in the body's modelId member (see SplitModelID).
//
// The conversion:
//   - system (a string or text blocks) becomes system text blocks; messages become Converse
//     messages, consecutive messages of one role merged and blank text blocks dropped, both of
//     which Converse refuses;
//   - text, image (base64), document (base64 PDF or plain text), tool_use, tool_result,
//     thinking and redacted_thinking blocks become text, image, document, toolUse, toolResult
//     and reasoningContent blocks; cache_control becomes a cachePoint after its block;
//   - tools become toolConfig.tools, tool_choice auto/any/tool becomes toolChoice; "none" has
//     no Converse form, so the tools are left out, unless the history holds tool blocks, for
//     which Converse requires a toolConfig. A history with tool blocks and no tools gets a
//     toolSpec for each tool name it used, for the same reason;
//   - max_tokens, temperature, top_p and stop_sequences become inferenceConfig; for Claude
//     models, top_k and thinking go to additionalModelRequestFields and the matched stop
//     sequence is asked back through additionalModelResponseFieldPaths.
//
// Server tools and blocks Converse has no form for (server tool blocks, unknown types) are left
// out and named in opt.Dropped, as are the request's members it cannot carry. A system
// message inside the conversation, which Bedrock does not take, becomes text at its place in
// a user turn. Content the model would miss (image URLs, files by id) is an error wrapping
// llm.ErrInvalid that says what and where.
func MessagesToConverseRequest(body []byte, opt llm.Options) ([]byte, error) {
	model := opt.Model
	var in messagesRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: Messages request: %w", llm.ErrInvalid, err)
	}
	if len(in.Messages) == 0 {
		return nil, fmt.Errorf("%w: messages: at least one message is required", llm.ErrInvalid)
	}
	out := request{ModelID: model}
	if out.ModelID == "" {
		out.ModelID = in.Model
	}
	if !utf8.ValidString(out.ModelID) {
		return nil, fmt.Errorf("%w: model: %q is not valid UTF-8", llm.ErrInvalid, out.ModelID)
	}
	claude := IsAnthropicModel(out.ModelID)

	opt.DropOthers(body, members)
	c := converter{opt: opt}
	system, err := c.system(in.System)
	if err != nil {
		return nil, err
	}
	out.System = system
	for i, m := range in.Messages {
		role := m.Role
		if role != "user" && role != "assistant" && role != "system" {
			return nil, fmt.Errorf("%w: messages[%d].role: %q has no counterpart in a Converse conversation", llm.ErrInvalid, i, m.Role)
		}
		blocks, err := c.content(m.Content, fmt.Sprintf("messages[%d].content", i))
		if err != nil {
			return nil, err
		}
		if role == "system" {
			role = "user"
			for j := range blocks {
				if blocks[j].Text != nil {
					t := "<system>\n" + *blocks[j].Text + "\n</system>"
					blocks[j].Text = &t
				}
			}
		}
		m.Role = role
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == m.Role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, message{Role: m.Role, Content: blocks})
	}
	if len(out.Messages) == 0 {
		return nil, fmt.Errorf("%w: messages: every message is empty", llm.ErrInvalid)
	}

	if out.ToolConfig, err = c.toolConfig(in.Tools, in.ToolChoice); err != nil {
		return nil, err
	}

	ic := inferenceConfig{MaxTokens: in.MaxTokens, Temperature: in.Temperature, TopP: in.TopP, StopSequences: in.StopSequences}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		out.InferenceConfig = &ic
	}
	if claude {
		extra := map[string]json.RawMessage{}
		if in.TopK != nil {
			extra["top_k"] = json.RawMessage(fmt.Sprint(*in.TopK))
		}
		if len(in.Thinking) > 0 && !bytes.Equal(in.Thinking, []byte("null")) {
			extra["thinking"] = in.Thinking
		}
		if len(extra) > 0 {
			out.AdditionalModelRequestFields = extra
		}
		if len(in.StopSequences) > 0 {
			out.AdditionalModelResponseFieldPaths = []string{"/stop_sequence"}
		}
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%w: Messages request: %w", llm.ErrInvalid, err)
	}
	return b, nil
}

// converter keeps what one request's conversion learns along the way.
type converter struct {
	opt       llm.Options
	documents int      // documents named so far; Converse wants each named
	toolNames []string // tool names used in the history, in order of first use
	toolSeen  map[string]bool
	toolBlock bool // the history holds toolUse or toolResult blocks
}

func (c *converter) system(raw json.RawMessage) ([]block, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return []block{textBlock(s)}, nil
	}
	var blocks []inBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("%w: system: must be a string or a list of text blocks", llm.ErrInvalid)
	}
	var out []block
	for _, b := range blocks {
		if b.Type != "text" {
			c.opt.Drop(b.Type)
			continue
		}
		if strings.TrimSpace(b.Text) != "" {
			out = append(out, textBlock(b.Text))
		}
		out = withCachePoint(out, b.CacheControl)
	}
	return out, nil
}

// content converts a message's content, a string or a list of blocks.
func (c *converter) content(raw json.RawMessage, path string) ([]block, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("%w: %s: required", llm.ErrInvalid, path)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return []block{textBlock(s)}, nil
	}
	var blocks []inBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("%w: %s: must be a string or a list of content blocks", llm.ErrInvalid, path)
	}
	var out []block
	for i, b := range blocks {
		p := fmt.Sprintf("%s[%d]", path, i)
		var err error
		switch b.Type {
		case "text":
			if strings.TrimSpace(b.Text) != "" {
				out = append(out, textBlock(b.Text))
			}
		case "image":
			var img *imageBlock
			if img, err = imageOf(b.Source, p); err == nil {
				out = append(out, block{Image: img})
			}
		case "document":
			var doc *documentBlock
			if doc, err = c.documentOf(b.Source, p); err == nil {
				out = append(out, block{Document: doc})
			}
		case "tool_use":
			if b.Name == "" {
				return nil, fmt.Errorf("%w: %s.name: required", llm.ErrInvalid, p)
			}
			c.useTool(b.Name)
			out = append(out, block{ToolUse: &toolUseBlock{ToolUseID: b.ID, Name: b.Name, Input: objectOr(b.Input)}})
		case "tool_result":
			var tr *toolResultBlock
			if tr, err = c.toolResult(b, p); err == nil {
				out = append(out, block{ToolResult: tr})
			}
		case "thinking":
			out = append(out, block{ReasoningContent: &reasoningContent{ReasoningText: &reasoningText{Text: b.Thinking, Signature: b.Signature}}})
		case "redacted_thinking":
			out = append(out, block{ReasoningContent: &reasoningContent{RedactedContent: b.Data}})
		default:
			c.opt.Drop(b.Type)
		}
		if err != nil {
			return nil, err
		}
		out = withCachePoint(out, b.CacheControl)
	}
	return out, nil
}

func (c *converter) useTool(name string) {
	c.toolBlock = true
	if c.toolSeen == nil {
		c.toolSeen = map[string]bool{}
	}
	if !c.toolSeen[name] {
		c.toolSeen[name] = true
		c.toolNames = append(c.toolNames, name)
	}
}

func (c *converter) toolResult(b inBlock, path string) (*toolResultBlock, error) {
	c.toolBlock = true
	tr := &toolResultBlock{ToolUseID: b.ToolUseID}
	if b.IsError {
		tr.Status = "error"
	}
	var s string
	switch {
	case len(b.Content) == 0 || bytes.Equal(b.Content, []byte("null")):
	case json.Unmarshal(b.Content, &s) == nil:
		if strings.TrimSpace(s) != "" {
			tr.Content = append(tr.Content, textBlock(s))
		}
	default:
		var blocks []inBlock
		if err := json.Unmarshal(b.Content, &blocks); err != nil {
			return nil, fmt.Errorf("%w: %s.content: must be a string or a list of content blocks", llm.ErrInvalid, path)
		}
		for i, rb := range blocks {
			p := fmt.Sprintf("%s.content[%d]", path, i)
			switch rb.Type {
			case "text":
				if strings.TrimSpace(rb.Text) != "" {
					tr.Content = append(tr.Content, textBlock(rb.Text))
				}
			case "image":
				img, err := imageOf(rb.Source, p)
				if err != nil {
					return nil, err
				}
				tr.Content = append(tr.Content, block{Image: img})
			case "document":
				doc, err := c.documentOf(rb.Source, p)
				if err != nil {
					return nil, err
				}
				tr.Content = append(tr.Content, block{Document: doc})
			default:
				c.opt.Drop(rb.Type)
			}
		}
	}
	if len(tr.Content) == 0 {
		tr.Content = []block{textBlock(emptyToolResult)}
	}
	return tr, nil
}

func (c *converter) toolConfig(tools []inTool, choice *inToolChoice) (*toolConfig, error) {
	tc := &toolConfig{}
	for i, t := range tools {
		if t.Type != "" && t.Type != "custom" {
			c.opt.Drop(llm.ToolFamily(t.Type))
			continue
		}
		if t.Name == "" {
			return nil, fmt.Errorf("%w: tools[%d].name: required", llm.ErrInvalid, i)
		}
		schema := t.InputSchema
		if len(schema) == 0 || bytes.Equal(schema, []byte("null")) {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		tc.Tools = append(tc.Tools, tool{ToolSpec: &toolSpec{Name: t.Name, Description: t.Description, InputSchema: inputSchema{JSON: schema}}})
		if hasCacheControl(t.CacheControl) {
			tc.Tools = append(tc.Tools, tool{CachePoint: &cachePoint{Type: "default"}})
		}
	}
	if choice != nil {
		switch choice.Type {
		case "", "auto":
			if len(tc.Tools) > 0 && choice.Type == "auto" {
				tc.ToolChoice = &toolChoice{Auto: &struct{}{}}
			}
		case "any":
			tc.ToolChoice = &toolChoice{Any: &struct{}{}}
		case "tool":
			if choice.Name == "" {
				return nil, fmt.Errorf("%w: tool_choice.name: required when tool_choice.type is \"tool\"", llm.ErrInvalid)
			}
			tc.ToolChoice = &toolChoice{Tool: &toolChoiceFor{Name: choice.Name}}
		case "none":
			if !c.toolBlock {
				return nil, nil
			}
		default:
			c.opt.Drop("tool_choice")
		}
	}
	if len(tc.Tools) == 0 {
		if !c.toolBlock {
			return nil, nil
		}
		// Converse refuses toolUse and toolResult blocks without a toolConfig: declare the
		// tools the history used, with schemas that promise nothing.
		names := c.toolNames
		if len(names) == 0 {
			names = []string{"unused_tool"}
		}
		for _, n := range names {
			tc.Tools = append(tc.Tools, tool{ToolSpec: &toolSpec{Name: n, InputSchema: inputSchema{JSON: json.RawMessage(`{"type":"object"}`)}}})
		}
		tc.ToolChoice = nil
	}
	return tc, nil
}

func (c *converter) documentOf(src *inSource, path string) (*documentBlock, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: %s.source: required", llm.ErrInvalid, path)
	}
	var format, data string
	switch {
	case src.Type == "base64" && src.MediaType == "application/pdf":
		format, data = "pdf", src.Data
	case src.Type == "text":
		format, data = "txt", base64.StdEncoding.EncodeToString([]byte(src.Data))
	default:
		return nil, fmt.Errorf("%w: %s.source: document source %q of type %q is not supported by Bedrock Converse (send a base64 PDF or plain text)", llm.ErrInvalid, path, src.Type, src.MediaType)
	}
	c.documents++
	return &documentBlock{Format: format, Name: fmt.Sprintf("document-%d", c.documents), Source: bytesSource{Bytes: data}}, nil
}

func imageOf(src *inSource, path string) (*imageBlock, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: %s.source: required", llm.ErrInvalid, path)
	}
	if src.Type != "base64" {
		return nil, fmt.Errorf("%w: %s.source: image source type %q is not supported by Bedrock Converse (send the image base64-encoded)", llm.ErrInvalid, path, src.Type)
	}
	var format string
	switch src.MediaType {
	case "image/png":
		format = "png"
	case "image/jpeg":
		format = "jpeg"
	case "image/gif":
		format = "gif"
	case "image/webp":
		format = "webp"
	default:
		return nil, fmt.Errorf("%w: %s.source.media_type: must be image/png, image/jpeg, image/gif or image/webp, got %q", llm.ErrInvalid, path, src.MediaType)
	}
	return &imageBlock{Format: format, Source: bytesSource{Bytes: src.Data}}, nil
}

func textBlock(s string) block { return block{Text: &s} }

// withCachePoint appends a cache point after the last block when cc asks for one.
func withCachePoint(blocks []block, cc json.RawMessage) []block {
	if !hasCacheControl(cc) || len(blocks) == 0 || blocks[len(blocks)-1].CachePoint != nil {
		return blocks
	}
	return append(blocks, block{CachePoint: &cachePoint{Type: "default"}})
}

func hasCacheControl(cc json.RawMessage) bool {
	return len(cc) > 0 && !bytes.Equal(cc, []byte("null"))
}

// objectOr returns a tool input, or an empty object for none: Converse wants an object.
func objectOr(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return json.RawMessage("{}")
	}
	return raw
}

// members are the members of a Messages request that a Converse request carries; every other
// member is left out and named.
var members = []string{"model", "messages", "system", "max_tokens", "temperature", "top_p",
	"top_k", "stop_sequences", "tools", "tool_choice", "thinking", "stream", "metadata"}
