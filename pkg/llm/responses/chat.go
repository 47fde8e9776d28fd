package responses

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// attachedOutput stands in for the text of a function call output that was only images or
// files: chat tool messages carry text only, so the attachments follow in a user message.
const attachedOutput = "(The output is attached to the next message.)"

// ResponsesToChatRequest converts a Responses request into a Chat Completions request,
// following the conversion policy (package translate's table). A request Convertible finds
// problems with is refused with an error wrapping llm.ErrInvalid that lists them.
//
// instructions and system or developer messages become system messages where they are
// (adjacent ones joined); items keep their order; function_call items become the tool_calls
// of one assistant message (joining the assistant message just before them);
// function_call_output items become tool messages; a reasoning item's reasoning_text becomes
// the reasoning_content of the next assistant message, and its encrypted_content travels in
// reasoning_details when the output feeds another conversion (opt.Intermediate), else is
// left out. A custom tool (Codex's freeform apply_patch) becomes a function tool with one
// string argument, input, its grammar told in the description; its custom_tool_call items
// become calls of that function and its outputs tool messages. The tools of a namespace
// become functions named by FlatName. Hosted tools (web_search, file_search, …), which only
// OpenAI runs, are left out and named in opt.Dropped, as are items and members chat has no
// place for. Images and files in a call's output follow the tool messages in a user message,
// since chat tool messages carry text only. max_output_tokens becomes max_completion_tokens,
// the field OpenAI's current models require; a stream asks for stream_options.include_usage.
// store, metadata and include stay with lynkr: they are echoed in the answer, not sent.
func ResponsesToChatRequest(body []byte, opt llm.Options) ([]byte, error) {
	if problems := Convertible(body); len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", llm.ErrInvalid, strings.Join(problems, "; "))
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	opt.DropOthers(body, requestMembers)
	out := openai.ChatRequest{
		Model:               r.Model,
		Messages:            chatMessages(r, opt),
		MaxCompletionTokens: r.MaxOutputTokens,
		Temperature:         r.Temperature,
		TopP:                r.TopP,
		User:                r.User,
		SafetyIdentifier:    r.SafetyIdentifier,
		PromptCacheKey:      r.PromptCacheKey,
		ServiceTier:         r.ServiceTier,
	}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	if n := out.MaxCompletionTokens; n != nil {
		clamped := llm.ClampOutputTokens(out.Model, *n)
		out.MaxCompletionTokens = &clamped
	}
	if r.Stream {
		out.Stream = true
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	tools, _ := flatten(r.Tools)
	for _, t := range tools {
		switch t.Type {
		case ToolFunction:
			params := t.Parameters
			if string(params) == "null" {
				params = nil
			}
			out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{
				Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict}})
		case ToolCustom:
			out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: customFunction(t)})
		default:
			opt.Drop(t.Type)
		}
	}
	if len(out.Tools) > 0 {
		out.ParallelToolCalls = r.ParallelToolCalls // OpenAI refuses it without tools
	}
	if r.ToolChoice != nil && len(out.Tools) > 0 {
		tc, err := chatToolChoice(*r.ToolChoice)
		if err != nil {
			return nil, err
		}
		out.ToolChoice = tc
	}
	if r.TopLogprobs != nil && *r.TopLogprobs > 0 {
		yes := true
		out.Logprobs = &yes
		out.TopLogprobs = r.TopLogprobs
	}
	if r.Reasoning != nil {
		out.ReasoningEffort = r.Reasoning.Effort
	}
	if r.Text != nil {
		out.Verbosity = r.Text.Verbosity
		if f := r.Text.Format; f != nil && f.Type != "text" {
			out.ResponseFormat = &openai.ResponseFormat{Type: f.Type}
			if f.Type == "json_schema" {
				out.ResponseFormat.JSONSchema = &openai.JSONSchema{
					Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: f.Strict,
				}
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, nil
}

// requestMembers are the members of a Responses request that lynkr converts, or keeps and
// echoes; every other member is left out and named.
var requestMembers = []string{"model", "input", "instructions", "tools", "tool_choice",
	"parallel_tool_calls", "max_output_tokens", "max_tool_calls", "temperature", "top_p",
	"top_logprobs", "stream", "store", "metadata", "previous_response_id", "reasoning", "text",
	"include", "truncation", "user", "safety_identifier", "prompt_cache_key", "service_tier",
	"stream_options"}

// customInputSchema is the parameters of the function a custom tool becomes: chat servers
// other than OpenAI know function tools only, so the free-text input travels as the one
// string argument "input".
const customInputSchema = `{"type":"object","properties":{"input":{"type":"string","description":"The whole input of the tool, as free text."}},"required":["input"],"additionalProperties":false}`

// customFunction is the function tool that stands for the custom tool t, its grammar told
// in the description.
func customFunction(t Tool) *openai.FunctionDef {
	desc := t.Description
	if f := t.Format; f != nil && f.Type == "grammar" {
		desc = joinNonEmpty(desc, fmt.Sprintf("Put the whole input in the input argument. It must follow this %s grammar:\n%s", f.Syntax, f.Definition), "\n\n")
	}
	return &openai.FunctionDef{Name: t.Name, Description: desc, Parameters: json.RawMessage(customInputSchema)}
}

// customArguments wraps a custom tool call's input as the arguments of its function.
func customArguments(input string) string {
	b, _ := llm.Marshal(struct {
		Input string `json:"input"`
	}{input})
	return string(b)
}

// customInput unwraps the input of a custom tool call from its function's arguments; what
// is not the expected object is passed on as it came.
func customInput(args string) string {
	if v := gjson.Get(args, "input"); gjson.Valid(args) && v.Type == gjson.String {
		return v.String()
	}
	return args
}

func chatToolChoice(t ToolChoice) (*openai.ToolChoice, error) {
	switch t.Type {
	case "":
		return &openai.ToolChoice{Mode: t.Mode}, nil
	case ToolFunction, ToolCustom:
		return &openai.ToolChoice{Name: t.Name}, nil
	}
	// allowed_tools: chat nests the list and names each function in a function object.
	type fn struct {
		Name string `json:"name"`
	}
	type tool struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}
	var allowed struct {
		Type    string `json:"type"`
		Allowed struct {
			Mode  string `json:"mode"`
			Tools []tool `json:"tools"`
		} `json:"allowed_tools"`
	}
	allowed.Type = "allowed_tools"
	allowed.Allowed.Mode = t.Mode
	for _, x := range t.Tools { // custom tools are functions upstream too
		allowed.Allowed.Tools = append(allowed.Allowed.Tools, tool{Type: "function", Function: fn{Name: x.Name}})
	}
	raw, err := json.Marshal(allowed)
	if err != nil {
		return nil, fmt.Errorf("%w: tool_choice: %w", llm.ErrInvalid, err)
	}
	return &openai.ToolChoice{Raw: raw}, nil
}

// messages builds a chat conversation from Responses items.
type messages struct {
	list []openai.ChatMessage
	// open is the index of the assistant message that a following function_call joins, or -1.
	open int
	// reasoning waits for the next assistant message.
	reasoning string
	// attachments are the images and files of function call outputs, waiting for the run of
	// tool messages to end.
	attachments []openai.ContentPart
	// details are the encrypted reasoning waiting for the next assistant message, when the
	// conversation feeds another conversion.
	details []openai.ReasoningDetail
	// held are system texts met between tool calls and their outputs, where chat allows no
	// other message: they follow the outputs.
	held []string
	opt  llm.Options
}

func chatMessages(r Request, opt llm.Options) []openai.ChatMessage {
	b := messages{open: -1, opt: opt}
	if r.Instructions != nil && *r.Instructions != "" {
		b.system(*r.Instructions)
	}
	if r.Input.Text != nil {
		b.add(openai.ChatMessage{Role: openai.RoleUser, Content: openai.TextContent(*r.Input.Text)})
	}
	for _, it := range r.Input.Items {
		b.item(it)
	}
	b.flush()
	for i := range b.list {
		m := &b.list[i]
		if len(m.ToolCalls) > 0 && m.Content.Text != nil && *m.Content.Text == "" {
			m.Content = openai.Content{}
		}
	}
	return b.list
}

func (b *messages) add(m openai.ChatMessage) {
	b.list = append(b.list, m)
	b.open = -1
}

// system adds a system message, joined to the previous one when that is a system message too:
// many chat templates accept one system message, at the start.
func (b *messages) system(text string) {
	if n := len(b.list); n > 0 && b.list[n-1].Role == openai.RoleSystem && b.list[n-1].Content.Text != nil {
		joined := *b.list[n-1].Content.Text + "\n\n" + text
		b.list[n-1].Content = openai.TextContent(joined)
		return
	}
	b.add(openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(text)})
}

// flush sends the waiting attachments in a user message, then the system texts held back.
func (b *messages) flush() {
	if len(b.attachments) > 0 {
		b.add(openai.ChatMessage{Role: openai.RoleUser, Content: openai.Content{Parts: b.attachments}})
		b.attachments = nil
	}
	held := b.held
	b.held = nil
	for _, text := range held {
		b.system(text)
	}
}

// inToolRun reports whether the conversation so far ends in tool calls or their outputs, where
// chat takes only more outputs.
func (b *messages) inToolRun() bool {
	n := len(b.list)
	return n > 0 && (b.list[n-1].Role == openai.RoleTool || len(b.list[n-1].ToolCalls) > 0)
}

func (b *messages) takeReasoning() string {
	r := b.reasoning
	b.reasoning = ""
	return r
}

// takeDetails returns the waiting encrypted reasoning as reasoning_details.
func (b *messages) takeDetails() json.RawMessage {
	if len(b.details) == 0 {
		return nil
	}
	raw, _ := llm.Marshal(b.details)
	b.details = nil
	return raw
}

func (b *messages) item(it Item) {
	typ := it.ItemType()
	if typ != ItemFunctionCallOutput && typ != ItemCustomToolCallOutput && typ != ItemReasoning {
		b.flush()
	}
	switch typ {
	case ItemMessage:
		switch it.Role {
		case RoleUser:
			b.add(openai.ChatMessage{Role: openai.RoleUser, Content: userContent(it.Content, b.opt)})
		case RoleSystem, RoleDeveloper:
			if b.inToolRun() {
				b.held = append(b.held, joinText(it.Content, "\n"))
				return
			}
			b.system(joinText(it.Content, "\n"))
		case RoleAssistant:
			// A refusal is what the assistant said: chat servers other than OpenAI know no
			// refusal member, and an assistant message with no content is refused by some.
			text, refusal := assistantText(it.Content)
			b.add(openai.ChatMessage{Role: openai.RoleAssistant, Content: openai.TextContent(joinNonEmpty(text, refusal, "\n")),
				ReasoningContent: b.takeReasoning(), ReasoningDetails: b.takeDetails()})
			b.open = len(b.list) - 1
		}
	case ItemFunctionCall, ItemCustomToolCall:
		name := it.Name
		if it.Namespace != "" {
			name = FlatName(it.Namespace, it.Name)
		}
		tc := openai.ToolCall{ID: it.CallID, Type: "function",
			Function: openai.FunctionCall{Name: name, Arguments: it.Arguments}}
		if typ == ItemCustomToolCall {
			tc.Function.Arguments = customArguments(it.Input)
		}
		if b.open >= 0 {
			m := &b.list[b.open]
			m.ToolCalls = append(m.ToolCalls, tc)
			if r := b.takeReasoning(); r != "" {
				m.ReasoningContent = joinNonEmpty(m.ReasoningContent, r, "\n\n")
			}
			if d := b.takeDetails(); d != nil && m.ReasoningDetails == nil {
				m.ReasoningDetails = d
			}
			return
		}
		b.add(openai.ChatMessage{Role: openai.RoleAssistant, ToolCalls: []openai.ToolCall{tc},
			ReasoningContent: b.takeReasoning(), ReasoningDetails: b.takeDetails()})
		b.open = len(b.list) - 1
	case ItemFunctionCallOutput, ItemCustomToolCallOutput:
		text, attachments := toolOutput(it.Output, b.opt)
		b.add(openai.ChatMessage{Role: openai.RoleTool, ToolCallID: it.CallID, Content: openai.TextContent(text)})
		b.attachments = append(b.attachments, attachments...)
	case ItemReasoning:
		b.reasoning = joinNonEmpty(b.reasoning, joinText(it.Content, "\n"), "\n\n")
		if it.EncryptedContent != nil && *it.EncryptedContent != "" {
			d, ok := DecodeReasoning(*it.EncryptedContent)
			if ok && b.opt.Intermediate {
				b.details = append(b.details, d...)
			} else {
				b.opt.Drop("reasoning.encrypted_content")
			}
		}
	default:
		b.opt.Drop(typ)
	}
}

func joinNonEmpty(a, b, sep string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + sep + b
}

// joinText returns the text of a content: the string, or its text parts joined by sep.
func joinText(c Content, sep string) string {
	if c.Text != nil {
		return *c.Text
	}
	var texts []string
	for _, p := range c.Parts {
		switch p.Type {
		case PartInputText, PartOutputText, PartReasoningText, PartSummaryText, "text":
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, sep)
}

// assistantText returns the text and the refusal of an assistant message's content.
func assistantText(c Content) (text, refusal string) {
	if c.Text != nil {
		return *c.Text, ""
	}
	var t, r strings.Builder
	for _, p := range c.Parts {
		switch p.Type {
		case PartRefusal:
			r.WriteString(p.Refusal)
		default:
			t.WriteString(p.Text)
		}
	}
	return t.String(), r.String()
}

// userContent converts a user message's content: a string when it is one text, else parts.
// Parts chat has no counterpart for are left out and named.
func userContent(c Content, opt llm.Options) openai.Content {
	if c.Text != nil {
		return openai.TextContent(*c.Text)
	}
	if len(c.Parts) == 1 && (c.Parts[0].Type == PartInputText || c.Parts[0].Type == PartOutputText) {
		return openai.TextContent(c.Parts[0].Text)
	}
	parts := make([]openai.ContentPart, 0, len(c.Parts))
	for _, p := range c.Parts {
		if cp, ok := chatPart(p); ok {
			parts = append(parts, cp)
		} else {
			opt.Drop(p.Type)
		}
	}
	return openai.Content{Parts: parts}
}

// chatPart converts one input part.
func chatPart(p Part) (openai.ContentPart, bool) {
	switch p.Type {
	case PartInputText, PartOutputText:
		return openai.ContentPart{Type: openai.PartText, Text: p.Text}, true
	case PartInputImage:
		detail := p.Detail
		if detail == "auto" {
			detail = ""
		}
		return openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: p.ImageURL, Detail: detail}}, true
	case PartInputFile:
		return openai.ContentPart{Type: openai.PartFile, File: &openai.File{
			FileData: p.FileData, FileID: p.FileID, Filename: p.Filename}}, true
	}
	return openai.ContentPart{}, false
}

// toolOutput splits a function call's output into the text of the tool message and the
// images and files that must follow in a user message. Parts of other types give their text.
func toolOutput(c Content, opt llm.Options) (string, []openai.ContentPart) {
	if c.Text != nil {
		return *c.Text, nil
	}
	var texts []string
	var attachments []openai.ContentPart
	for _, p := range c.Parts {
		switch p.Type {
		case PartInputImage, PartInputFile:
			if cp, ok := chatPart(p); ok {
				attachments = append(attachments, cp)
			}
		case PartInputText, PartOutputText, "text":
			texts = append(texts, p.Text)
		default:
			opt.Drop(p.Type)
		}
	}
	text := strings.Join(texts, "\n")
	if text == "" && len(attachments) > 0 {
		text = attachedOutput
	}
	return text, attachments
}

// ChatToResponsesResponse converts a complete chat completion into the Responses object that
// answers req, the client's Responses request: its model, instructions and settings are
// echoed. Usage is the upstream's. A body that is not a chat completion with a choice is
// refused with an error wrapping llm.ErrInvalid.
func ChatToResponsesResponse(req, body []byte) ([]byte, llm.Usage, error) {
	return chatToResponse(req, body, ids{})
}

func chatToResponse(req, body []byte, g ids) ([]byte, llm.Usage, error) {
	var cr openai.ChatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: the upstream's chat completion: %w", llm.ErrInvalid, err)
	}
	if len(cr.Choices) == 0 {
		if msg := gjson.GetBytes(body, "error.message"); msg.Exists() {
			return nil, llm.Usage{}, fmt.Errorf("%w: the upstream answered with an error: %s", llm.ErrInvalid, msg.String())
		}
		return nil, llm.Usage{}, fmt.Errorf("%w: the upstream's chat completion has no choices", llm.ErrInvalid)
	}
	choice := cr.Choices[0]
	for _, c := range cr.Choices {
		if c.Index == 0 {
			choice = c
			break
		}
	}
	e := echoOf(req)
	resp := e.response(g.make(prefixResponse), g.unix(cr.Created), cr.Model)
	msg := choice.Message
	details := carried(msg.ReasoningDetails)
	if r := reasoningOf(msg.ReasoningContent, msg.Reasoning); r != "" || len(details) > 0 {
		it := OutputItem{ID: g.make(prefixReasoning), Type: OutputReasoning, Summary: []OutputPart{}}
		if r != "" {
			it.Content = []OutputPart{{Type: PartReasoningText, Text: r}}
		}
		if e.encrypted && len(details) > 0 {
			it.EncryptedContent = EncodeReasoning(details)
		}
		resp.Output = append(resp.Output, it)
	}
	text := msg.Content.String()
	refusal := ""
	if msg.Refusal != nil {
		refusal = *msg.Refusal
	}
	if text != "" || refusal != "" {
		m := OutputItem{ID: g.make(prefixMessage), Type: OutputMessage, Status: StatusCompleted, Role: RoleAssistant}
		if text != "" {
			m.Content = append(m.Content, OutputPart{Type: PartOutputText, Text: text, Annotations: annotations(msg.Annotations)})
		}
		if refusal != "" {
			m.Content = append(m.Content, OutputPart{Type: PartRefusal, Refusal: refusal})
		}
		resp.Output = append(resp.Output, m)
	}
	for _, tc := range msg.ToolCalls {
		callID := tc.ID
		if callID == "" {
			callID = g.make(prefixCall)
		}
		if ns, ok := e.namespaced[tc.Function.Name]; ok {
			resp.Output = append(resp.Output, OutputItem{ID: g.make(prefixFunction), Type: OutputFunctionCall,
				Status: StatusCompleted, Arguments: tc.Function.Arguments, CallID: callID, Name: ns.name, Namespace: ns.namespace})
			continue
		}
		if e.custom[tc.Function.Name] {
			resp.Output = append(resp.Output, OutputItem{ID: g.make(prefixCustom), Type: OutputCustomToolCall,
				Status: StatusCompleted, CallID: callID, Input: customInput(tc.Function.Arguments), Name: tc.Function.Name})
			continue
		}
		resp.Output = append(resp.Output, OutputItem{ID: g.make(prefixFunction), Type: OutputFunctionCall,
			Status: StatusCompleted, Arguments: tc.Function.Arguments, CallID: callID, Name: tc.Function.Name})
	}
	resp.finish(choice.FinishReason)
	if resp.Status == StatusIncomplete && len(resp.Output) > 0 {
		last := &resp.Output[len(resp.Output)-1]
		if last.Type != OutputReasoning {
			last.Status = StatusIncomplete
		}
	}
	var usage llm.Usage
	if cr.Usage != nil {
		u := usageFromChat(*cr.Usage)
		resp.Usage = &u
		usage = cr.Usage.LLM()
	}
	if cr.ServiceTier != "" {
		resp.ServiceTier = cr.ServiceTier
	}
	b, err := llm.Marshal(resp)
	if err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, usage, nil
}

// reasoningOf picks the reasoning text of a message or delta: reasoning_content (DeepSeek,
// vLLM, llama.cpp) or reasoning (OpenRouter, Ollama).
func reasoningOf(content, reasoning string) string {
	if content != "" {
		return content
	}
	return reasoning
}

// annotations converts chat url_citation annotations to the Responses form; other kinds have
// no Responses counterpart and are left out.
func annotations(raw json.RawMessage) []json.RawMessage {
	if len(raw) == 0 || !gjson.ValidBytes(raw) {
		return nil
	}
	var out []json.RawMessage
	gjson.ParseBytes(raw).ForEach(func(_, a gjson.Result) bool {
		if a.Get("type").String() != "url_citation" {
			return true
		}
		c := a.Get("url_citation")
		b, err := llm.Marshal(struct {
			Type       string `json:"type"`
			EndIndex   int64  `json:"end_index"`
			StartIndex int64  `json:"start_index"`
			Title      string `json:"title"`
			URL        string `json:"url"`
		}{"url_citation", c.Get("end_index").Int(), c.Get("start_index").Int(), c.Get("title").String(), c.Get("url").String()})
		if err == nil {
			out = append(out, b)
		}
		return true
	})
	return out
}
