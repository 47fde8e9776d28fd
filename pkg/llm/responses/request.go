// Package responses holds the OpenAI Responses API wire format (POST /v1/responses), the one
// Codex CLI speaks, and its conversions to and from OpenAI Chat Completions: Responses
// requests become chat requests, and chat completions and chunk streams become Responses
// objects and the Responses event stream (chat.go, chat_stream.go); the other way, chat
// requests go to a Responses upstream, and its objects and event streams come back as chat
// completions and chunks (upstream_request.go, upstream_response.go, upstream_stream.go).
//
// lynkr stores no responses, so a conversion to chat refuses what needs state stored upstream
// (previous_response_id, conversation, background, item_reference) with a clear error; a
// client sends the whole conversation in input every time, as Codex does with store:false.
// A Responses upstream gets such requests as they are.
package responses

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Input item types.
const (
	ItemMessage            = "message"
	ItemFunctionCall       = "function_call"
	ItemFunctionCallOutput = "function_call_output"
	ItemReasoning          = "reasoning"
	ItemReference          = "item_reference"
	// Codex sends its freeform apply_patch tool as a custom tool; its calls and their
	// outputs are these items.
	ItemCustomToolCall       = "custom_tool_call"
	ItemCustomToolCallOutput = "custom_tool_call_output"
)

// Message roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
	RoleDeveloper = "developer"
)

// Content part types.
const (
	PartInputText     = "input_text"
	PartInputImage    = "input_image"
	PartInputFile     = "input_file"
	PartOutputText    = "output_text"
	PartRefusal       = "refusal"
	PartSummaryText   = "summary_text"
	PartReasoningText = "reasoning_text"
)

// Request is the body of POST /v1/responses. Fields lynkr neither converts nor echoes are not
// named; they are ignored.
type Request struct {
	Model              string            `json:"model"`
	Input              Input             `json:"input"`
	Instructions       *string           `json:"instructions,omitempty"`
	Tools              []Tool            `json:"tools,omitempty"`
	ToolChoice         *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens    *int64            `json:"max_output_tokens,omitempty"`
	MaxToolCalls       *int64            `json:"max_tool_calls,omitempty"`
	Temperature        *float64          `json:"temperature,omitempty"`
	TopP               *float64          `json:"top_p,omitempty"`
	TopLogprobs        *int64            `json:"top_logprobs,omitempty"`
	Stream             bool              `json:"stream,omitempty"`
	Store              *bool             `json:"store,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	PreviousResponseID string            `json:"previous_response_id,omitempty"`
	Reasoning          *Reasoning        `json:"reasoning,omitempty"`
	Text               *Text             `json:"text,omitempty"`
	Include            []string          `json:"include,omitempty"`
	Truncation         string            `json:"truncation,omitempty"`
	User               string            `json:"user,omitempty"`
	SafetyIdentifier   string            `json:"safety_identifier,omitempty"`
	PromptCacheKey     string            `json:"prompt_cache_key,omitempty"`
	ServiceTier        string            `json:"service_tier,omitempty"`
}

// Input is a request's input: one user message as a string, or a list of items.
// Exactly one of Text and Items is set.
type Input struct {
	Text  *string
	Items []Item
}

// MarshalJSON writes the string or the list.
func (in Input) MarshalJSON() ([]byte, error) {
	if in.Text != nil {
		return json.Marshal(*in.Text)
	}
	if in.Items == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(in.Items)
}

// UnmarshalJSON reads a string or a list of items; null is not an input.
func (in *Input) UnmarshalJSON(b []byte) error {
	text, items, err := llm.UnmarshalTextOrList[Item](b, false, "input must be a string or an array of items")
	*in = Input{Text: text, Items: items}
	return err
}

// Item is one input item. Type selects the fields that apply:
//   - message: Role and Content (Type may be left out when Role is set);
//   - function_call: CallID, Name, Arguments (the model's call, replayed);
//   - function_call_output: CallID and Output (the result of running the call);
//   - custom_tool_call: CallID, Name, Input; custom_tool_call_output: CallID and Output;
//   - reasoning: Summary, Content (reasoning_text parts) and EncryptedContent.
type Item struct {
	Type   string `json:"type,omitempty"`
	ID     string `json:"id,omitempty"`
	Status string `json:"status,omitempty"`

	Role    string  `json:"role,omitempty"`
	Content Content `json:"content,omitzero"`

	CallID    string  `json:"call_id,omitempty"`
	Name      string  `json:"name,omitempty"`
	Namespace string  `json:"namespace,omitempty"` // of a call to a tool of a namespace
	Arguments string  `json:"arguments,omitempty"`
	Input     string  `json:"input,omitempty"`
	Output    Content `json:"output,omitzero"`

	Summary          []Part  `json:"summary,omitempty"`
	EncryptedContent *string `json:"encrypted_content,omitempty"`
}

type item Item

// UnmarshalJSON reads an item. Of an item whose type lynkr does not convert only the type is
// read: its other members may be of any shape, and a conversion leaves it out and names it.
func (it *Item) UnmarshalJSON(data []byte) error {
	if t := gjson.GetBytes(data, "type"); t.Type == gjson.String && !convertedItem(t.Str) {
		*it = Item{Type: t.Str}
		return nil
	}
	return json.Unmarshal(data, (*item)(it))
}

// convertedItem tells the item types whose members a conversion reads.
func convertedItem(t string) bool {
	switch t {
	case ItemMessage, ItemFunctionCall, ItemFunctionCallOutput, ItemReasoning, ItemReference,
		ItemCustomToolCall, ItemCustomToolCallOutput:
		return true
	}
	return false
}

// ItemType is the item's type, "message" when only its role says so.
func (it Item) ItemType() string {
	if it.Type == "" && it.Role != "" {
		return ItemMessage
	}
	return it.Type
}

// Content is a message's content, or a function_call_output's output: a string or a list of
// parts. Exactly one of Text and Parts is set when present.
type Content struct {
	Text  *string
	Parts []Part
}

// IsZero reports whether the content is absent.
func (c Content) IsZero() bool { return c.Text == nil && c.Parts == nil }

// MarshalJSON writes the string or the list of parts.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.Parts != nil:
		return json.Marshal(c.Parts)
	case c.Text != nil:
		return json.Marshal(*c.Text)
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON reads a string, a list of parts, or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	text, parts, err := llm.UnmarshalTextOrList[Part](b, true, "content must be a string or an array of parts")
	*c = Content{Text: text, Parts: parts}
	return err
}

// Part is one content part: input_text, output_text, refusal, input_image, input_file, or the
// summary_text and reasoning_text parts of a reasoning item.
type Part struct {
	Type        string            `json:"type"`
	Text        string            `json:"text,omitempty"`
	Annotations []json.RawMessage `json:"annotations,omitempty"`
	Refusal     string            `json:"refusal,omitempty"`
	ImageURL    string            `json:"image_url,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	FileID      string            `json:"file_id,omitempty"`
	FileData    string            `json:"file_data,omitempty"`
	FileURL     string            `json:"file_url,omitempty"`
	Filename    string            `json:"filename,omitempty"`
}

// Tool is a tool the model may call: a function, a custom tool whose input is free text
// (Format says which grammar it follows, if any), or a namespace, a named group of Tools. The
// hosted tools (web_search, file_search, code_interpreter, …) run inside OpenAI.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
	Format      *CustomFormat   `json:"format,omitempty"`
	Tools       []Tool          `json:"tools,omitempty"` // of a namespace
}

type part Part

// UnmarshalJSON reads a part. Of a part whose type lynkr does not convert only the type is
// read: its other members may be of any shape.
func (p *Part) UnmarshalJSON(data []byte) error {
	t := gjson.GetBytes(data, "type")
	switch t.Str {
	case PartInputText, PartOutputText, PartRefusal, PartInputImage, PartInputFile, PartSummaryText,
		PartReasoningText, "text":
		return llm.DecodeMembers(data, (*part)(p), "type", "text", "annotations", "refusal",
			"image_url", "detail", "file_id", "file_data", "file_url", "filename")
	}
	if t.Type == gjson.String {
		*p = Part{Type: t.Str}
		return nil
	}
	return json.Unmarshal(data, (*part)(p))
}

type responsesTool Tool

// UnmarshalJSON reads a tool. Of a hosted tool only the type is read: its other members may
// be of any shape, and a conversion leaves it out and names it.
func (t *Tool) UnmarshalJSON(data []byte) error {
	typ := gjson.GetBytes(data, "type")
	switch typ.Str {
	case ToolFunction, ToolCustom, ToolNamespace:
		return llm.DecodeMembers(data, (*responsesTool)(t), "type", "name", "description",
			"parameters", "strict", "format", "tools")
	}
	if typ.Type == gjson.String {
		*t = Tool{Type: typ.Str}
		return nil
	}
	return json.Unmarshal(data, (*responsesTool)(t))
}

// Tool types lynkr converts; the others are hosted tools.
const (
	ToolFunction  = "function"
	ToolCustom    = "custom"
	ToolNamespace = "namespace"
)

// CustomFormat is a custom tool's input format: type "text", or "grammar" with a Syntax
// ("lark" or "regex") and its Definition.
type CustomFormat struct {
	Type       string `json:"type"`
	Syntax     string `json:"syntax,omitempty"`
	Definition string `json:"definition,omitempty"`
}

// ToolChoice is a request's tool_choice: a mode ("none", "auto", "required"), a tool
// {"type":"function"|"custom","name":…}, or {"type":"allowed_tools","mode":…,"tools":[…]}.
type ToolChoice struct {
	Mode  string // the string form, or the mode of allowed_tools
	Type  string // "function", "custom" or "allowed_tools" for the object forms
	Name  string // the tool of the function and custom forms
	Tools []Tool // the tools of allowed_tools, each {"type":"function"|"custom","name":…}
}

type toolChoiceObject struct {
	Type  string `json:"type"`
	Name  string `json:"name,omitempty"`
	Mode  string `json:"mode,omitempty"`
	Tools []Tool `json:"tools,omitempty"`
}

// MarshalJSON writes the mode or the object.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	if t.Type == "" {
		return json.Marshal(t.Mode)
	}
	o := toolChoiceObject{Type: t.Type, Name: t.Name, Tools: t.Tools}
	if t.Type == "allowed_tools" {
		o.Mode = t.Mode
	}
	return json.Marshal(o)
}

// UnmarshalJSON reads the string or the object form.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	*t = ToolChoice{}
	switch llm.FirstByte(b) {
	case '"':
		return json.Unmarshal(b, &t.Mode)
	case '{':
		var o toolChoiceObject
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*t = ToolChoice{Type: o.Type, Name: o.Name, Mode: o.Mode, Tools: o.Tools}
		return nil
	default:
		return fmt.Errorf("%w: tool_choice must be a string or an object", llm.ErrInvalid)
	}
}

// Reasoning is a request's reasoning configuration.
type Reasoning struct {
	Effort  string `json:"effort,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// Text is a request's text configuration: the output format and the verbosity.
type Text struct {
	Format    *TextFormat `json:"format,omitempty"`
	Verbosity string      `json:"verbosity,omitempty"`
}

// TextFormat is the output format: type "text", "json_object" or "json_schema" (with Name,
// Schema, Description and Strict).
type TextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}
