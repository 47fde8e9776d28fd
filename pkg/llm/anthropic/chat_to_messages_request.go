package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// This file converts Chat Completions requests into Messages requests.

// defaultMaxTokens is the max_tokens of a chat request that set no limit, which Anthropic
// requires: every Claude model can produce this many.
const defaultMaxTokens = 4096

// ChatToMessagesRequest converts a client's Chat Completions request into a Messages request
// for the upstream, following the conversion policy (package translate's table).
//
// Leading system and developer messages become the system prompt (a lone string stays a
// string); later ones stay where they are: a system message where Anthropic takes one (after
// a user turn, on the models that have mid-conversation system messages), else the text of a
// user turn at that place. Tool messages become tool_result blocks in a user turn, and
// consecutive turns of one role are merged, as Anthropic wants them alternating. Signed
// thinking in reasoning_details (OpenRouter's form, and what another conversion hands on)
// comes back as thinking blocks; other reasoning text is left out, since Anthropic takes only
// its own signed thinking. What Anthropic lacks (seed, penalties, logprobs, n, …) is left out
// and named in opt.Dropped.
func ChatToMessagesRequest(body []byte, opt llm.Options) ([]byte, error) {
	var req openai.ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: chat request: %w", llm.ErrInvalid, err)
	}
	out := Request{Model: req.Model, Stream: req.Stream, StopSequences: req.Stop, MaxTokens: defaultMaxTokens}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	switch {
	case req.MaxCompletionTokens != nil && *req.MaxCompletionTokens > 0:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil && *req.MaxTokens > 0:
		out.MaxTokens = *req.MaxTokens
	}
	out.MaxTokens = llm.ClampOutputTokens(out.Model, out.MaxTokens)
	dropChatOnly(req, opt)
	var system []ContentBlock
	var systemText *string
	var held []ContentBlock // system text met between tool calls and their results
	leading := true
	native := midConversationSystem(out.Model)
	for i, m := range req.Messages {
		for _, k := range slices.Sorted(maps.Keys(m.Extra)) {
			opt.Drop(k)
		}
		isSystem := m.Role == openai.RoleSystem || m.Role == openai.RoleDeveloper
		if isSystem && leading {
			if m.Content.Text != nil && system == nil && systemText == nil {
				systemText = m.Content.Text
				continue
			}
			if systemText != nil {
				system = append(system, ContentBlock{Type: BlockText, Text: *systemText})
				systemText = nil
			}
			system = append(system, partsToSystem(m.Content, opt)...)
			continue
		}
		leading = false
		if isSystem {
			// Between tool calls and their results Anthropic takes nothing else: the system
			// text follows the results.
			if callsTools(out.Messages) {
				held = append(held, partsToSystem(m.Content, opt)...)
				continue
			}
			out.Messages = appendSystem(out.Messages, partsToSystem(m.Content, opt), native)
			continue
		}
		if m.Role != openai.RoleTool && held != nil {
			out.Messages = appendSystem(out.Messages, held, native)
			held = nil
		}
		turn, err := chatToTurn(m, opt)
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d]: %w", llm.ErrInvalid, i, err)
		}
		if turn.Content.IsNull() {
			continue
		}
		out.Messages = appendTurn(out.Messages, turn)
	}
	if held != nil {
		out.Messages = appendSystem(out.Messages, held, native)
	}
	out.Messages = placeSystem(out.Messages)
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
	thinking(&out, req.ReasoningEffort)
	if req.User != "" {
		out.Metadata = &Metadata{UserID: req.User}
	} else if req.SafetyIdentifier != "" {
		out.Metadata = &Metadata{UserID: req.SafetyIdentifier}
	}
	if f := req.ResponseFormat; f != nil {
		switch {
		case f.Type == "json_schema" && f.JSONSchema != nil && len(f.JSONSchema.Schema) > 0:
			raw, err := llm.Marshal(map[string]any{"type": "json_schema", "schema": f.JSONSchema.Schema})
			if err != nil {
				return nil, fmt.Errorf("%w: response_format: %w", llm.ErrInvalid, err)
			}
			out.OutputConfig = outputConfig(out.OutputConfig)
			out.OutputConfig.Format = raw
		case f.Type == "text":
		default:
			opt.Drop("response_format")
		}
	}
	switch req.ServiceTier {
	case "", "auto":
		out.ServiceTier = req.ServiceTier
	default:
		opt.Drop("service_tier")
	}
	for _, t := range req.Tools {
		if t.Type != "function" || t.Function == nil {
			opt.Drop(t.Type)
			continue
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
			out.ToolChoice = allowedTools(&out, tc.Raw, opt)
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
	if req.PromptCacheKey != "" {
		cacheBreakpoints(&out)
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, nil
}

// dropChatOnly names the members of a chat request that a Messages request has no place for.
func dropChatOnly(req openai.ChatRequest, opt llm.Options) {
	if req.N != nil && *req.N > 1 {
		opt.Drop("n")
	}
	for _, m := range []struct {
		name  string
		given bool
	}{
		{"seed", req.Seed != nil},
		{"presence_penalty", req.PresencePenalty != nil},
		{"frequency_penalty", req.FrequencyPenalty != nil},
		{"logprobs", req.Logprobs != nil && *req.Logprobs},
		{"top_logprobs", req.TopLogprobs != nil},
		{"logit_bias", len(req.LogitBias) > 0 && string(req.LogitBias) != "null"},
		{"metadata", len(req.Metadata) > 0},
		{"verbosity", req.Verbosity != ""},
		{"store", req.Store != nil && *req.Store},
		{"modalities", len(req.Modalities) > 0},
	} {
		if m.given {
			opt.Drop(m.name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(req.Extra)) {
		opt.Drop(k)
	}
}

func outputConfig(o *OutputConfig) *OutputConfig {
	if o == nil {
		return &OutputConfig{}
	}
	return o
}

// thinking asks for thinking at the chat request's reasoning effort: adaptive thinking at
// that effort on the models that have it, else a budget. With thinking on, Anthropic wants the
// last assistant turn of a tool loop to start with its signed thinking: a request whose
// history has none goes without.
func thinking(out *Request, effort string) {
	budget := budgetFor(effort)
	if budget == 0 || inToolLoop(out.Messages) && !signedToolLoop(out.Messages) {
		return
	}
	if adaptiveThinking(out.Model) {
		out.Thinking = &Thinking{Type: "adaptive"}
		out.OutputConfig = outputConfig(out.OutputConfig)
		out.OutputConfig.Effort = anthropicEffort(effort)
	} else {
		out.Thinking = &Thinking{Type: "enabled", BudgetTokens: budget}
		if out.MaxTokens <= budget {
			out.MaxTokens += budget
		}
	}
	// Anthropic refuses a temperature other than 1, and a top_p below 0.95, with thinking.
	if out.Temperature != nil && *out.Temperature != 1 {
		out.Temperature = nil
	}
	if out.TopP != nil && *out.TopP < 0.95 {
		out.TopP = nil
	}
}

// anthropicEffort is the Anthropic effort of an OpenAI reasoning effort.
func anthropicEffort(effort string) string {
	switch effort {
	case "minimal", "low":
		return "low"
	case "medium":
		return "medium"
	case "xhigh":
		return "max"
	}
	return "high"
}

// claudeVersion reads the version of a Claude model name ("claude-opus-4-8" is 4.8,
// "claude-sonnet-4-5-20250929" is 4.5, "claude-3-7-sonnet" is 3.7); ok is false for other
// names.
func claudeVersion(model string) (major, minor int, ok bool) {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = strings.TrimPrefix(m, "anthropic.") // Bedrock's model ids
	rest, found := strings.CutPrefix(m, "claude-")
	if !found {
		return 0, 0, false
	}
	var nums []int
	for part := range strings.SplitSeq(rest, "-") {
		if len(part) > 0 && len(part) <= 2 && isDigits(part) {
			n := 0
			for _, c := range part {
				n = n*10 + int(c-'0')
			}
			nums = append(nums, n)
		}
	}
	switch len(nums) {
	case 0:
		return 0, 0, false
	case 1:
		return nums[0], 0, true
	}
	return nums[0], nums[1], true
}

// atLeast reports whether model is a Claude model of version major.minor or later.
func atLeast(model string, major, minor int) bool {
	ma, mi, ok := claudeVersion(model)
	return ok && (ma > major || ma == major && mi >= minor)
}

// adaptiveThinking tells the Claude models that think adaptively (4.6 and later).
func adaptiveThinking(model string) bool { return atLeast(model, 4, 6) }

// midConversationSystem tells the Claude models that take system messages inside the
// conversation (4.8 and later).
func midConversationSystem(model string) bool { return atLeast(model, 4, 8) }

// appendSystem adds a system message met after the conversation began: as a system message
// where Anthropic takes one — right after a user turn, on a model that has them — and
// otherwise as text at the same place in a user turn, so it is neither lost nor moved.
func appendSystem(msgs []Message, blocks []ContentBlock, native bool) []Message {
	if len(blocks) == 0 {
		return msgs
	}
	if native && len(msgs) > 0 && msgs[len(msgs)-1].Role == RoleUser {
		return append(msgs, Message{Role: RoleSystem, Content: Content{Blocks: blocks}})
	}
	wrapped := make([]ContentBlock, 0, len(blocks))
	for _, b := range blocks {
		b.Text = "<system>\n" + b.Text + "\n</system>"
		wrapped = append(wrapped, b)
	}
	return appendTurn(msgs, Message{Role: RoleUser, Content: Content{Blocks: wrapped}})
}

// placeSystem keeps a system message where Anthropic takes one — right after a user turn, and
// last or followed by an assistant turn — and turns any other into <system> text at the end
// of the user turn before it.
func placeSystem(msgs []Message) []Message {
	if !slices.ContainsFunc(msgs, func(m Message) bool { return m.Role == RoleSystem }) {
		return msgs
	}
	out := make([]Message, 0, len(msgs))
	for i, m := range msgs {
		if m.Role == RoleSystem && (i+1 < len(msgs) && msgs[i+1].Role != RoleAssistant || i == 0 || msgs[i-1].Role != RoleUser) {
			out = appendSystem(out, m.Content.Blocks, false)
			continue
		}
		out = appendTurn(out, m)
	}
	return out
}

// allowedTools applies an allowed_tools tool choice: only the named tools are offered, and
// its mode becomes the tool choice. Another tool choice object is left out and named.
func allowedTools(out *Request, raw json.RawMessage, opt llm.Options) *ToolChoice {
	v := gjson.ParseBytes(raw)
	if v.Get("type").Str != "allowed_tools" {
		opt.Drop("tool_choice")
		return nil
	}
	allowed := map[string]bool{}
	for _, t := range v.Get("allowed_tools.tools").Array() {
		allowed[t.Get("function.name").Str] = true
		allowed[t.Get("name").Str] = true
	}
	out.Tools = slices.DeleteFunc(out.Tools, func(t Tool) bool { return !allowed[t.Name] })
	if v.Get("allowed_tools.mode").Str == openai.ToolChoiceRequired {
		return &ToolChoice{Type: ToolChoiceAny}
	}
	return &ToolChoice{Type: ToolChoiceAuto}
}

// cacheBreakpoints marks the end of the system prompt and of the conversation as prompt
// cache breakpoints, which is what a prompt_cache_key asks of OpenAI: reuse this prefix.
// Breakpoints the client set itself are kept, and none is added then.
func cacheBreakpoints(out *Request) {
	if hasCacheControl(out) {
		return
	}
	ephemeral := json.RawMessage(`{"type":"ephemeral"}`)
	if out.System != nil {
		blocks := asBlocks(*out.System)
		if n := len(blocks); n > 0 {
			blocks[n-1].CacheControl = ephemeral
			out.System = &Content{Blocks: blocks}
		}
	}
	if n := len(out.Messages); n > 0 {
		last := &out.Messages[n-1]
		blocks := asBlocks(last.Content)
		if k := len(blocks); k > 0 {
			blocks[k-1].CacheControl = ephemeral
			last.Content = Content{Blocks: blocks}
		}
	}
}

func hasCacheControl(r *Request) bool {
	has := func(c Content) bool {
		return slices.ContainsFunc(c.Blocks, func(b ContentBlock) bool { return len(b.CacheControl) > 0 })
	}
	if r.System != nil && has(*r.System) {
		return true
	}
	return slices.ContainsFunc(r.Messages, func(m Message) bool { return has(m.Content) })
}

// signedToolLoop reports whether the last assistant turn of msgs starts with signed thinking,
// which lets a tool loop go on with thinking on.
func signedToolLoop(msgs []Message) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != RoleAssistant {
			continue
		}
		b := msgs[i].Content.Blocks
		return len(b) > 0 && (b[0].Type == BlockThinking && b[0].Signature != "" || b[0].Type == BlockRedactedThinking)
	}
	return false
}

// callsTools reports whether the last turn of msgs is an assistant turn calling tools.
func callsTools(msgs []Message) bool {
	n := len(msgs)
	return n > 0 && msgs[n-1].Role == RoleAssistant &&
		slices.ContainsFunc(msgs[n-1].Content.Blocks, func(b ContentBlock) bool { return b.Type == BlockToolUse })
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
func partsToSystem(c openai.Content, opt llm.Options) []ContentBlock {
	if c.Text != nil {
		return []ContentBlock{{Type: BlockText, Text: *c.Text}}
	}
	var out []ContentBlock
	for _, p := range c.Parts {
		if p.Type != openai.PartText {
			opt.Drop(p.Type)
			continue
		}
		out = append(out, ContentBlock{Type: BlockText, Text: p.Text, CacheControl: p.CacheControl})
	}
	return out
}

// chatToTurn converts one user, assistant or tool message into an Anthropic turn. A turn with
// null content is one to leave out (an assistant message with nothing in it).
func chatToTurn(m openai.ChatMessage, opt llm.Options) (Message, error) {
	switch m.Role {
	case openai.RoleUser:
		if m.Content.Text != nil {
			return Message{Role: RoleUser, Content: Content{Text: m.Content.Text}}, nil
		}
		blocks, err := partsToBlocks(m.Content.Parts, opt)
		if err != nil {
			return Message{}, err
		}
		return Message{Role: RoleUser, Content: Content{Blocks: blocks}}, nil
	case openai.RoleAssistant:
		return assistantToTurn(m, opt)
	case openai.RoleTool:
		res := ContentBlock{Type: BlockToolResult, ToolUseID: m.ToolCallID}
		switch {
		case m.Content.Text != nil:
			res.Content = &Content{Text: m.Content.Text}
		case m.Content.Parts != nil:
			blocks, err := partsToBlocks(m.Content.Parts, opt)
			if err != nil {
				return Message{}, err
			}
			res.Content = &Content{Blocks: blocks}
		}
		return Message{Role: RoleUser, Content: Content{Blocks: []ContentBlock{res}}}, nil
	}
	return Message{}, fmt.Errorf("role %q has no counterpart in an Anthropic conversation", m.Role)
}

func assistantToTurn(m openai.ChatMessage, opt llm.Options) (Message, error) {
	text := m.Content.String()
	for _, p := range m.Content.Parts {
		if p.Type != openai.PartText && p.Type != openai.PartRefusal {
			opt.Drop(p.Type)
		}
	}
	if m.Refusal != nil && text == "" {
		text = *m.Refusal
	}
	thinking := thinkingBlocks(m.ReasoningDetails)
	if thinking == nil && (m.ReasoningContent != "" || m.Reasoning != "") {
		opt.Drop("reasoning_content")
	}
	if thinking != nil {
		blocks := thinking
		if text != "" {
			blocks = append(blocks, ContentBlock{Type: BlockText, Text: text})
		}
		blocks = append(blocks, toolUses(m.ToolCalls, opt)...)
		return Message{Role: RoleAssistant, Content: Content{Blocks: blocks}}, nil
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
	blocks = append(blocks, toolUses(m.ToolCalls, opt)...)
	return Message{Role: RoleAssistant, Content: Content{Blocks: blocks}}, nil
}

// thinkingBlocks returns the signed thinking that reasoning_details carry (OpenRouter's form
// of Claude's thinking), nil when they carry none.
func thinkingBlocks(raw json.RawMessage) []ContentBlock {
	if len(raw) == 0 || llm.FirstByte(raw) != '[' {
		return nil
	}
	var details []openai.ReasoningDetail
	if json.Unmarshal(raw, &details) != nil {
		return nil
	}
	var out []ContentBlock
	for _, d := range details {
		switch {
		case d.Type == openai.DetailText && d.Signature != "":
			out = append(out, ContentBlock{Type: BlockThinking, Thinking: d.Text, Signature: d.Signature})
		case d.Type == openai.DetailEncrypted && d.Data != "" && (d.Format == "" || d.Format == DetailFormat):
			out = append(out, ContentBlock{Type: BlockRedactedThinking, Data: d.Data})
		}
	}
	return out
}

// toolUses converts an assistant message's tool calls into tool_use blocks. Arguments that
// are not a JSON object (a call cut short by the token limit, replayed) cannot be a tool_use
// input: the call goes with an empty input, and its arguments are named as dropped.
func toolUses(calls []openai.ToolCall, opt llm.Options) []ContentBlock {
	blocks := make([]ContentBlock, 0, len(calls))
	for _, tc := range calls {
		input, ok := argumentsToInput(tc.Function.Arguments)
		if !ok {
			opt.Drop("tool_calls.arguments")
		}
		blocks = append(blocks, ContentBlock{Type: BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks
}

// argumentsToInput parses a tool call's arguments string into a tool_use input object: "{}"
// and false when they are not one.
func argumentsToInput(args string) (json.RawMessage, bool) {
	raw := bytes.TrimSpace([]byte(args))
	if len(raw) == 0 {
		return json.RawMessage("{}"), true
	}
	var buf bytes.Buffer
	if llm.FirstByte(raw) != '{' || json.Compact(&buf, raw) != nil {
		return json.RawMessage("{}"), false
	}
	return buf.Bytes(), true
}

// partsToBlocks converts chat content parts into Anthropic blocks.
func partsToBlocks(parts []openai.ContentPart, opt llm.Options) ([]ContentBlock, error) {
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
		case openai.PartInputAudio:
			return nil, fmt.Errorf("content[%d]: audio cannot be sent to an Anthropic upstream", k)
		default:
			opt.Drop(p.Type)
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

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
