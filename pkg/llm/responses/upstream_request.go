package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// This file and upstream_response.go and upstream_stream.go convert the other way from chat.go
// and chat_stream.go: a Chat Completions client (or Claude Code, through Anthropic → Chat) is
// served by a Responses upstream, such as api.openai.com/v1/responses for the models that
// exist only there.

// minOutputTokens is the least max_output_tokens the Responses API accepts.
const minOutputTokens = 16

// includeEncryptedReasoning asks a Responses upstream that stores nothing to send the
// reasoning it did, encrypted, so the next turn can hand it back.
const includeEncryptedReasoning = "reasoning.encrypted_content"

// reasoningFormat is the format OpenRouter names the reasoning_details of OpenAI's Responses
// models with; encrypted reasoning in another format is another provider's and is not sent.
const reasoningFormat = "openai-responses-v1"

// upstreamRequest is the Responses request sent upstream. Input holds one of the item types
// below for each item, so each is written with the members of its type only.
type upstreamRequest struct {
	Model             string            `json:"model"`
	Input             []any             `json:"input"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolChoice        *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens   *int64            `json:"max_output_tokens,omitempty"`
	Temperature       *float64          `json:"temperature,omitempty"`
	TopP              *float64          `json:"top_p,omitempty"`
	Reasoning         *Reasoning        `json:"reasoning,omitempty"`
	Text              *Text             `json:"text,omitempty"`
	Include           []string          `json:"include,omitempty"`
	Stream            bool              `json:"stream,omitempty"`
	Store             bool              `json:"store"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	User              string            `json:"user,omitempty"`
	SafetyIdentifier  string            `json:"safety_identifier,omitempty"`
	PromptCacheKey    string            `json:"prompt_cache_key,omitempty"`
	ServiceTier       string            `json:"service_tier,omitempty"`
}

// upMessage is a message item. Content is a string or a list of upPart.
type upMessage struct {
	Type    string `json:"type"`
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// upPart is one content part of a message item.
type upPart struct {
	Type       string             `json:"type"`
	Text       *string            `json:"text,omitempty"`
	Refusal    *string            `json:"refusal,omitempty"`
	ImageURL   string             `json:"image_url,omitempty"`
	Detail     string             `json:"detail,omitempty"`
	FileID     string             `json:"file_id,omitempty"`
	FileData   string             `json:"file_data,omitempty"`
	Filename   string             `json:"filename,omitempty"`
	InputAudio *openai.InputAudio `json:"input_audio,omitempty"`
}

type upFunctionCall struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type upFunctionCallOutput struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Output string `json:"output"`
}

// upReasoning is a reasoning item handed back: its id is left out, since a store:false
// upstream knows no item by id; the encrypted content is what it reads.
type upReasoning struct {
	Type             string       `json:"type"`
	Summary          []upTextPart `json:"summary"`
	EncryptedContent string       `json:"encrypted_content"`
}

type upTextPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ChatToResponsesRequest converts a Chat Completions request into a Responses request for a
// Responses upstream, naming opt.Model when set. A body that is not a chat request is refused
// with an error wrapping llm.ErrInvalid.
//
// Messages become input items in their order. System and developer messages stay messages of
// their role where they are, rather than becoming instructions, so one in the middle of a
// conversation keeps its place. User content parts become input_text, input_image, input_file
// and input_audio parts; an assistant message becomes a message of output_text (and refusal)
// parts followed by a function_call item per tool call; a tool message becomes a
// function_call_output. An assistant message's reasoning_details of OpenAI's encrypted
// reasoning (OpenRouter's shape) become a reasoning item before it, and the upstream is asked
// for encrypted reasoning back; reasoning_content and other reasoning cannot be handed to
// OpenAI and are dropped.
//
// Function tools keep their chat strictness (strict:false unless the client asked, where
// Responses would default to strict); max_completion_tokens (or max_tokens) becomes
// max_output_tokens, raised to the 16 the API requires at least; reasoning_effort becomes
// reasoning.effort; response_format and verbosity become text. store is always false: lynkr
// keeps no state, so the upstream is asked for its reasoning encrypted (include) when the
// model is one of OpenAI's reasoning models (o1, o3, o4, gpt-5, codex) or reasoning_effort is
// set, unless it is "none". Those models refuse temperature and top_p, which are dropped for
// them. stream_options is not sent: a Responses stream always reports its usage.
//
// What Responses lacks is left out and noted with opt.Drop under its chat member name: n
// (above 1), seed, logit_bias, presence_penalty, frequency_penalty, stop, logprobs,
// top_logprobs, modalities (other than text), store (when true), temperature and top_p (for
// reasoning models), a message's name, reasoning_content, reasoning and reasoning_details
// (when not OpenAI's), audio, messages of role "function" ("role.function"), content parts a
// role cannot carry (by their type), custom tools ("tools.custom", their calls
// "tool_calls.custom" with their outputs, "tool_choice.custom"), and every member chat does
// not define (prediction, web_search_options, functions, …).
func ChatToResponsesRequest(body []byte, opt llm.Options) ([]byte, error) {
	var r openai.ChatRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: chat request: %w", llm.ErrInvalid, err)
	}
	out := upstreamRequest{
		Model:             r.Model,
		Temperature:       r.Temperature,
		TopP:              r.TopP,
		Stream:            r.Stream,
		Metadata:          r.Metadata,
		User:              r.User,
		SafetyIdentifier:  r.SafetyIdentifier,
		PromptCacheKey:    r.PromptCacheKey,
		ServiceTier:       r.ServiceTier,
		ParallelToolCalls: r.ParallelToolCalls,
	}
	if opt.Model != "" {
		out.Model = opt.Model
	}
	dropUnsupported(r, opt)
	reasoning := llm.IsReasoningModel(out.Model)
	if reasoning && out.Temperature != nil {
		out.Temperature = nil
		opt.Drop("temperature")
	}
	if reasoning && out.TopP != nil {
		out.TopP = nil
		opt.Drop("top_p")
	}

	custom := map[string]bool{} // the names of the custom tools, left out
	for _, t := range r.Tools {
		if t.Type != "function" || t.Function == nil {
			custom[customToolName(t)] = true
			opt.Drop(t.Type)
			continue
		}
		f := t.Function
		params := f.Parameters
		if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		strict := f.Strict
		if strict == nil {
			no := false
			strict = &no
		}
		out.Tools = append(out.Tools, Tool{Type: "function", Name: f.Name, Description: f.Description,
			Parameters: params, Strict: strict})
	}
	if len(out.Tools) == 0 {
		out.ParallelToolCalls = nil
	}
	if r.ToolChoice != nil {
		out.ToolChoice = upstreamToolChoice(*r.ToolChoice, custom, opt)
	}

	switch {
	case r.MaxCompletionTokens != nil:
		out.MaxOutputTokens = atLeast(*r.MaxCompletionTokens, minOutputTokens)
	case r.MaxTokens != nil:
		out.MaxOutputTokens = atLeast(*r.MaxTokens, minOutputTokens)
	}
	if r.ReasoningEffort != "" {
		out.Reasoning = &Reasoning{Effort: r.ReasoningEffort}
	}
	if f := r.ResponseFormat; f != nil && f.Type != "" && f.Type != "text" {
		out.Text = &Text{Format: &TextFormat{Type: f.Type}}
		if s := f.JSONSchema; f.Type == "json_schema" && s != nil {
			out.Text.Format.Name = s.Name
			out.Text.Format.Description = s.Description
			out.Text.Format.Schema = s.Schema
			out.Text.Format.Strict = s.Strict
		}
	}
	if r.Verbosity != "" {
		if out.Text == nil {
			out.Text = &Text{}
		}
		out.Text.Verbosity = r.Verbosity
	}

	c := inputConverter{opt: opt, custom: custom, skipped: map[string]bool{}}
	out.Input = c.items(r.Messages)
	if c.encrypted || (reasoning || r.ReasoningEffort != "") && r.ReasoningEffort != "none" {
		out.Include = []string{includeEncryptedReasoning}
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, nil
}

// dropUnsupported notes the members of r that Responses has no place for.
func dropUnsupported(r openai.ChatRequest, opt llm.Options) {
	if r.N != nil && *r.N > 1 {
		opt.Drop("n")
	}
	if r.Seed != nil {
		opt.Drop("seed")
	}
	if lb := bytes.TrimSpace(r.LogitBias); len(lb) > 0 && string(lb) != "null" && string(lb) != "{}" {
		opt.Drop("logit_bias")
	}
	if r.PresencePenalty != nil && *r.PresencePenalty != 0 {
		opt.Drop("presence_penalty")
	}
	if r.FrequencyPenalty != nil && *r.FrequencyPenalty != 0 {
		opt.Drop("frequency_penalty")
	}
	if len(r.Stop) > 0 {
		opt.Drop("stop")
	}
	if r.Logprobs != nil && *r.Logprobs {
		opt.Drop("logprobs")
	}
	if r.TopLogprobs != nil && *r.TopLogprobs > 0 {
		opt.Drop("top_logprobs")
	}
	if slices.ContainsFunc(r.Modalities, func(m string) bool { return m != "text" }) {
		opt.Drop("modalities")
	}
	if r.Store != nil && *r.Store {
		opt.Drop("store")
	}
	extra := make([]string, 0, len(r.Extra))
	for k, v := range r.Extra {
		if string(bytes.TrimSpace(v)) != "null" {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		opt.Drop(k)
	}
}

func atLeast(n, min int64) *int64 {
	if n < min {
		n = min
	}
	return &n
}

// customToolName is the name of a chat custom tool, {"type":"custom","custom":{"name":…}}.
func customToolName(t openai.Tool) string {
	return gjson.GetBytes(t.Custom, "name").String()
}

// upstreamToolChoice converts a chat tool_choice. A choice of a custom tool, which is left
// out, leaves the choice out too.
func upstreamToolChoice(tc openai.ToolChoice, custom map[string]bool, opt llm.Options) *ToolChoice {
	if len(tc.Raw) == 0 {
		if tc.Mode == "" {
			return nil
		}
		return &ToolChoice{Mode: tc.Mode}
	}
	v := gjson.ParseBytes(tc.Raw)
	switch v.Get("type").String() {
	case "function":
		if name := v.Get("function.name").String(); name != "" {
			return &ToolChoice{Type: "function", Name: name}
		}
	case "allowed_tools":
		a := v.Get("allowed_tools")
		out := &ToolChoice{Type: "allowed_tools", Mode: a.Get("mode").String(), Tools: []Tool{}}
		if out.Mode == "" {
			out.Mode = openai.ToolChoiceAuto
		}
		for _, t := range a.Get("tools").Array() {
			if t.Get("type").String() != "function" {
				opt.Drop("tool_choice.custom")
				continue
			}
			out.Tools = append(out.Tools, Tool{Type: "function", Name: t.Get("function.name").String()})
		}
		return out
	case "custom":
		opt.Drop("tool_choice.custom")
		return nil
	}
	opt.Drop("tool_choice")
	return nil
}

// inputConverter turns chat messages into input items.
type inputConverter struct {
	opt       llm.Options
	custom    map[string]bool // custom tools, left out
	skipped   map[string]bool // the ids of the calls left out, whose outputs go too
	encrypted bool            // encrypted reasoning was handed back
	out       []any
}

func (c *inputConverter) items(msgs []openai.ChatMessage) []any {
	c.out = []any{}
	for _, m := range msgs {
		c.message(m)
	}
	return c.out
}

func (c *inputConverter) message(m openai.ChatMessage) {
	if m.Name != "" {
		c.opt.Drop("name")
	}
	for k := range m.Extra {
		c.opt.Drop(k)
	}
	switch m.Role {
	case openai.RoleSystem, openai.RoleDeveloper:
		c.out = append(c.out, upMessage{Type: ItemMessage, Role: m.Role, Content: c.textContent(m.Content, PartInputText)})
	case openai.RoleUser:
		c.out = append(c.out, upMessage{Type: ItemMessage, Role: RoleUser, Content: c.userContent(m.Content)})
	case openai.RoleAssistant:
		c.assistant(m)
	case openai.RoleTool:
		if c.skipped[m.ToolCallID] {
			return
		}
		for _, p := range m.Content.Parts {
			if p.Type != openai.PartText {
				c.opt.Drop(p.Type)
			}
		}
		c.out = append(c.out, upFunctionCallOutput{Type: ItemFunctionCallOutput, CallID: m.ToolCallID, Output: m.Content.String()})
	default: // "function", the deprecated functions API, and roles chat does not know
		c.opt.Drop("role." + m.Role)
	}
}

// textContent converts system and developer content: the string, or its text parts as typ.
func (c *inputConverter) textContent(content openai.Content, typ string) any {
	if content.Parts == nil {
		return content.String()
	}
	parts := []upPart{}
	for _, p := range content.Parts {
		if p.Type != openai.PartText {
			c.opt.Drop(p.Type)
			continue
		}
		parts = append(parts, upPart{Type: typ, Text: &p.Text})
	}
	return parts
}

func (c *inputConverter) userContent(content openai.Content) any {
	if content.Parts == nil {
		return content.String()
	}
	parts := []upPart{}
	for _, p := range content.Parts {
		switch p.Type {
		case openai.PartText:
			parts = append(parts, upPart{Type: PartInputText, Text: &p.Text})
		case openai.PartImageURL:
			if p.ImageURL == nil {
				continue
			}
			detail := p.ImageURL.Detail
			if detail == "" {
				detail = "auto"
			}
			parts = append(parts, upPart{Type: PartInputImage, ImageURL: p.ImageURL.URL, Detail: detail})
		case openai.PartFile:
			if p.File == nil {
				continue
			}
			parts = append(parts, upPart{Type: PartInputFile, FileID: p.File.FileID, FileData: p.File.FileData, Filename: p.File.Filename})
		case openai.PartInputAudio:
			if p.InputAudio == nil {
				continue
			}
			parts = append(parts, upPart{Type: "input_audio", InputAudio: p.InputAudio})
		default:
			c.opt.Drop(p.Type)
		}
	}
	return parts
}

func (c *inputConverter) assistant(m openai.ChatMessage) {
	handed := c.reasoning(m.ReasoningDetails)
	if m.ReasoningContent != "" && !handed {
		c.opt.Drop("reasoning_content")
	}
	if m.Reasoning != "" && !handed {
		c.opt.Drop("reasoning")
	}
	if len(bytes.TrimSpace(m.Audio)) > 0 && string(m.Audio) != "null" {
		c.opt.Drop("audio")
	}
	var parts []upPart
	if m.Content.Parts != nil {
		for _, p := range m.Content.Parts {
			switch p.Type {
			case openai.PartText:
				parts = append(parts, upPart{Type: PartOutputText, Text: &p.Text})
			case openai.PartRefusal:
				parts = append(parts, upPart{Type: PartRefusal, Refusal: &p.Refusal})
			default:
				c.opt.Drop(p.Type)
			}
		}
	} else if m.Content.Text != nil && *m.Content.Text != "" {
		parts = append(parts, upPart{Type: PartOutputText, Text: m.Content.Text})
	}
	if m.Refusal != nil && *m.Refusal != "" {
		parts = append(parts, upPart{Type: PartRefusal, Refusal: m.Refusal})
	}
	if len(parts) > 0 || len(m.ToolCalls) == 0 {
		if parts == nil {
			empty := ""
			parts = []upPart{{Type: PartOutputText, Text: &empty}}
		}
		c.out = append(c.out, upMessage{Type: ItemMessage, Role: RoleAssistant, Content: parts})
	}
	for _, tc := range m.ToolCalls {
		if tc.Type == "custom" {
			c.skipped[tc.ID] = true
			c.opt.Drop("tool_calls.custom")
			continue
		}
		args := tc.Function.Arguments
		if strings.TrimSpace(args) == "" {
			args = "{}"
		}
		c.out = append(c.out, upFunctionCall{Type: ItemFunctionCall, CallID: tc.ID, Name: tc.Function.Name, Arguments: args})
	}
}

// reasoning hands back an assistant message's reasoning_details, OpenRouter's list of
// reasoning pieces, when they hold OpenAI's encrypted reasoning: each encrypted piece becomes
// a reasoning item, with the summaries of the same id as its summary. It reports whether any
// was handed back; details of another kind or provider are dropped.
func (c *inputConverter) reasoning(details json.RawMessage) bool {
	if len(details) == 0 || !gjson.ValidBytes(details) {
		return false
	}
	v := gjson.ParseBytes(details)
	if !v.IsArray() {
		return false
	}
	type encrypted struct{ id, data string }
	summaries := map[string][]upTextPart{}
	var items []encrypted
	other := false
	for _, d := range v.Array() {
		id := d.Get("id").String()
		switch d.Get("type").String() {
		case openai.DetailSummary:
			summaries[id] = append(summaries[id], upTextPart{Type: PartSummaryText, Text: d.Get("summary").String()})
		case openai.DetailEncrypted:
			f := d.Get("format").String()
			data := d.Get("data").String()
			if data == "" || (f != "" && !strings.HasPrefix(f, "openai-responses")) {
				other = true
				continue
			}
			items = append(items, encrypted{id, data})
		default:
			other = true
		}
	}
	for _, it := range items {
		summary := summaries[it.id]
		if summary == nil {
			summary = []upTextPart{}
		}
		c.out = append(c.out, upReasoning{Type: ItemReasoning, Summary: summary, EncryptedContent: it.data})
	}
	if other {
		c.opt.Drop("reasoning_details")
	}
	if len(items) > 0 {
		c.encrypted = true
	}
	return len(items) > 0
}
