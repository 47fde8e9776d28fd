package anthropic

import (
	"bytes"
	"crypto/rand"
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

// This file converts complete (non-streamed) answers between the two formats.

// ChatToMessagesResponse converts an upstream chat completion into the Messages response the
// client expects; req is the client's Messages request. The usage is the upstream's, or an
// estimate when it reported none.
//
// The answer's blocks come in the order Anthropic gives them: thinking (from
// reasoning_content), text, then tool_use. Tool arguments that are not a JSON object are kept
// as a JSON string input, so the client sees what the model wrote.
func ChatToMessagesResponse(req, body []byte) ([]byte, llm.Usage, error) {
	var resp openai.ChatResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: chat completion: %w", llm.ErrInvalid, err)
	}
	if len(resp.Choices) == 0 {
		return nil, llm.Usage{}, fmt.Errorf("%w: chat completion has no choices", llm.ErrInvalid)
	}
	ch := resp.Choices[0]
	msg := ch.Message
	blocks := []ContentBlock{}
	outBytes := 0
	reasoning := msg.ReasoningContent
	if reasoning == "" {
		reasoning = msg.Reasoning
	}
	if reasoning != "" {
		blocks = append(blocks, ContentBlock{Type: BlockThinking, Thinking: reasoning})
		outBytes += len(reasoning)
	}
	text := msg.Content.String()
	if text == "" && msg.Refusal != nil {
		text = *msg.Refusal
	}
	if text != "" {
		blocks = append(blocks, ContentBlock{Type: BlockText, Text: text})
		outBytes += len(text)
	}
	for _, tc := range msg.ToolCalls {
		id := tc.ID
		if id == "" {
			id = newID("toolu_")
		}
		blocks = append(blocks, ContentBlock{Type: BlockToolUse, ID: id, Name: tc.Function.Name, Input: inputFromArguments(tc.Function.Arguments)})
		outBytes += len(tc.Function.Name) + len(tc.Function.Arguments)
	}
	reason, seq := stopFromFinish(ch.FinishReason, len(msg.ToolCalls) > 0, matchedStop(gjson.ParseBytes(ch.StopReason), req))
	var usage llm.Usage
	if resp.Usage != nil {
		usage = resp.Usage.LLM()
	} else {
		usage = llm.Usage{InputTokens: EstimateInputTokens(req), OutputTokens: llm.EstimateTokens(outBytes)}
	}
	out := Response{
		ID:           messageID(resp.ID),
		Type:         "message",
		Role:         RoleAssistant,
		Model:        clientModel(req, resp.Model),
		Content:      blocks,
		StopReason:   &reason,
		StopSequence: seq,
		Usage:        UsageOf(usage),
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, usage, nil
}

// inputFromArguments turns a tool call's arguments string into a tool_use input: the object
// it holds, {} when it is empty, or the string itself when it is not a JSON object.
func inputFromArguments(args string) json.RawMessage {
	raw := bytes.TrimSpace([]byte(args))
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}")
	}
	if llm.FirstByte(raw) == '{' && json.Valid(raw) {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return buf.Bytes()
		}
	}
	b, _ := llm.Marshal(args) // a string always encodes
	return b
}

// stopFromFinish maps a chat finish_reason onto an Anthropic stop reason. A choice with tool
// calls stopped to use them, whatever the server said (Ollama says "stop"), unless it ran out
// of tokens. matched is the stop sequence that ended the text, when the server said which.
func stopFromFinish(finish string, toolCalls bool, matched string) (string, *string) {
	switch {
	case finish == openai.FinishLength:
		return StopMaxTokens, nil
	case finish == openai.FinishContentFilter:
		return StopRefusal, nil
	case toolCalls:
		return StopToolUse, nil
	case matched != "":
		return StopSequence, &matched
	default:
		return StopEndTurn, nil
	}
}

// matchedStop returns the stop sequence of the client's request that v (a choice's
// stop_reason, as vLLM reports it) names, or "".
func matchedStop(v gjson.Result, req []byte) string {
	if v.Type != gjson.String || v.Str == "" {
		return ""
	}
	for _, s := range gjson.GetBytes(req, "stop_sequences").Array() {
		if s.Str == v.Str {
			return v.Str
		}
	}
	return ""
}

// clientModel is the model the client asked for, which its answer names; fallback when the
// request named none.
func clientModel(req []byte, fallback string) string {
	if m := gjson.GetBytes(req, "model"); m.Type == gjson.String && m.Str != "" {
		return m.Str
	}
	return fallback
}

// messageID makes an Anthropic message id of a chat completion id. Clients tell messages
// apart by their id, so a missing one is made up.
func messageID(id string) string {
	if id == "" {
		return newID("msg_")
	}
	return "msg_" + strings.TrimPrefix(id, "chatcmpl-")
}

// newID returns prefix followed by 24 random characters.
func newID(prefix string) string {
	return prefix + rand.Text()[:24]
}

// MessagesToChatResponse converts an upstream Messages response into the chat completion the
// client expects; req is the client's chat request.
//
// Text blocks are joined, tool_use blocks become tool calls with their input as the arguments
// string, thinking becomes reasoning_content. prompt_tokens counts the cached tokens, which
// prompt_tokens_details.cached_tokens repeats.
func MessagesToChatResponse(req, body []byte) ([]byte, llm.Usage, error) {
	return messagesToChatResponse(req, body, time.Now())
}

func messagesToChatResponse(req, body []byte, now time.Time) ([]byte, llm.Usage, error) {
	if gjson.GetBytes(body, "type").Str == EventError {
		return nil, llm.Usage{}, upstreamError(body)
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: messages response: %w", llm.ErrInvalid, err)
	}
	var text, reasoning strings.Builder
	var details []openai.ReasoningDetail
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	for _, b := range resp.Content {
		switch b.Type {
		case BlockText:
			text.WriteString(b.Text)
		case BlockThinking:
			reasoning.WriteString(b.Thinking)
			if b.Signature != "" {
				details = append(details, openai.ReasoningDetail{Type: openai.DetailText, Text: b.Thinking, Signature: b.Signature, Format: DetailFormat})
			}
		case BlockRedactedThinking:
			details = append(details, openai.ReasoningDetail{Type: openai.DetailEncrypted, Data: b.Data, Format: DetailFormat})
		case BlockToolUse:
			args, err := compactJSON(b.Input)
			if err != nil {
				return nil, llm.Usage{}, fmt.Errorf("%w: tool_use input: %w", llm.ErrInvalid, err)
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = openai.TextContent(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	if len(details) > 0 {
		raw, err := llm.Marshal(details)
		if err != nil {
			return nil, llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
		}
		msg.ReasoningDetails = raw
	}
	stop := ""
	if resp.StopReason != nil {
		stop = *resp.StopReason
	}
	usage := resp.Usage.LLM()
	chatUsage := openai.UsageOf(usage)
	out := openai.ChatResponse{
		ID:      resp.ID,
		Object:  openai.ObjectChatCompletion,
		Created: now.Unix(),
		Model:   clientModel(req, resp.Model),
		Choices: []openai.ChatChoice{{Index: 0, Message: msg, FinishReason: finishFromStop(stop)}},
		Usage:   &chatUsage,
	}
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	return b, usage, nil
}

// finishFromStop maps an Anthropic stop reason onto a chat finish_reason.
func finishFromStop(stop string) string {
	switch stop {
	case StopMaxTokens, StopContextLimit:
		return openai.FinishLength
	case StopToolUse:
		return openai.FinishToolCalls
	case StopRefusal:
		return openai.FinishContentFilter
	default:
		return openai.FinishStop
	}
}

// upstreamError reads an Anthropic error body (or error event) into the error the client is
// shown, with the HTTP status that goes with its type.
func upstreamError(body []byte) error {
	status := http.StatusBadGateway
	switch gjson.GetBytes(body, "error.type").Str {
	case apierror.TypeInvalidRequest:
		status = http.StatusBadRequest
	case apierror.TypeAuthentication:
		status = http.StatusUnauthorized
	case apierror.TypePermission:
		status = http.StatusForbidden
	case apierror.TypeNotFound:
		status = http.StatusNotFound
	case apierror.TypeTooLarge:
		status = http.StatusRequestEntityTooLarge
	case apierror.TypeRateLimit:
		status = http.StatusTooManyRequests
	case apierror.TypeOverloaded:
		status = 529
	case apierror.TypeTimeout:
		status = http.StatusGatewayTimeout
	case apierror.TypeAPI:
		status = http.StatusInternalServerError
	}
	return apierror.FromUpstream("", status, body)
}
