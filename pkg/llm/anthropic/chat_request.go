package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// This file converts requests between the Messages format and the Chat Completions format,
// both ways. The two differ mostly in where things live: Anthropic keeps the system prompt
// apart and puts tool results in user turns; chat has system messages and tool messages.

// billingPrefix starts the attribution line Claude Code puts at the top of its system prompt.
// The line changes with every request, so it is left out on the way to another provider,
// whose prompt cache would otherwise never hit.
const billingPrefix = "x-anthropic-billing-header:"

// MessagesToChatRequest converts a client's Messages request into a Chat Completions request
// for the upstream. model names the upstream model; empty keeps the client's.
//
// What has no chat equivalent: thinking blocks in the history (their signatures mean nothing
// to another provider) and cache_control markers are left out, as are top_k and metadata.
// Server tools, files by id and documents by URL cannot be expressed and are refused.
func MessagesToChatRequest(body []byte, model string) ([]byte, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: messages request: %w", llm.ErrInvalid, err)
	}
	out := openai.ChatRequest{Model: req.Model, Stream: req.Stream}
	if model != "" {
		out.Model = model
	}
	reasoning := isReasoningModel(out.Model)
	if req.System != nil {
		if sys, ok := systemToChat(*req.System); ok {
			out.Messages = append(out.Messages, sys)
		}
	}
	for i, m := range req.Messages {
		msgs, err := messageToChat(m)
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d]: %w", llm.ErrInvalid, i, err)
		}
		out.Messages = append(out.Messages, msgs...)
	}
	if out.Messages == nil {
		out.Messages = []openai.ChatMessage{}
	}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		if reasoning {
			out.MaxCompletionTokens = &n
		} else {
			out.MaxTokens = &n
		}
	}
	if !reasoning || (req.Temperature != nil && *req.Temperature == 1) {
		out.Temperature = req.Temperature
	}
	if !reasoning {
		out.TopP = req.TopP
	}
	if reasoning && req.Thinking != nil && req.Thinking.Type == "enabled" {
		out.ReasoningEffort = effortFor(req.Thinking.BudgetTokens)
	}
	out.Stop = openai.Stop(req.StopSequences)
	if req.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	for i, t := range req.Tools {
		if !t.IsClientTool() {
			return nil, fmt.Errorf("%w: tools[%d]: server tool %s cannot be sent to an OpenAI chat upstream", llm.ErrInvalid, i, t.Type)
		}
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{
			Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict,
		}})
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case ToolChoiceAuto:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceAuto}
		case ToolChoiceAny:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceRequired}
		case ToolChoiceNone:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceNone}
		case ToolChoiceTool:
			out.ToolChoice = &openai.ToolChoice{Name: tc.Name}
		}
		if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse && len(out.Tools) > 0 {
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

// isReasoningModel tells OpenAI's reasoning models, which take max_completion_tokens and
// reasoning_effort and refuse max_tokens and a temperature other than 1.
func isReasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 { // "openai/gpt-5" on OpenRouter
		m = m[i+1:]
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if m == p || strings.HasPrefix(m, p+"-") || strings.HasPrefix(m, p+".") {
			return true
		}
	}
	return false
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

// systemToChat converts the system prompt into one system message, without Claude Code's
// attribution line. A string stays a string; text blocks are joined by blank lines.
func systemToChat(sys Content) (openai.ChatMessage, bool) {
	if sys.Text != nil {
		s := stripBilling(*sys.Text)
		if s == "" {
			return openai.ChatMessage{}, false
		}
		return openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(s)}, true
	}
	var texts []string
	for _, b := range sys.Blocks {
		if s := stripBilling(b.Text); s != "" {
			texts = append(texts, s)
		}
	}
	if len(texts) == 0 {
		return openai.ChatMessage{}, false
	}
	return openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(strings.Join(texts, "\n\n"))}, true
}

// stripBilling removes Claude Code's attribution line from the start of s.
func stripBilling(s string) string {
	if !strings.HasPrefix(s, billingPrefix) {
		return s
	}
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}

// messageToChat converts one Anthropic turn into chat messages: a user turn with tool results
// becomes one tool message per result, followed by a user message with the rest of the turn
// (and the images of the results, which a tool message cannot hold).
func messageToChat(m Message) ([]openai.ChatMessage, error) {
	switch m.Role {
	case RoleUser:
		return userToChat(m.Content)
	case RoleAssistant:
		msg, err := assistantToChat(m.Content)
		if err != nil {
			return nil, err
		}
		return []openai.ChatMessage{msg}, nil
	default:
		return nil, fmt.Errorf("role must be user or assistant, not %q", m.Role)
	}
}

func userToChat(c Content) ([]openai.ChatMessage, error) {
	if c.Blocks == nil {
		text := ""
		if c.Text != nil {
			text = *c.Text
		}
		return []openai.ChatMessage{{Role: openai.RoleUser, Content: openai.TextContent(text)}}, nil
	}
	var (
		out      []openai.ChatMessage
		carried  []openai.ContentPart // parts of tool results that a tool message cannot hold
		parts    []openai.ContentPart
		hasOther bool
	)
	for j, b := range c.Blocks {
		if b.Type == BlockToolResult {
			msg, extra, err := toolResultToChat(b)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: %w", j, err)
			}
			out = append(out, msg)
			carried = append(carried, extra...)
			continue
		}
		p, err := blockToParts(b)
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

// blockToParts converts a user content block into chat content parts.
func blockToParts(b ContentBlock) ([]openai.ContentPart, error) {
	switch b.Type {
	case BlockText:
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
		return nil, fmt.Errorf("image source %q cannot be sent to an OpenAI chat upstream", b.Source.Type)
	case BlockDocument:
		return documentToParts(b)
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
	case BlockThinking, BlockRedactedThinking:
		return nil, nil
	}
	return nil, fmt.Errorf("%s blocks cannot be sent to an OpenAI chat upstream", b.Type)
}

func documentToParts(b ContentBlock) ([]openai.ContentPart, error) {
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
			p, err := blockToParts(cb)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p...)
		}
		return parts, nil
	}
	return nil, fmt.Errorf("document source %q cannot be sent to an OpenAI chat upstream", b.Source.Type)
}

// toolResultToChat converts a tool_result block into a tool message, and returns the parts of
// the result (images, documents) that only a user message can hold.
func toolResultToChat(b ContentBlock) (openai.ChatMessage, []openai.ContentPart, error) {
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
		parts, err := blockToParts(rb)
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

// assistantToChat converts an assistant turn: its text joined (Anthropic splits text into
// several blocks around citations), its tool_use blocks as tool calls.
func assistantToChat(c Content) (openai.ChatMessage, error) {
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	if c.Blocks == nil {
		text := ""
		if c.Text != nil {
			text = *c.Text
		}
		msg.Content = openai.TextContent(text)
		return msg, nil
	}
	var text strings.Builder
	for j, b := range c.Blocks {
		switch b.Type {
		case BlockText:
			text.WriteString(b.Text)
		case BlockToolUse:
			args, err := compactJSON(b.Input)
			if err != nil {
				return msg, fmt.Errorf("content[%d].input: %w", j, err)
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
				ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args},
			})
		case BlockThinking, BlockRedactedThinking:
		default:
			return msg, fmt.Errorf("content[%d]: %s blocks cannot be sent to an OpenAI chat upstream", j, b.Type)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = openai.TextContent(text.String())
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

// defaultMaxTokens is the max_tokens of a chat request that set no limit, which Anthropic
// requires: every Claude model can produce this many.
const defaultMaxTokens = 4096

// ChatToMessagesRequest converts a client's Chat Completions request into a Messages request
// for the upstream. model names the upstream model; empty keeps the client's.
//
// System and developer messages become the system prompt (a lone string stays a string),
// tool messages become tool_result blocks in a user turn, and consecutive turns of one role
// are merged, as Anthropic wants them alternating. Sampling options Anthropic lacks (seed,
// penalties, logprobs, logit_bias) and response_format are left out; reasoning in the
// history is left out too, since Anthropic accepts only its own signed thinking.
func ChatToMessagesRequest(body []byte, model string) ([]byte, error) {
	var req openai.ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: chat request: %w", llm.ErrInvalid, err)
	}
	if req.N != nil && *req.N > 1 {
		return nil, fmt.Errorf("%w: n greater than 1 cannot be sent to an Anthropic upstream", llm.ErrInvalid)
	}
	out := Request{Model: req.Model, Stream: req.Stream, StopSequences: req.Stop, MaxTokens: defaultMaxTokens}
	if model != "" {
		out.Model = model
	}
	switch {
	case req.MaxCompletionTokens != nil && *req.MaxCompletionTokens > 0:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil && *req.MaxTokens > 0:
		out.MaxTokens = *req.MaxTokens
	}
	var system []ContentBlock
	var systemText *string
	for i, m := range req.Messages {
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			if m.Content.Text != nil && system == nil && systemText == nil {
				systemText = m.Content.Text
				continue
			}
			if systemText != nil {
				system = append(system, ContentBlock{Type: BlockText, Text: *systemText})
				systemText = nil
			}
			system = append(system, partsToSystem(m.Content)...)
		default:
			turn, err := chatToTurn(m)
			if err != nil {
				return nil, fmt.Errorf("%w: messages[%d]: %w", llm.ErrInvalid, i, err)
			}
			if turn.Content.IsNull() {
				continue
			}
			out.Messages = appendTurn(out.Messages, turn)
		}
	}
	switch {
	case systemText != nil:
		out.System = &Content{Text: systemText}
	case system != nil:
		out.System = &Content{Blocks: system}
	}
	if out.Messages == nil {
		out.Messages = []Message{}
	}
	if req.Temperature != nil {
		t := min(*req.Temperature, 1) // chat allows up to 2, Anthropic up to 1
		out.Temperature = &t
	}
	out.TopP = req.TopP
	// With thinking on, Anthropic wants the last assistant turn of a tool loop to start with
	// its signed thinking, which a chat history cannot give back: such a request goes without.
	if budget := budgetFor(req.ReasoningEffort); budget > 0 && !inToolLoop(out.Messages) {
		out.Thinking = &Thinking{Type: "enabled", BudgetTokens: budget}
		if out.MaxTokens <= budget {
			out.MaxTokens += budget
		}
		// Anthropic refuses a temperature other than 1, and a top_p below 0.95, with thinking.
		if out.Temperature != nil && *out.Temperature != 1 {
			out.Temperature = nil
		}
		if out.TopP != nil && *out.TopP < 0.95 {
			out.TopP = nil
		}
	}
	if req.User != "" {
		out.Metadata = &Metadata{UserID: req.User}
	}
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil {
			return nil, fmt.Errorf("%w: tools[%d]: %s tools cannot be sent to an Anthropic upstream", llm.ErrInvalid, i, t.Type)
		}
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || bytes.Equal(bytes.TrimSpace(schema), []byte("null")) {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema, Strict: t.Function.Strict})
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case tc.Name != "":
			out.ToolChoice = &ToolChoice{Type: ToolChoiceTool, Name: tc.Name}
		case len(tc.Raw) > 0:
			return nil, fmt.Errorf("%w: tool_choice %s cannot be sent to an Anthropic upstream", llm.ErrInvalid, tc.Raw)
		case tc.Mode == openai.ToolChoiceAuto:
			out.ToolChoice = &ToolChoice{Type: ToolChoiceAuto}
		case tc.Mode == openai.ToolChoiceRequired:
			out.ToolChoice = &ToolChoice{Type: ToolChoiceAny}
		case tc.Mode == openai.ToolChoiceNone:
			out.ToolChoice = &ToolChoice{Type: ToolChoiceNone}
		}
	}
	if p := req.ParallelToolCalls; p != nil && !*p && len(out.Tools) > 0 {
		if out.ToolChoice == nil {
			out.ToolChoice = &ToolChoice{Type: ToolChoiceAuto}
		}
		if out.ToolChoice.Type != ToolChoiceNone {
			t := true
			out.ToolChoice.DisableParallelToolUse = &t
		}
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, nil
}

// inToolLoop reports whether the last assistant turn of msgs calls tools.
func inToolLoop(msgs []Message) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != RoleAssistant {
			continue
		}
		for _, b := range msgs[i].Content.Blocks {
			if b.Type == BlockToolUse {
				return true
			}
		}
		return false
	}
	return false
}

// budgetFor maps a reasoning effort onto a thinking budget; 0 means no thinking.
func budgetFor(effort string) int64 {
	switch effort {
	case "low":
		return 2048
	case "medium":
		return 8192
	case "high", "xhigh":
		return 24576
	}
	return 0
}

// partsToSystem converts a system message's content into text blocks, keeping the
// cache_control markers that OpenRouter-style clients put on parts.
func partsToSystem(c openai.Content) []ContentBlock {
	if c.Text != nil {
		return []ContentBlock{{Type: BlockText, Text: *c.Text}}
	}
	var out []ContentBlock
	for _, p := range c.Parts {
		if p.Type == openai.PartText {
			out = append(out, ContentBlock{Type: BlockText, Text: p.Text, CacheControl: p.CacheControl})
		}
	}
	return out
}

// chatToTurn converts one user, assistant or tool message into an Anthropic turn. A turn with
// null content is one to leave out (an assistant message with nothing in it).
func chatToTurn(m openai.ChatMessage) (Message, error) {
	switch m.Role {
	case openai.RoleUser:
		if m.Content.Text != nil {
			return Message{Role: RoleUser, Content: Content{Text: m.Content.Text}}, nil
		}
		blocks, err := partsToBlocks(m.Content.Parts)
		if err != nil {
			return Message{}, err
		}
		return Message{Role: RoleUser, Content: Content{Blocks: blocks}}, nil
	case openai.RoleAssistant:
		return assistantToTurn(m)
	case openai.RoleTool:
		res := ContentBlock{Type: BlockToolResult, ToolUseID: m.ToolCallID}
		switch {
		case m.Content.Text != nil:
			res.Content = &Content{Text: m.Content.Text}
		case m.Content.Parts != nil:
			blocks, err := partsToBlocks(m.Content.Parts)
			if err != nil {
				return Message{}, err
			}
			res.Content = &Content{Blocks: blocks}
		}
		return Message{Role: RoleUser, Content: Content{Blocks: []ContentBlock{res}}}, nil
	}
	return Message{}, fmt.Errorf("role %q cannot be sent to an Anthropic upstream", m.Role)
}

func assistantToTurn(m openai.ChatMessage) (Message, error) {
	text := m.Content.String()
	if m.Refusal != nil && text == "" {
		text = *m.Refusal
	}
	if len(m.ToolCalls) == 0 {
		if text == "" {
			return Message{}, nil
		}
		if m.Content.Text != nil {
			return Message{Role: RoleAssistant, Content: Content{Text: m.Content.Text}}, nil
		}
		return Message{Role: RoleAssistant, Content: Content{Blocks: []ContentBlock{{Type: BlockText, Text: text}}}}, nil
	}
	var blocks []ContentBlock
	if text != "" {
		blocks = append(blocks, ContentBlock{Type: BlockText, Text: text})
	}
	for j, tc := range m.ToolCalls {
		input, err := argumentsToInput(tc.Function.Arguments)
		if err != nil {
			return Message{}, fmt.Errorf("tool_calls[%d].function.arguments: %w", j, err)
		}
		blocks = append(blocks, ContentBlock{Type: BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return Message{Role: RoleAssistant, Content: Content{Blocks: blocks}}, nil
}

// argumentsToInput parses a tool call's arguments string into a tool_use input object.
func argumentsToInput(args string) (json.RawMessage, error) {
	raw := bytes.TrimSpace([]byte(args))
	if len(raw) == 0 {
		return json.RawMessage("{}"), nil
	}
	if llm.FirstByte(raw) != '{' || !json.Valid(raw) {
		return nil, fmt.Errorf("must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// partsToBlocks converts chat content parts into Anthropic blocks.
func partsToBlocks(parts []openai.ContentPart) ([]ContentBlock, error) {
	blocks := make([]ContentBlock, 0, len(parts))
	for k, p := range parts {
		switch p.Type {
		case openai.PartText:
			blocks = append(blocks, ContentBlock{Type: BlockText, Text: p.Text, CacheControl: p.CacheControl})
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, fmt.Errorf("content[%d].image_url is required", k)
			}
			src, err := urlSource(p.ImageURL.URL)
			if err != nil {
				return nil, fmt.Errorf("content[%d].image_url: %w", k, err)
			}
			blocks = append(blocks, ContentBlock{Type: BlockImage, Source: src, CacheControl: p.CacheControl})
		case openai.PartFile:
			if p.File == nil || p.File.FileData == "" {
				return nil, fmt.Errorf("content[%d]: files by id cannot be sent to an Anthropic upstream", k)
			}
			src, err := urlSource(p.File.FileData)
			if err != nil || src.Type != SourceBase64 {
				return nil, fmt.Errorf("content[%d].file.file_data must be a base64 data: URL", k)
			}
			blocks = append(blocks, ContentBlock{Type: BlockDocument, Source: src, Title: p.File.Filename, CacheControl: p.CacheControl})
		case openai.PartRefusal:
			blocks = append(blocks, ContentBlock{Type: BlockText, Text: p.Refusal})
		default:
			return nil, fmt.Errorf("content[%d]: %s parts cannot be sent to an Anthropic upstream", k, p.Type)
		}
	}
	return blocks, nil
}

// urlSource reads an image or file URL: a base64 data: URL becomes a base64 source, any other
// URL a url source.
func urlSource(u string) (*Source, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		if u == "" {
			return nil, fmt.Errorf("url is empty")
		}
		return &Source{Type: SourceURL, URL: u}, nil
	}
	meta, data, ok := strings.Cut(rest, ",")
	mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isBase64 || mediaType == "" {
		return nil, fmt.Errorf("data: URL must be base64 with a media type")
	}
	return &Source{Type: SourceBase64, MediaType: mediaType, Data: data}, nil
}

// appendTurn appends turn to msgs, merged into the last turn when both have the same role.
func appendTurn(msgs []Message, turn Message) []Message {
	if n := len(msgs); n > 0 && msgs[n-1].Role == turn.Role {
		last := &msgs[n-1]
		last.Content = Content{Blocks: append(asBlocks(last.Content), asBlocks(turn.Content)...)}
		return msgs
	}
	return append(msgs, turn)
}

func asBlocks(c Content) []ContentBlock {
	if c.Text != nil {
		if *c.Text == "" {
			return nil
		}
		return []ContentBlock{{Type: BlockText, Text: *c.Text}}
	}
	return c.Blocks
}
