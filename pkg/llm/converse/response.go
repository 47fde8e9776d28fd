package converse

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// errResponse marks a Converse answer this package cannot read: the upstream's fault, not the
// client's, so it does not wrap llm.ErrInvalid.
var errResponse = errors.New("malformed Converse response")

// ConverseToMessagesResponse converts a Converse response into an Anthropic message, answering
// req (the client's Messages request, whose model name the answer repeats). Text, toolUse and
// reasoningContent blocks become text, tool_use and thinking / redacted_thinking blocks; the
// stopReason maps as stopReason describes; usage keeps cached tokens apart as Anthropic does.
// The returned usage is the upstream's.
func ConverseToMessagesResponse(req, body []byte) ([]byte, llm.Usage, error) {
	if !gjson.ValidBytes(body) {
		return nil, llm.Usage{}, fmt.Errorf("%w: not JSON", errResponse)
	}
	root := gjson.ParseBytes(body)
	msg := root.Get("output.message")
	if !msg.IsObject() {
		return nil, llm.Usage{}, fmt.Errorf("%w: no output.message", errResponse)
	}
	out := anthropicMessage{
		ID:      newMessageID(),
		Type:    "message",
		Role:    "assistant",
		Model:   gjson.GetBytes(req, "model").String(),
		Content: []anthropicBlock{},
	}
	for _, c := range msg.Get("content").Array() {
		if b, ok := blockFrom(c); ok {
			out.Content = append(out.Content, b)
		}
	}
	reason := stopReason(root.Get("stopReason").String())
	out.StopReason = &reason
	if s := root.Get("additionalModelResponseFields.stop_sequence"); s.Type == gjson.String && reason == "stop_sequence" {
		seq := s.String()
		out.StopSequence = &seq
	}
	usage := usageFrom(root.Get("usage"))
	out.Usage = anthropicUsageOf(usage)
	b, err := llm.Marshal(out)
	if err != nil {
		return nil, llm.Usage{}, fmt.Errorf("%w: %w", errResponse, err)
	}
	return b, usage, nil
}

// blockFrom converts one Converse content block; false for kinds Anthropic has no block for.
func blockFrom(c gjson.Result) (anthropicBlock, bool) {
	if t := c.Get("text"); t.Exists() {
		s := t.String()
		return anthropicBlock{Type: "text", Text: &s}, true
	}
	if tu := c.Get("toolUse"); tu.IsObject() {
		input := json.RawMessage("{}")
		if in := tu.Get("input"); in.Exists() && in.Type != gjson.Null {
			input = json.RawMessage(in.Raw)
		}
		return anthropicBlock{Type: "tool_use", ID: tu.Get("toolUseId").String(), Name: tu.Get("name").String(), Input: input}, true
	}
	rc := c.Get("reasoningContent")
	if rt := rc.Get("reasoningText"); rt.IsObject() {
		text, sig := rt.Get("text").String(), rt.Get("signature").String()
		return anthropicBlock{Type: "thinking", Thinking: &text, Signature: &sig}, true
	}
	if rd := rc.Get("redactedContent"); rd.Exists() {
		data := rd.String()
		return anthropicBlock{Type: "redacted_thinking", Data: &data}, true
	}
	return anthropicBlock{}, false
}
