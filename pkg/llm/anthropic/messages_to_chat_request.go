package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// This file converts Messages requests into Chat Completions requests (chat_to_messages_request.go
// converts the other way). The two differ mostly in where things live: Anthropic keeps the
// system prompt apart and puts tool results in user turns; chat has system messages and tool
// messages.

// billingPrefix starts the attribution line Claude Code puts at the top of its system prompt.
// The line changes with every request, so it is left out on the way to another provider,
// whose prompt cache would otherwise never hit.
const billingPrefix = "x-anthropic-billing-header:"

// DetailFormat is the format OpenRouter names Claude's signed thinking by, in the
// reasoning_details of a chat message.
const DetailFormat = "anthropic-claude-v1"

// MessagesToChatRequest converts a client's Messages request into a Chat Completions request
// for the upstream, following the conversion policy (package translate's table): what has a
// chat counterpart is mapped, what has none is left out and named in opt.Dropped, and only
// what cannot be left out without changing the conversation is refused.
//
// System messages inside the conversation stay where they are, as chat system messages.
// Thinking blocks in the history mean nothing to another provider and are left out, unless
// the output feeds another conversion (opt.Intermediate), which reads them from the
// assistant message's reasoning_details as OpenRouter writes them.
func MessagesToChatRequest(body []byte, opt llm.Options) ([]byte, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: messages request: %w", llm.ErrInvalid, err)
	}
	opt.DropOthers(body, messagesRequestMembers)
	out := openai.ChatRequest{Model: req.Model, Stream: req.Stream}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	reasoning := llm.IsReasoningModel(out.Model)
	c := toChat{opt: opt}
	if req.System != nil {
		if sys, ok := c.system(*req.System); ok {
			out.Messages = append(out.Messages, sys)
		}
	}
	for i, m := range req.Messages {
		msgs, err := c.message(m)
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d]: %w", llm.ErrInvalid, i, err)
		}
		out.Messages = append(out.Messages, msgs...)
	}
	if out.Messages == nil {
		out.Messages = []openai.ChatMessage{}
	}
	if req.MaxTokens > 0 {
		n := llm.ClampOutputTokens(out.Model, req.MaxTokens)
		if reasoning {
			out.MaxCompletionTokens = &n
		} else {
			out.MaxTokens = &n
		}
	}
	if !reasoning || (req.Temperature != nil && *req.Temperature == 1) {
		out.Temperature = req.Temperature
	} else if req.Temperature != nil {
		opt.Drop("temperature")
	}
	if !reasoning {
		out.TopP = req.TopP
	} else if req.TopP != nil {
		opt.Drop("top_p")
	}
	if req.TopK != nil {
		opt.Drop("top_k")
	}
	c.reasoning(&out, req, reasoning)
	if f := req.OutputConfig.format(); f != nil {
		out.ResponseFormat = f
	}
	if req.Metadata != nil && req.Metadata.UserID != "" {
		out.User = req.Metadata.UserID
	}
	switch req.ServiceTier {
	case "":
	case "auto":
		out.ServiceTier = "auto"
	default:
		opt.Drop("service_tier")
	}
	out.Stop = openai.Stop(req.StopSequences)
	if req.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	for _, t := range req.Tools {
		if !t.IsClientTool() {
			opt.Drop(llm.ToolFamily(t.Type))
			continue
		}
		if len(t.CacheControl) > 0 {
			opt.Drop("cache_control")
		}
		params := t.InputSchema
		if len(params) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{
			Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict,
		}})
	}
	if tc := req.ToolChoice; tc != nil && len(out.Tools) > 0 {
		switch tc.Type {
		case ToolChoiceAuto:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceAuto}
		case ToolChoiceAny:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceRequired}
		case ToolChoiceNone:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceNone}
		case ToolChoiceTool:
			out.ToolChoice = &openai.ToolChoice{Name: tc.Name}
		default:
			opt.Drop("tool_choice")
		}
		if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, nil
}

// messagesRequestMembers are the members of a Messages request that MessagesToChatRequest
// reads; every other member is left out and named.
var messagesRequestMembers = []string{"model", "messages", "system", "max_tokens", "metadata",
	"stop_sequences", "stream", "temperature", "top_p", "top_k", "tools", "tool_choice",
	"thinking", "service_tier", "output_config"}

// reasoning sets the chat request's reasoning_effort from thinking and output_config.effort,
// for the reasoning models that take it; other models cannot be asked to think.
func (c toChat) reasoning(out *openai.ChatRequest, req Request, reasoning bool) {
	effort := req.OutputConfig.effort()
	thinking := req.Thinking != nil && req.Thinking.Type != "disabled"
	if !reasoning {
		if thinking {
			c.opt.Drop("thinking")
		}
		if effort != "" {
			c.opt.Drop("output_config.effort")
		}
		return
	}
	switch {
	case effort != "":
		out.ReasoningEffort = ChatEffort(effort)
	case req.Thinking != nil && req.Thinking.Type == "enabled":
		out.ReasoningEffort = effortFor(req.Thinking.BudgetTokens)
	}
}

// ChatEffort is the OpenAI reasoning effort of an Anthropic effort: the same words, with
// Anthropic's "max" as OpenAI's "high".
func ChatEffort(effort string) string {
	switch effort {
	case "max":
		return "high"
	case "low", "medium", "high":
		return effort
	}
	return "medium"
}

// effortFor maps a thinking budget onto a reasoning effort.
func effortFor(budget int64) string {
	switch {
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	default:
		return "high"
	}
}

// toChat converts the parts of one Messages request, noting what it leaves out.
type toChat struct{ opt llm.Options }

// system converts the system prompt into one system message, without Claude Code's
// attribution line. A string stays a string; text blocks are joined by blank lines.
func (c toChat) system(sys Content) (openai.ChatMessage, bool) {
	s := c.text(sys, true)
	if s == "" {
		return openai.ChatMessage{}, false
	}
	return openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(s)}, true
}

// text is the text of a system prompt or system message: the string, or its text blocks
// joined by blank lines, Claude Code's attribution line left out of the prompt when billing.
func (c toChat) text(sys Content, billing bool) string {
	strip := func(s string) string {
		if billing {
			return stripBilling(s)
		}
		return s
	}
	if sys.Text != nil {
		return strip(*sys.Text)
	}
	var texts []string
	for _, b := range sys.Blocks {
		if len(b.CacheControl) > 0 {
			c.opt.Drop("cache_control")
		}
		if b.Type != BlockText {
			c.opt.Drop(b.Type)
			continue
		}
		if s := strip(b.Text); s != "" {
			texts = append(texts, s)
		}
	}
	return strings.Join(texts, "\n\n")
}

// stripBilling removes Claude Code's attribution line from the start of s.
func stripBilling(s string) string {
	if !strings.HasPrefix(s, billingPrefix) {
		return s
	}
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}

// message converts one Anthropic turn into chat messages: a user turn with tool results
// becomes one tool message per result, followed by a user message with the rest of the turn
// (and the images of the results, which a tool message cannot hold); a system message stays
// a system message where it is.
func (c toChat) message(m Message) ([]openai.ChatMessage, error) {
	switch m.Role {
	case RoleUser:
		return c.user(m.Content)
	case RoleAssistant:
		msg, err := c.assistant(m.Content)
		if err != nil {
			return nil, err
		}
		return []openai.ChatMessage{msg}, nil
	case RoleSystem:
		s := c.text(m.Content, false)
		if s == "" {
			return nil, nil
		}
		return []openai.ChatMessage{{Role: openai.RoleSystem, Content: openai.TextContent(s)}}, nil
	default:
		return nil, fmt.Errorf("role %q has no counterpart in an OpenAI chat conversation", m.Role)
	}
}

func (c toChat) user(content Content) ([]openai.ChatMessage, error) {
	if content.Blocks == nil {
		text := ""
		if content.Text != nil {
			text = *content.Text
		}
		return []openai.ChatMessage{{Role: openai.RoleUser, Content: openai.TextContent(text)}}, nil
	}
	var (
		out      []openai.ChatMessage
		carried  []openai.ContentPart // parts of tool results that a tool message cannot hold
		parts    []openai.ContentPart
		hasOther bool
	)
	for j, b := range content.Blocks {
		if b.Type == BlockToolResult {
			msg, extra, err := c.toolResult(b)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: %w", j, err)
			}
			out = append(out, msg)
			carried = append(carried, extra...)
			continue
		}
		p, err := c.parts(b)
		if err != nil {
			return nil, fmt.Errorf("content[%d]: %w", j, err)
		}
		parts = append(parts, p...)
		hasOther = true
	}
	parts = append(carried, parts...)
	if len(parts) > 0 || (hasOther && len(out) == 0) {
		out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: partsContent(parts)})
	}
	if len(out) == 0 { // an empty array of blocks
		out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: openai.Content{Parts: []openai.ContentPart{}}})
	}
	return out, nil
}

// partsContent is the content of parts: one text part becomes a string, which every
// OpenAI-compatible server understands; anything else stays an array.
func partsContent(parts []openai.ContentPart) openai.Content {
	if len(parts) == 1 && parts[0].Type == openai.PartText {
		return openai.TextContent(parts[0].Text)
	}
	if parts == nil {
		parts = []openai.ContentPart{}
	}
	return openai.Content{Parts: parts}
}

// parts converts a user content block into chat content parts. A block with no chat
// counterpart (server tool blocks, thinking, blocks of types lynkr does not know) is left out
// and named; an image or document chat cannot carry is refused, since the model would answer
// without it.
func (c toChat) parts(b ContentBlock) ([]openai.ContentPart, error) {
	if len(b.CacheControl) > 0 {
		c.opt.Drop("cache_control")
	}
	switch b.Type {
	case BlockText:
		if len(b.Citations) > 0 && string(b.Citations) != "null" {
			c.opt.Drop("citations")
		}
		return []openai.ContentPart{{Type: openai.PartText, Text: b.Text}}, nil
	case BlockImage:
		if b.Source == nil {
			return nil, fmt.Errorf("image has no source")
		}
		switch b.Source.Type {
		case SourceBase64:
			return []openai.ContentPart{{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{
				URL: "data:" + b.Source.MediaType + ";base64," + b.Source.Data,
			}}}, nil
		case SourceURL:
			return []openai.ContentPart{{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: b.Source.URL}}}, nil
		}
		return nil, fmt.Errorf("an image of source %q cannot be sent to an OpenAI chat upstream", b.Source.Type)
	case BlockDocument:
		return c.document(b)
	case BlockSearchResult:
		var parts []openai.ContentPart
		if b.Content != nil {
			for _, sb := range b.Content.Blocks {
				if sb.Type == BlockText {
					parts = append(parts, openai.ContentPart{Type: openai.PartText, Text: sb.Text})
				}
			}
		}
		return parts, nil
	case BlockThinking:
		c.opt.Drop("thinking_block")
		return nil, nil
	}
	c.opt.Drop(b.Type)
	return nil, nil
}

func (c toChat) document(b ContentBlock) ([]openai.ContentPart, error) {
	if b.Source == nil {
		return nil, fmt.Errorf("document has no source")
	}
	switch s := b.Source; s.Type {
	case SourceBase64:
		name := b.Title
		if name == "" {
			name = "document.pdf"
		}
		return []openai.ContentPart{{Type: openai.PartFile, File: &openai.File{
			FileData: "data:" + s.MediaType + ";base64," + s.Data, Filename: name,
		}}}, nil
	case SourceText:
		return []openai.ContentPart{{Type: openai.PartText, Text: s.Data}}, nil
	case SourceContent:
		if s.Content == nil {
			return nil, nil
		}
		if s.Content.Text != nil {
			return []openai.ContentPart{{Type: openai.PartText, Text: *s.Content.Text}}, nil
		}
		var parts []openai.ContentPart
		for _, cb := range s.Content.Blocks {
			p, err := c.parts(cb)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p...)
		}
		return parts, nil
	}
	return nil, fmt.Errorf("a document of source %q cannot be sent to an OpenAI chat upstream", b.Source.Type)
}

// toolResult converts a tool_result block into a tool message, and returns the parts of
// the result (images, documents) that only a user message can hold.
func (c toChat) toolResult(b ContentBlock) (openai.ChatMessage, []openai.ContentPart, error) {
	if len(b.CacheControl) > 0 {
		c.opt.Drop("cache_control")
	}
	msg := openai.ChatMessage{Role: openai.RoleTool, ToolCallID: b.ToolUseID, Content: openai.TextContent("")}
	if b.Content == nil {
		return msg, nil, nil
	}
	if b.Content.Text != nil {
		msg.Content = openai.TextContent(*b.Content.Text)
		return msg, nil, nil
	}
	var texts, carried []openai.ContentPart
	for _, rb := range b.Content.Blocks {
		parts, err := c.parts(rb)
		if err != nil {
			return msg, nil, err
		}
		for _, p := range parts {
			if p.Type == openai.PartText {
				texts = append(texts, p)
			} else {
				carried = append(carried, p)
			}
		}
	}
	if len(texts) > 0 {
		msg.Content = partsContent(texts)
	}
	return msg, carried, nil
}

// assistant converts an assistant turn: its text joined (Anthropic splits text into several
// blocks around citations), its tool_use blocks as tool calls. Its thinking travels in
// reasoning_details when the output feeds another conversion, and is left out otherwise.
func (c toChat) assistant(content Content) (openai.ChatMessage, error) {
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	if content.Blocks == nil {
		text := ""
		if content.Text != nil {
			text = *content.Text
		}
		msg.Content = openai.TextContent(text)
		return msg, nil
	}
	var text strings.Builder
	var details []openai.ReasoningDetail
	for j, b := range content.Blocks {
		if len(b.CacheControl) > 0 {
			c.opt.Drop("cache_control")
		}
		switch b.Type {
		case BlockText:
			if len(b.Citations) > 0 && string(b.Citations) != "null" {
				c.opt.Drop("citations")
			}
			text.WriteString(b.Text)
		case BlockToolUse:
			args, err := compactJSON(b.Input)
			if err != nil {
				return msg, fmt.Errorf("content[%d].input: %w", j, err)
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
				ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args},
			})
		case BlockThinking:
			if !c.opt.Intermediate {
				c.opt.Drop("thinking_block")
				continue
			}
			details = append(details, openai.ReasoningDetail{Type: openai.DetailText, Text: b.Thinking, Signature: b.Signature, Format: DetailFormat})
		case BlockRedactedThinking:
			if !c.opt.Intermediate {
				c.opt.Drop(BlockRedactedThinking)
				continue
			}
			details = append(details, openai.ReasoningDetail{Type: openai.DetailEncrypted, Data: b.Data, Format: DetailFormat})
		default:
			c.opt.Drop(b.Type)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = openai.TextContent(text.String())
	}
	if len(details) > 0 {
		raw, err := llm.Marshal(details)
		if err != nil {
			return msg, err
		}
		msg.ReasoningDetails = raw
	}
	return msg, nil
}

// compactJSON returns raw as a compact JSON string, "{}" when raw is empty.
func compactJSON(raw json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}", nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// format is the chat response_format of the requested output format, nil when none.
func (o *OutputConfig) format() *openai.ResponseFormat {
	if o == nil || len(o.Format) == 0 {
		return nil
	}
	f := gjson.ParseBytes(o.Format)
	if f.Get("type").Str != "json_schema" {
		return nil
	}
	strict := true
	return &openai.ResponseFormat{Type: "json_schema", JSONSchema: &openai.JSONSchema{
		Name: "output", Schema: json.RawMessage(f.Get("schema").Raw), Strict: &strict,
	}}
}
