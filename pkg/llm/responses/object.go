package responses

import (
	"encoding/json"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// Response statuses.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusIncomplete = "incomplete"
	StatusFailed     = "failed"
)

// Reasons a response is incomplete.
const (
	ReasonMaxOutputTokens = "max_output_tokens"
	ReasonContentFilter   = "content_filter"
)

// Response is the response object: the body of a non-streamed answer, and the response in
// the response.created, response.in_progress, response.completed, response.incomplete and
// response.failed events. Its members are the ones the real API sends, in its order; the
// request's settings are echoed back.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"` // "response"
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Background         bool               `json:"background"`
	Error              *ResponseError     `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int64             `json:"max_output_tokens"`
	MaxToolCalls       *int64             `json:"max_tool_calls"`
	Model              string             `json:"model"`
	Output             []OutputItem       `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	PromptCacheKey     *string            `json:"prompt_cache_key"`
	Reasoning          json.RawMessage    `json:"reasoning"`
	SafetyIdentifier   *string            `json:"safety_identifier"`
	ServiceTier        string             `json:"service_tier"`
	Store              bool               `json:"store"`
	Temperature        float64            `json:"temperature"`
	Text               json.RawMessage    `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              json.RawMessage    `json:"tools"`
	TopLogprobs        int64              `json:"top_logprobs"`
	TopP               float64            `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *Usage             `json:"usage"`
	User               *string            `json:"user"`
	Metadata           json.RawMessage    `json:"metadata"`
}

// ResponseError is why a response failed.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails is why a response is incomplete.
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// Usage is a response's token usage. InputTokens includes the cached tokens.
type Usage struct {
	InputTokens         int64               `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int64               `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int64               `json:"total_tokens"`
}

// InputTokensDetails breaks down the input tokens.
type InputTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// OutputTokensDetails breaks down the output tokens.
type OutputTokensDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// usageFromChat converts a chat completion's usage. Chat and Responses both count the cached
// tokens inside the prompt (input) tokens.
func usageFromChat(u openai.Usage) Usage {
	l := u.LLM()
	out := Usage{
		InputTokens:        u.PromptTokens,
		InputTokensDetails: InputTokensDetails{CachedTokens: l.CacheReadTokens},
		OutputTokens:       u.CompletionTokens,
		TotalTokens:        u.TotalTokens,
	}
	if u.CompletionTokensDetails != nil {
		out.OutputTokensDetails.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.InputTokens + out.OutputTokens
	}
	return out
}

// LLM returns u in llm's units.
func (u Usage) LLM() llm.Usage {
	return llm.Usage{
		InputTokens:     u.InputTokens,
		OutputTokens:    u.OutputTokens,
		CacheReadTokens: u.InputTokensDetails.CachedTokens,
	}
}

// Output item types.
const (
	OutputMessage        = "message"
	OutputFunctionCall   = "function_call"
	OutputCustomToolCall = "custom_tool_call"
	OutputReasoning      = "reasoning"
)

// OutputItem is one item of a response's output: a message (Role, Content), a function call
// (CallID, Name, Arguments), a custom tool call (CallID, Name, Input) or a reasoning item
// (Summary, Content of reasoning_text parts). It is written with the members of its type only.
type OutputItem struct {
	ID        string
	Type      string
	Status    string
	Role      string
	Content   []OutputPart
	CallID    string
	Name      string
	Namespace string // of a call to a tool of a namespace
	Arguments string
	Input     string
	Summary   []OutputPart
	// EncryptedContent is a reasoning item's, when the request included it.
	EncryptedContent string
}

type outputMessage struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Content []OutputPart `json:"content"`
	Role    string       `json:"role"`
}

type outputFunctionCall struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type outputCustomToolCall struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`
	CallID string `json:"call_id"`
	Input  string `json:"input"`
	Name   string `json:"name"`
}

type outputReasoning struct {
	ID               string       `json:"id"`
	Type             string       `json:"type"`
	Status           string       `json:"status,omitempty"`
	Summary          []OutputPart `json:"summary"`
	Content          []OutputPart `json:"content,omitempty"`
	EncryptedContent string       `json:"encrypted_content,omitempty"`
}

// MarshalJSON writes the members of the item's type.
func (it OutputItem) MarshalJSON() ([]byte, error) {
	switch it.Type {
	case OutputFunctionCall:
		return llm.Marshal(outputFunctionCall{ID: it.ID, Type: it.Type, Status: it.Status,
			Arguments: it.Arguments, CallID: it.CallID, Name: it.Name, Namespace: it.Namespace})
	case OutputCustomToolCall:
		return llm.Marshal(outputCustomToolCall{ID: it.ID, Type: it.Type, Status: it.Status,
			CallID: it.CallID, Input: it.Input, Name: it.Name})
	case OutputReasoning:
		return llm.Marshal(outputReasoning{ID: it.ID, Type: it.Type, Status: it.Status,
			Summary: nonNil(it.Summary), Content: it.Content, EncryptedContent: it.EncryptedContent})
	default:
		return llm.Marshal(outputMessage{ID: it.ID, Type: it.Type, Status: it.Status,
			Content: nonNil(it.Content), Role: it.Role})
	}
}

// OutputPart is one content part of an output item: output_text (Text, with no annotations
// or logprobs), refusal (Refusal), or a reasoning item's reasoning_text or summary_text (Text).
type OutputPart struct {
	Type        string
	Text        string
	Refusal     string
	Annotations []json.RawMessage
}

type outputText struct {
	Type        string            `json:"type"`
	Annotations []json.RawMessage `json:"annotations"`
	Logprobs    []json.RawMessage `json:"logprobs"`
	Text        string            `json:"text"`
}

type outputRefusal struct {
	Type    string `json:"type"`
	Refusal string `json:"refusal"`
}

type outputPlainText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// MarshalJSON writes the members of the part's type.
func (p OutputPart) MarshalJSON() ([]byte, error) {
	switch p.Type {
	case PartOutputText:
		return llm.Marshal(outputText{Type: p.Type, Annotations: nonNil(p.Annotations),
			Logprobs: []json.RawMessage{}, Text: p.Text})
	case PartRefusal:
		return llm.Marshal(outputRefusal{Type: p.Type, Refusal: p.Refusal})
	default:
		return llm.Marshal(outputPlainText{Type: p.Type, Text: p.Text})
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// echo is what a response repeats of its request, read leniently: a request that is not
// valid JSON echoes the defaults.
type echo struct {
	model             string
	instructions      json.RawMessage
	maxOutputTokens   *int64
	maxToolCalls      *int64
	parallelToolCalls bool
	promptCacheKey    *string
	reasoning         json.RawMessage
	safetyIdentifier  *string
	serviceTier       string
	temperature       float64
	text              json.RawMessage
	toolChoice        json.RawMessage
	tools             json.RawMessage
	topLogprobs       int64
	topP              float64
	truncation        string
	user              *string
	metadata          json.RawMessage
	custom            map[string]bool // the names of the custom tools
	namespaced        map[string]namespaced
	encrypted         bool // include asks for reasoning.encrypted_content
}

// echoOf reads the settings of the client's request req.
func echoOf(req []byte) echo {
	e := echo{
		instructions:      json.RawMessage("null"),
		parallelToolCalls: true,
		reasoning:         json.RawMessage(`{"effort":null,"summary":null}`),
		serviceTier:       "default",
		temperature:       1,
		text:              json.RawMessage(`{"format":{"type":"text"},"verbosity":"medium"}`),
		toolChoice:        json.RawMessage(`"auto"`),
		tools:             json.RawMessage("[]"),
		topP:              1,
		truncation:        "disabled",
		metadata:          json.RawMessage("{}"),
	}
	if !gjson.ValidBytes(req) {
		return e
	}
	r := gjson.ParseBytes(req)
	if !r.IsObject() {
		return e
	}
	if v := r.Get("model"); v.Type == gjson.String {
		e.model = v.String()
	}
	if v := r.Get("instructions"); v.Type == gjson.String {
		e.instructions = json.RawMessage(v.Raw)
	}
	e.maxOutputTokens = intOf(r.Get("max_output_tokens"))
	e.maxToolCalls = intOf(r.Get("max_tool_calls"))
	if v := r.Get("parallel_tool_calls"); v.IsBool() {
		e.parallelToolCalls = v.Bool()
	}
	e.promptCacheKey = stringOf(r.Get("prompt_cache_key"))
	if v := r.Get("reasoning"); v.IsObject() {
		effort, summary := v.Get("effort"), v.Get("summary")
		b, _ := llm.Marshal(struct {
			Effort  *string `json:"effort"`
			Summary *string `json:"summary"`
		}{stringOf(effort), stringOf(summary)})
		e.reasoning = b
	}
	e.safetyIdentifier = stringOf(r.Get("safety_identifier"))
	if v := r.Get("temperature"); v.Type == gjson.Number {
		e.temperature = v.Float()
	}
	if v := r.Get("text"); v.IsObject() {
		t := map[string]json.RawMessage{"format": json.RawMessage(`{"type":"text"}`), "verbosity": json.RawMessage(`"medium"`)}
		if f := v.Get("format"); f.IsObject() {
			t["format"] = json.RawMessage(f.Raw)
		}
		if vb := v.Get("verbosity"); vb.Type == gjson.String {
			t["verbosity"] = json.RawMessage(vb.Raw)
		}
		e.text, _ = llm.Marshal(t)
	}
	if v := r.Get("tool_choice"); v.Type == gjson.String || v.IsObject() {
		e.toolChoice = json.RawMessage(v.Raw)
	}
	if v := r.Get("tools"); v.IsArray() {
		e.tools = json.RawMessage(v.Raw)
		for _, t := range v.Array() {
			switch t.Get("type").String() {
			case ToolCustom:
				if e.custom == nil {
					e.custom = make(map[string]bool)
				}
				e.custom[t.Get("name").String()] = true
			case ToolNamespace:
				if e.namespaced == nil {
					e.namespaced = make(map[string]namespaced)
				}
				ns := t.Get("name").String()
				for _, inner := range t.Get("tools").Array() {
					name := inner.Get("name").String()
					e.namespaced[FlatName(ns, name)] = namespaced{namespace: ns, name: name}
				}
			}
		}
	}
	if v := intOf(r.Get("top_logprobs")); v != nil {
		e.topLogprobs = *v
	}
	if v := r.Get("top_p"); v.Type == gjson.Number {
		e.topP = v.Float()
	}
	if v := r.Get("truncation"); v.Type == gjson.String {
		e.truncation = v.String()
	}
	e.user = stringOf(r.Get("user"))
	for _, inc := range r.Get("include").Array() {
		e.encrypted = e.encrypted || inc.Str == "reasoning.encrypted_content"
	}
	if v := r.Get("metadata"); v.IsObject() {
		e.metadata = json.RawMessage(v.Raw)
	}
	return e
}

// response returns the response object of the request, with no output yet.
func (e echo) response(id string, createdAt int64, model string) Response {
	if e.model != "" {
		model = e.model
	}
	return Response{
		ID:                id,
		Object:            "response",
		CreatedAt:         createdAt,
		Status:            StatusInProgress,
		Instructions:      e.instructions,
		MaxOutputTokens:   e.maxOutputTokens,
		MaxToolCalls:      e.maxToolCalls,
		Model:             model,
		Output:            []OutputItem{},
		ParallelToolCalls: e.parallelToolCalls,
		PromptCacheKey:    e.promptCacheKey,
		Reasoning:         e.reasoning,
		SafetyIdentifier:  e.safetyIdentifier,
		ServiceTier:       e.serviceTier,
		Temperature:       e.temperature,
		Text:              e.text,
		ToolChoice:        e.toolChoice,
		Tools:             e.tools,
		TopLogprobs:       e.topLogprobs,
		TopP:              e.topP,
		Truncation:        e.truncation,
		User:              e.user,
		Metadata:          e.metadata,
	}
}

// finish sets the response's final status from the chat finish reason.
func (r *Response) finish(finishReason string) {
	r.Status = StatusCompleted
	switch finishReason {
	case openai.FinishLength:
		r.Status = StatusIncomplete
		r.IncompleteDetails = &IncompleteDetails{Reason: ReasonMaxOutputTokens}
	case openai.FinishContentFilter:
		r.Status = StatusIncomplete
		r.IncompleteDetails = &IncompleteDetails{Reason: ReasonContentFilter}
	}
}

func intOf(v gjson.Result) *int64 {
	if v.Type != gjson.Number {
		return nil
	}
	n := v.Int()
	return &n
}

func stringOf(v gjson.Result) *string {
	if v.Type != gjson.String {
		return nil
	}
	s := v.String()
	return &s
}
