// Package openai holds the OpenAI Chat Completions and Embeddings wire formats: their types,
// their validation and the usage they report. Many servers speak these formats besides OpenAI
// (Azure OpenAI, OpenRouter, Ollama, llama.cpp, vLLM, LM Studio, DeepSeek), and the types carry
// the fields those servers add, such as reasoning_content.
package openai

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Chat completion object names.
const (
	ObjectChatCompletion = "chat.completion"
	ObjectChatChunk      = "chat.completion.chunk"
)

// Message roles.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleFunction  = "function" // deprecated, still accepted by OpenAI
)

// Finish reasons.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishFunctionCall  = "function_call" // deprecated
)

// ChatRequest is the body of POST /v1/chat/completions. Members it does not name are kept in
// Extra and written back by MarshalJSON, so a request survives a decode and encode.
type ChatRequest struct {
	Model               string            `json:"model"`
	Messages            []ChatMessage     `json:"messages"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *StreamOptions    `json:"stream_options,omitempty"`
	MaxTokens           *int64            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	N                   *int64            `json:"n,omitempty"`
	Stop                Stop              `json:"stop,omitempty"`
	PresencePenalty     *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	Logprobs            *bool             `json:"logprobs,omitempty"`
	TopLogprobs         *int64            `json:"top_logprobs,omitempty"`
	LogitBias           json.RawMessage   `json:"logit_bias,omitempty"`
	User                string            `json:"user,omitempty"`
	Tools               []Tool            `json:"tools,omitempty"`
	ToolChoice          *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat   `json:"response_format,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	Verbosity           string            `json:"verbosity,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	Store               *bool             `json:"store,omitempty"`
	ServiceTier         string            `json:"service_tier,omitempty"`
	PromptCacheKey      string            `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier    string            `json:"safety_identifier,omitempty"`
	Modalities          []string          `json:"modalities,omitempty"`

	// Extra holds the members of the JSON object that the fields above do not name.
	Extra map[string]json.RawMessage `json:"-"`
}

// StreamOptions is the request's stream_options.
type StreamOptions struct {
	// IncludeUsage asks for a last chunk, before [DONE], with empty choices and the usage.
	IncludeUsage       bool  `json:"include_usage,omitempty"`
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// ChatMessage is one message of a request's conversation, or the message of a response
// choice. Members it does not name are kept in Extra.
type ChatMessage struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
	Name    string  `json:"name,omitempty"`
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID is the call a tool message answers.
	ToolCallID string  `json:"tool_call_id,omitempty"`
	Refusal    *string `json:"refusal,omitempty"`
	// ReasoningContent is the model's reasoning as DeepSeek, vLLM, llama.cpp, LM Studio and
	// others send it; Reasoning is the same as OpenRouter and Ollama send it.
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Reasoning        string          `json:"reasoning,omitempty"`
	ReasoningDetails json.RawMessage `json:"reasoning_details,omitempty"` // OpenRouter
	Annotations      json.RawMessage `json:"annotations,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`

	// Extra holds the members of the JSON object that the fields above do not name.
	Extra map[string]json.RawMessage `json:"-"`
}

// Content is a message's content: a string, an array of parts, or null.
// Exactly one of Text and Parts is set when the content is not null.
type Content struct {
	Text  *string
	Parts []ContentPart
}

// TextContent returns the content that is the string s.
func TextContent(s string) Content { return Content{Text: &s} }

// IsNull reports whether the content is null or absent.
func (c Content) IsNull() bool { return c.Text == nil && c.Parts == nil }

// String returns the text of the content: the string, or the text parts joined.
func (c Content) String() string {
	if c.Text != nil {
		return *c.Text
	}
	var b []byte
	for _, p := range c.Parts {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// MarshalJSON writes the string, the array of parts, or null.
func (c Content) MarshalJSON() ([]byte, error) { return llm.MarshalTextOrList(c.Text, c.Parts) }

// UnmarshalJSON reads a string, an array of parts, or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	text, parts, err := llm.UnmarshalTextOrList[ContentPart](b, true, "content must be a string, an array of parts or null")
	*c = Content{Text: text, Parts: parts}
	return err
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one part of an array content.
type ContentPart struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *File       `json:"file,omitempty"`
	Refusal    string      `json:"refusal,omitempty"`
	// CacheControl is Anthropic's cache marker, which OpenRouter and some other servers
	// accept on parts and pass on to Anthropic models.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type contentPart ContentPart

// UnmarshalJSON reads a part. Of a part whose type lynkr does not convert only the type is
// read: its other members may be of any shape, and a conversion leaves it out and names it.
func (p *ContentPart) UnmarshalJSON(data []byte) error {
	t := gjson.GetBytes(data, "type")
	members := partMembers[t.Str]
	if t.Type == gjson.String && members == nil {
		*p = ContentPart{Type: t.Str}
		return nil
	}
	return llm.DecodeMembers(data, (*contentPart)(p), members...)
}

// partMembers are the members a conversion reads of each part type it converts.
var partMembers = map[string][]string{
	PartText:       {"type", "text", "cache_control"},
	PartImageURL:   {"type", "image_url", "cache_control"},
	PartInputAudio: {"type", "input_audio"},
	PartFile:       {"type", "file", "cache_control"},
	PartRefusal:    {"type", "refusal"},
}

// MarshalJSON writes the part with its text (or refusal) present even when empty.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	b, err := llm.Marshal(contentPart(p))
	switch {
	case err != nil:
		return nil, err
	case p.Type == PartText && p.Text == "":
		return sjson.SetBytes(b, "text", "")
	case p.Type == PartRefusal && p.Refusal == "":
		return sjson.SetBytes(b, "refusal", "")
	}
	return b, nil
}

// ImageURL is an image_url part's image: an http(s) URL or a data: URL with base64 data.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// InputAudio is an input_audio part's audio.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is a file part's file: inline data (a data: URL) or the id of an uploaded file.
type File struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// Tool is one tool the model may call. Type is "function" (or "custom", kept as sent).
type Tool struct {
	Type     string          `json:"type"`
	Function *FunctionDef    `json:"function,omitempty"`
	Custom   json.RawMessage `json:"custom,omitempty"`
}

type chatTool Tool

// UnmarshalJSON reads a tool. Of a tool type lynkr does not convert only the type is read.
func (t *Tool) UnmarshalJSON(data []byte) error {
	switch typ := gjson.GetBytes(data, "type"); {
	case typ.Type == gjson.String && typ.Str != "function" && typ.Str != "custom":
		*t = Tool{Type: typ.Str}
		return nil
	}
	return llm.DecodeMembers(data, (*chatTool)(t), "type", "function", "custom")
}

// FunctionDef describes a function tool. Parameters is its JSON Schema.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Tool choice modes, the string form of tool_choice.
const (
	ToolChoiceNone     = "none"
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
)

// ToolChoice is a request's tool_choice: a mode string ("none", "auto", "required") or an
// object. The object {"type":"function","function":{"name":…}} sets Name; every object form
// (allowed_tools, custom) is kept in Raw as sent.
type ToolChoice struct {
	Mode string
	Name string
	Raw  json.RawMessage
}

// MarshalJSON writes Raw when set, else the function object when Name is set, else the mode.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	switch {
	case len(t.Raw) > 0:
		return t.Raw, nil
	case t.Name != "":
		return json.Marshal(toolChoiceObject{Type: "function", Function: &toolChoiceFunction{Name: t.Name}})
	default:
		return json.Marshal(t.Mode)
	}
}

// UnmarshalJSON reads the string or object form.
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
		if o.Type == "function" && o.Function != nil {
			t.Name = o.Function.Name
		}
		t.Raw = append(json.RawMessage(nil), b...)
		return nil
	default:
		return fmt.Errorf("%w: tool_choice must be a string or an object", llm.ErrInvalid)
	}
}

type toolChoiceObject struct {
	Type     string              `json:"type"`
	Function *toolChoiceFunction `json:"function,omitempty"`
}

type toolChoiceFunction struct {
	Name string `json:"name"`
}

// ToolCall is one call an assistant message makes.
type ToolCall struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"` // "function" (or "custom")
	Function FunctionCall    `json:"function"`
	Custom   json.RawMessage `json:"custom,omitempty"`
}

// FunctionCall names the function called and its arguments, a JSON object encoded as a string.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Stop is a request's stop: up to four sequences, sent as one string or an array.
// It is always written as an array.
type Stop []string

// UnmarshalJSON reads a string, an array of strings, or null.
func (s *Stop) UnmarshalJSON(b []byte) error {
	switch llm.FirstByte(b) {
	case 'n':
		*s = nil
		return nil
	case '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	case '[':
		var many []string
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*s = many
		return nil
	default:
		return fmt.Errorf("%w: stop must be a string or an array of strings", llm.ErrInvalid)
	}
}

// ResponseFormat is a request's response_format: type "text", "json_object" or "json_schema".
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the schema of a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatResponse is a complete (non-streamed) chat completion.
type ChatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *Usage       `json:"usage,omitempty"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	ServiceTier       string       `json:"service_tier,omitempty"`
}

// ChatChoice is one choice of a complete chat completion.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ChatMessage     `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason string          `json:"finish_reason"`
	// StopReason is what vLLM and some other servers add: the stop string (or token id)
	// that ended the choice, null when it ended otherwise.
	StopReason json.RawMessage `json:"stop_reason,omitempty"`
}

// ChatChunk is one chunk of a streamed chat completion: the data of one server-sent event.
// The last chunk of a stream whose request set stream_options.include_usage has no choices
// and carries the usage.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"` // "chat.completion.chunk"
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is one choice's delta in a chunk. FinishReason is null until the choice's last
// chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        ChunkDelta      `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason *string         `json:"finish_reason"`
	StopReason   json.RawMessage `json:"stop_reason,omitempty"` // as in ChatChoice
}

// ChunkDelta is what one chunk adds to a choice's message.
type ChunkDelta struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	Reasoning        *string         `json:"reasoning,omitempty"`
	ReasoningDetails json.RawMessage `json:"reasoning_details,omitempty"` // OpenRouter
	ToolCalls        []ToolCallDelta `json:"tool_calls,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
}

// ToolCallDelta is a fragment of a tool call in a chunk. The first fragment of a call carries
// its index, id, type and function name; the later ones carry only the index and a piece of
// the arguments string.
type ToolCallDelta struct {
	Index    int                `json:"index"`
	ID       string             `json:"id,omitempty"`
	Type     string             `json:"type,omitempty"`
	Function *FunctionCallDelta `json:"function,omitempty"`
}

// FunctionCallDelta is a fragment of a function call.
type FunctionCallDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Usage is the token usage of a chat completion. PromptTokens includes the cached tokens.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
	// PromptCacheHitTokens is DeepSeek's count of cached prompt tokens.
	PromptCacheHitTokens int64 `json:"prompt_cache_hit_tokens,omitempty"`
}

// PromptTokensDetails breaks down the prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
	AudioTokens  int64 `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks down the completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens          int64 `json:"reasoning_tokens"`
	AudioTokens              int64 `json:"audio_tokens,omitempty"`
	AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens,omitempty"`
	RejectedPredictionTokens int64 `json:"rejected_prediction_tokens,omitempty"`
}

// LLM returns u in llm's units.
func (u Usage) LLM() llm.Usage {
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CacheReadTokens = u.PromptTokensDetails.CachedTokens
	}
	if out.CacheReadTokens == 0 {
		out.CacheReadTokens = u.PromptCacheHitTokens
	}
	return out
}

// UsageOf returns u in chat's units, with the cached tokens in prompt_tokens_details.
func UsageOf(u llm.Usage) Usage {
	return Usage{
		PromptTokens:        u.InputTokens,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         u.InputTokens + u.OutputTokens,
		PromptTokensDetails: &PromptTokensDetails{CachedTokens: u.CacheReadTokens},
	}
}
