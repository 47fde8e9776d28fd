// Package converse converts between the Anthropic Messages API and the AWS Bedrock Converse
// API (Converse and ConverseStream). It is pure data in, data out: no HTTP and no AWS SDK.
//
// Requests go one way, Anthropic → Converse (MessagesToConverseRequest); answers come back,
// Converse → Anthropic, whole (ConverseToMessagesResponse) or streamed
// (NewConverseToMessagesStream, fed the ConverseStream events by name: messageStart,
// contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata).
//
// The Converse API names the model in the URL path (/model/{modelId}/converse), not in the
// body. MessagesToConverseRequest records it in the body's "modelId" member, the member the
// API's input shape gives it, so a request carries everything needed to send it; the caller
// that builds the HTTP request takes it out again with SplitModelID and puts it in the path.
package converse

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// ModelIDField is the member of a converted request that names the model; it belongs in the
// URL path, and SplitModelID moves it there.
const ModelIDField = "modelId"

// SplitModelID takes the model id out of a request made by MessagesToConverseRequest and
// returns it with the body the Converse API expects. The id is empty when the request names
// none.
func SplitModelID(body []byte) (string, []byte, error) {
	v := gjson.GetBytes(body, ModelIDField)
	if !v.Exists() {
		return "", body, nil
	}
	if v.Type != gjson.String {
		return "", nil, fmt.Errorf("%w: converse request: %s must be a string", llm.ErrInvalid, ModelIDField)
	}
	rest, err := sjson.DeleteBytes(body, ModelIDField)
	if err != nil {
		return "", nil, fmt.Errorf("%w: converse request: %w", llm.ErrInvalid, err)
	}
	return v.String(), rest, nil
}

// IsAnthropicModel reports whether a Bedrock model id (or an Anthropic model name) names a
// Claude model: only those take Anthropic's own request fields (thinking, top_k,
// anthropic_beta) through additionalModelRequestFields.
func IsAnthropicModel(id string) bool {
	id = strings.ToLower(id)
	return strings.Contains(id, "anthropic") || strings.Contains(id, "claude")
}

// newMessageID returns an Anthropic-style message id. Converse answers carry no id of their
// own (the request id is in an HTTP header, which conversions do not see).
func newMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "msg_bdrk_" + hex.EncodeToString(b[:])
}

// Converse wire shapes, request side. Union members are pointers so exactly one is set.

type request struct {
	ModelID                           string                     `json:"modelId,omitempty"`
	Messages                          []message                  `json:"messages"`
	System                            []block                    `json:"system,omitempty"`
	InferenceConfig                   *inferenceConfig           `json:"inferenceConfig,omitempty"`
	ToolConfig                        *toolConfig                `json:"toolConfig,omitempty"`
	AdditionalModelRequestFields      map[string]json.RawMessage `json:"additionalModelRequestFields,omitempty"`
	AdditionalModelResponseFieldPaths []string                   `json:"additionalModelResponseFieldPaths,omitempty"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

type block struct {
	Text             *string           `json:"text,omitempty"`
	Image            *imageBlock       `json:"image,omitempty"`
	Document         *documentBlock    `json:"document,omitempty"`
	ToolUse          *toolUseBlock     `json:"toolUse,omitempty"`
	ToolResult       *toolResultBlock  `json:"toolResult,omitempty"`
	ReasoningContent *reasoningContent `json:"reasoningContent,omitempty"`
	JSON             json.RawMessage   `json:"json,omitempty"` // tool result content only
	CachePoint       *cachePoint       `json:"cachePoint,omitempty"`
}

type imageBlock struct {
	Format string      `json:"format"`
	Source bytesSource `json:"source"`
}

type documentBlock struct {
	Format string      `json:"format"`
	Name   string      `json:"name"`
	Source bytesSource `json:"source"`
}

// bytesSource holds a blob, base64-encoded as the Converse JSON protocol sends blobs.
type bytesSource struct {
	Bytes string `json:"bytes"`
}

type toolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type toolResultBlock struct {
	ToolUseID string  `json:"toolUseId"`
	Content   []block `json:"content"`
	Status    string  `json:"status,omitempty"`
}

type reasoningContent struct {
	ReasoningText   *reasoningText `json:"reasoningText,omitempty"`
	RedactedContent string         `json:"redactedContent,omitempty"`
}

type reasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

type cachePoint struct {
	Type string `json:"type"`
}

type inferenceConfig struct {
	MaxTokens     *int64   `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type toolConfig struct {
	Tools      []tool      `json:"tools"`
	ToolChoice *toolChoice `json:"toolChoice,omitempty"`
}

type tool struct {
	ToolSpec   *toolSpec   `json:"toolSpec,omitempty"`
	CachePoint *cachePoint `json:"cachePoint,omitempty"`
}

type toolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema inputSchema `json:"inputSchema"`
}

type inputSchema struct {
	JSON json.RawMessage `json:"json"`
}

type toolChoice struct {
	Auto *struct{}      `json:"auto,omitempty"`
	Any  *struct{}      `json:"any,omitempty"`
	Tool *toolChoiceFor `json:"tool,omitempty"`
}

type toolChoiceFor struct {
	Name string `json:"name"`
}

// Anthropic Messages wire shapes, response side.

type anthropicMessage struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []anthropicBlock `json:"content"`
	StopReason   *string          `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        anthropicUsage   `json:"usage"`
}

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	Data      *string         `json:"data,omitempty"`
}

type anthropicUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// usageFrom reads a Converse usage object. Converse, like Anthropic, counts cached prompt
// tokens apart from inputTokens; llm.Usage counts them inside InputTokens.
func usageFrom(v gjson.Result) llm.Usage {
	read := v.Get("cacheReadInputTokens").Int()
	write := v.Get("cacheWriteInputTokens").Int()
	return llm.Usage{
		InputTokens:       v.Get("inputTokens").Int() + read + write,
		OutputTokens:      v.Get("outputTokens").Int(),
		CacheReadTokens:   read,
		CacheCreateTokens: write,
	}
}

// anthropicUsageOf is u in Anthropic's units, cached tokens apart from input_tokens.
func anthropicUsageOf(u llm.Usage) anthropicUsage {
	return anthropicUsage{
		InputTokens:              u.InputTokens - u.CacheReadTokens - u.CacheCreateTokens,
		CacheCreationInputTokens: u.CacheCreateTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// stopReason maps a Converse stopReason to Anthropic's. Guardrail and content-filter stops
// are Anthropic's "refusal"; a reason this package does not know ends the turn.
func stopReason(r string) string {
	switch r {
	case "end_turn", "tool_use", "max_tokens", "stop_sequence", "model_context_window_exceeded":
		return r
	case "guardrail_intervened", "content_filtered":
		return "refusal"
	default:
		return "end_turn"
	}
}
