package openai

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lynkr/lynkr/pkg/llm"
)

// The types below keep the members of a JSON object their fields do not name, so a request
// decoded and encoded again loses nothing a client or server added.

type chatRequest ChatRequest // without methods, for the default encoding

// UnmarshalJSON decodes the request and keeps its unknown members in Extra.
func (r *ChatRequest) UnmarshalJSON(b []byte) error {
	extra, err := decodeWithExtra(b, (*chatRequest)(r), isChatRequestKey)
	r.Extra = extra
	return err
}

// MarshalJSON encodes the request with the members of Extra after the known ones.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	return encodeWithExtra(chatRequest(r), r.Extra)
}

type chatMessage ChatMessage

// UnmarshalJSON decodes the message and keeps its unknown members in Extra.
func (m *ChatMessage) UnmarshalJSON(b []byte) error {
	extra, err := decodeWithExtra(b, (*chatMessage)(m), isChatMessageKey)
	m.Extra = extra
	return err
}

// MarshalJSON encodes the message with the members of Extra after the known ones.
func (m ChatMessage) MarshalJSON() ([]byte, error) {
	return encodeWithExtra(chatMessage(m), m.Extra)
}

type embeddingsRequest EmbeddingsRequest

// UnmarshalJSON decodes the request and keeps its unknown members in Extra.
func (r *EmbeddingsRequest) UnmarshalJSON(b []byte) error {
	extra, err := decodeWithExtra(b, (*embeddingsRequest)(r), isEmbeddingsRequestKey)
	r.Extra = extra
	return err
}

// MarshalJSON encodes the request with the members of Extra after the known ones.
func (r EmbeddingsRequest) MarshalJSON() ([]byte, error) {
	return encodeWithExtra(embeddingsRequest(r), r.Extra)
}

func isChatRequestKey(k string) bool {
	switch k {
	case "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
		"temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "seed",
		"logprobs", "top_logprobs", "logit_bias", "user", "tools", "tool_choice",
		"parallel_tool_calls", "response_format", "reasoning_effort", "verbosity", "metadata",
		"store", "service_tier", "prompt_cache_key", "safety_identifier", "modalities":
		return true
	}
	return false
}

func isChatMessageKey(k string) bool {
	switch k {
	case "role", "content", "name", "tool_calls", "tool_call_id", "refusal", "reasoning_content",
		"reasoning", "reasoning_details", "annotations", "audio":
		return true
	}
	return false
}

func isEmbeddingsRequestKey(k string) bool {
	switch k {
	case "model", "input", "encoding_format", "dimensions", "user":
		return true
	}
	return false
}

// decodeWithExtra decodes the JSON object b into v, a pointer to a struct type without an
// UnmarshalJSON of its own, and returns the members of b that known does not name.
func decodeWithExtra(b []byte, v any, known func(string) bool) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	var extra map[string]json.RawMessage
	for k, val := range all {
		if known(k) {
			continue
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage)
		}
		extra[k] = val
	}
	return extra, nil
}

// encodeWithExtra encodes v, which must encode as a JSON object, and appends the members of
// extra in the order of their names.
func encodeWithExtra(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := llm.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = b[:len(b)-1] // the closing brace
	for _, k := range keys {
		val := extra[k]
		if !json.Valid(val) {
			return nil, fmt.Errorf("%w: member %q is not valid JSON", llm.ErrInvalid, k)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b = append(b, kb...)
		b = append(b, ':')
		b = append(b, val...)
	}
	return append(b, '}'), nil
}
