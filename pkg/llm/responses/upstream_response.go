package responses

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// upResponse is what the conversions read of a Responses object from the upstream.
type upResponse struct {
	ID                string             `json:"id"`
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"`
	Error             *ResponseError     `json:"error"`
	IncompleteDetails *IncompleteDetails `json:"incomplete_details"`
	Model             string             `json:"model"`
	Output            []upItem           `json:"output"`
	ServiceTier       string             `json:"service_tier"`
	Usage             *Usage             `json:"usage"`
}

// upItem is one output item of the upstream's response: a message (Content), a function call
// (CallID, Name, Arguments), a custom tool call (CallID, Name, Input) or reasoning (Summary,
// Content of reasoning_text parts, EncryptedContent).
type upItem struct {
	ID               string         `json:"id"`
	Type             string         `json:"type"`
	Status           string         `json:"status"`
	Role             string         `json:"role"`
	Content          []upOutputPart `json:"content"`
	CallID           string         `json:"call_id"`
	Name             string         `json:"name"`
	Arguments        string         `json:"arguments"`
	Input            string         `json:"input"`
	Summary          []upOutputPart `json:"summary"`
	EncryptedContent string         `json:"encrypted_content"`
}

type upOutputPart struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Refusal string `json:"refusal"`
}

// text returns the item's text of the part type typ, parts joined by sep.
func (it upItem) text(parts []upOutputPart, typ, sep string) string {
	var texts []string
	for _, p := range parts {
		if p.Type == typ {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, sep)
}

// reasoningText is the text of a reasoning item: its summary, or its reasoning_text when it
// has no summary (open-weight models served by vLLM give the full reasoning).
func (it upItem) reasoningText() string {
	if s := it.text(it.Summary, PartSummaryText, "\n\n"); s != "" {
		return s
	}
	return it.text(it.Content, PartReasoningText, "\n\n")
}

// ResponsesToChatResponse converts a Responses object from the upstream into the chat
// completion that answers req, the client's chat request, whose model it names. The usage is
// the upstream's.
//
// Output text becomes the content, refusals the refusal, function calls the tool_calls (their
// call_id the id), and the reasoning items' summaries (or reasoning text) the
// reasoning_content, as DeepSeek and vLLM send it; encrypted reasoning goes in
// reasoning_details, as OpenRouter sends it. An incomplete response finishes with "length"
// (max_output_tokens) or "content_filter"; one with function calls with "tool_calls"; any
// other with "stop". An error body or a failed response is returned as an *apierror.Error
// with the upstream's message; a body that is not a response wraps llm.ErrInvalid.
func ResponsesToChatResponse(req, body []byte) ([]byte, llm.Usage, error) {
	return responsesToChat(req, body, time.Now)
}

func responsesToChat(req, body []byte, now func() time.Time) ([]byte, llm.Usage, error) {
	if e := gjson.GetBytes(body, "error"); e.IsObject() && !gjson.GetBytes(body, "output").Exists() {
		return nil, llm.Usage{}, upstreamError(e)
	}
	var r upResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: the upstream's response: %w", llm.ErrInvalid, err)
	}
	if r.Status == StatusFailed {
		return nil, llm.Usage{}, failedError(r.Error)
	}
	var usage llm.Usage
	var cu *openai.Usage
	if r.Usage != nil {
		usage = r.Usage.LLM()
		u := chatUsage(*r.Usage)
		cu = &u
	}
	msg, calls := chatMessage(r.Output)
	created := r.CreatedAt
	if created == 0 {
		created = now().Unix()
	}
	out := openai.ChatResponse{
		ID:          r.ID,
		Object:      openai.ObjectChatCompletion,
		Created:     created,
		Model:       chatModel(req, r.Model),
		Choices:     []openai.ChatChoice{{Index: 0, Message: msg, FinishReason: finishOf(r.Status, r.IncompleteDetails, calls)}},
		Usage:       cu,
		ServiceTier: r.ServiceTier,
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, usage, nil
}

// chatMessage builds the assistant message of the output items, and reports whether it calls
// tools.
func chatMessage(output []upItem) (openai.ChatMessage, bool) {
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	var text, refusal strings.Builder
	var reasoning []string
	var details []openai.ReasoningDetail
	for _, it := range output {
		switch it.Type {
		case OutputMessage:
			for _, p := range it.Content {
				switch p.Type {
				case PartOutputText:
					text.WriteString(p.Text)
				case PartRefusal:
					refusal.WriteString(p.Refusal)
				}
			}
		case OutputFunctionCall:
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: it.CallID, Type: "function",
				Function: openai.FunctionCall{Name: it.Name, Arguments: it.Arguments}})
		case OutputReasoning:
			if t := it.reasoningText(); t != "" {
				reasoning = append(reasoning, t)
			}
			if it.EncryptedContent != "" {
				details = append(details, encryptedDetail(it, len(details)))
			}
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = openai.TextContent(text.String())
	}
	if refusal.Len() > 0 {
		s := refusal.String()
		msg.Refusal = &s
	}
	msg.ReasoningContent = strings.Join(reasoning, "\n\n")
	if len(details) > 0 {
		msg.ReasoningDetails, _ = llm.Marshal(details) // strings and ints only
	}
	return msg, len(msg.ToolCalls) > 0
}

// encryptedDetail is the reasoning_details piece, number index, that carries the encrypted
// reasoning of the reasoning item it.
func encryptedDetail(it upItem, index int) openai.ReasoningDetail {
	return openai.ReasoningDetail{Type: openai.DetailEncrypted, ID: it.ID, Data: it.EncryptedContent,
		Format: reasoningFormat, Index: &index}
}

// finishOf is the chat finish_reason of a response's status.
func finishOf(status string, d *IncompleteDetails, calls bool) string {
	if status == StatusIncomplete && d != nil {
		switch d.Reason {
		case ReasonMaxOutputTokens:
			return openai.FinishLength
		case ReasonContentFilter:
			return openai.FinishContentFilter
		}
	}
	if calls {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// chatModel is the model the client asked for, which its answer names; fallback when the
// request named none.
func chatModel(req []byte, fallback string) string {
	if m := gjson.GetBytes(req, "model"); m.Type == gjson.String && m.Str != "" {
		return m.Str
	}
	return fallback
}

// failedError is the error of a failed response.
func failedError(e *ResponseError) error {
	if e == nil {
		return upstreamErrorOf("", "", "the upstream response failed")
	}
	return upstreamErrorOf(e.Code, "", e.Message)
}

// upstreamError reads an OpenAI error object, {"message","type","code","param"}, as an error
// body or an error event has it.
func upstreamError(e gjson.Result) error {
	return upstreamErrorOf(e.Get("code").String(), e.Get("type").String(), e.Get("message").String())
}

// upstreamErrorOf is the error the client is shown for an upstream error of code and type
// typ, with the HTTP status they call for (502 when neither says).
func upstreamErrorOf(code, typ, msg string) *apierror.Error {
	status, ok := statusOf(code)
	if !ok {
		status, ok = statusOf(typ)
	}
	if !ok {
		status = http.StatusBadGateway
	}
	if msg == "" {
		msg = code
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &apierror.Error{Status: status, Type: apierror.TypeFor(status), Message: msg}
}

// statusOf is the HTTP status of an OpenAI error code or type.
func statusOf(c string) (int, bool) {
	switch {
	case c == "":
		return 0, false
	case c == "rate_limit_exceeded" || c == "rate_limit_error" || c == "insufficient_quota":
		return http.StatusTooManyRequests, true
	case c == "server_is_overloaded" || c == "overloaded_error" || c == "slow_down":
		return http.StatusServiceUnavailable, true
	case c == "server_error" || c == "api_error":
		return http.StatusInternalServerError, true
	case c == "authentication_error" || c == "invalid_api_key":
		return http.StatusUnauthorized, true
	case c == "permission_error":
		return http.StatusForbidden, true
	case c == "not_found_error" || c == "model_not_found":
		return http.StatusNotFound, true
	case c == "invalid_request_error" || c == "context_length_exceeded" || c == "invalid_prompt" ||
		strings.HasPrefix(c, "invalid_") || strings.Contains(c, "image"):
		return http.StatusBadRequest, true
	}
	return 0, false
}
