package fakeupstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// fingerprint is the system_fingerprint of every OpenAI-format answer.
const fingerprint = "fp_fake0000001"

// openAIBody renders a non-streaming chat.completion, pretty-printed as OpenAI sends it.
func (c *compiled) openAIBody(model string) []byte {
	b := []byte(`{"id":`)
	b = appendString(b, c.chatID)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = appendInt(b, c.created)
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	text := strings.Join(c.text, "")
	if text == "" && len(c.tools) > 0 {
		b = append(b, "null"...)
	} else {
		b = appendString(b, text)
	}
	if len(c.thinking) > 0 {
		b = append(b, `,"reasoning_content":`...)
		b = appendString(b, strings.Join(c.thinking, ""))
	}
	if len(c.tools) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, t := range c.tools {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendString(b, t.openAIID)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendString(b, t.name)
			b = append(b, `,"arguments":`...)
			b = appendString(b, t.args)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":`...)
	b = appendString(b, c.finish)
	b = append(b, `}],"usage":`...)
	b = c.appendOpenAIUsage(b)
	b = append(b, `,"service_tier":"default","system_fingerprint":"`+fingerprint+`"}`...)
	return indent(b, "  ")
}

func (c *compiled) appendOpenAIUsage(b []byte) []byte {
	u := c.usage
	prompt := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, prompt)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, u.OutputTokens)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, prompt+u.OutputTokens)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.CacheReadTokens)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, u.ReasoningTokens)
	return append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// openAIEvents renders a chat.completion.chunk stream: a role chunk, reasoning and content
// deltas, each tool call's header then argument fragments, the finish_reason chunk, with
// usage a usage-only chunk (choices: []) — every other chunk then carries "usage":null —
// and the [DONE] sentinel.
func (c *compiled) openAIEvents(model string, usage bool) [][]byte {
	head := []byte(`{"id":`)
	head = appendString(head, c.chatID)
	head = append(head, `,"object":"chat.completion.chunk","created":`...)
	head = appendInt(head, c.created)
	head = append(head, `,"model":`...)
	head = appendString(head, model)
	head = append(head, `,"service_tier":"default","system_fingerprint":"`+fingerprint+`","choices":[`...)

	var events [][]byte
	chunk := func(delta []byte, finish string) {
		b := append([]byte(nil), head...)
		b = append(b, `{"index":0,"delta":`...)
		b = append(b, delta...)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
		if finish == "" {
			b = append(b, "null"...)
		} else {
			b = appendString(b, finish)
		}
		b = append(b, "}]"...)
		if usage {
			b = append(b, `,"usage":null`...)
		}
		events = append(events, sseData(append(b, '}')))
	}
	field := func(name, value string) []byte {
		b := append([]byte(`{"`), name...)
		b = append(b, `":`...)
		return append(appendString(b, value), '}')
	}

	if len(c.text) == 0 && len(c.tools) > 0 {
		// a tool-only answer never opens content, so clients see no content to finish
		chunk([]byte(`{"role":"assistant","content":null,"refusal":null}`), "")
	} else {
		chunk([]byte(`{"role":"assistant","content":"","refusal":null}`), "")
	}
	for _, d := range c.thinking {
		chunk(field("reasoning_content", d), "")
	}
	for _, d := range c.text {
		chunk(field("content", d), "")
	}
	for i, t := range c.tools {
		b := []byte(`{"tool_calls":[{"index":`)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"id":`...)
		b = appendString(b, t.openAIID)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendString(b, t.name)
		chunk(append(b, `,"arguments":""}}]}`...), "")
		for _, f := range t.frags {
			b := []byte(`{"tool_calls":[{"index":`)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"function":{"arguments":`...)
			b = appendString(b, f)
			chunk(append(b, "}}]}"...), "")
		}
	}
	chunk([]byte("{}"), c.finish)
	if usage {
		b := append([]byte(nil), head...)
		b = append(b, `],"usage":`...)
		b = c.appendOpenAIUsage(b)
		events = append(events, sseData(append(b, '}')))
	}
	return append(events, sseData([]byte("[DONE]")))
}

// openAIError renders OpenAI's error body, pretty-printed with four spaces as OpenAI sends it.
func openAIError(status int, f *Fault) []byte {
	typ, code, msg := "invalid_request_error", "", "Invalid request."
	switch {
	case status == 401:
		code, msg = "invalid_api_key", "Incorrect API key provided."
	case status == 403:
		msg = "You are not allowed to access this resource."
	case status == 404:
		code, msg = "model_not_found", "The model does not exist or you do not have access to it."
	case status == 405:
		msg = "Method not allowed."
	case status == 429:
		typ, code, msg = "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."
	case status == 503:
		typ, msg = "server_error", "The server is overloaded or not ready yet."
	case status >= 500:
		typ, msg = "server_error", "The server had an error while processing your request. Sorry about that!"
	}
	if f != nil {
		typ, code, msg = or(f.Type, typ), or(f.Code, code), or(f.Message, msg)
	}
	return indent(openAIErrorObject(typ, code, msg), "    ")
}

func openAIErrorObject(typ, code, msg string) []byte {
	b := []byte(`{"error":{"message":`)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, code)
	}
	return append(b, "}}"...)
}

// defaultEmbeddingDims is the vector length when a request names none
// (text-embedding-3-small's).
const defaultEmbeddingDims = 1536

var errNoInput = errors.New("'input' is a required property")

// embeddingsBody answers an embeddings request: one deterministic unit vector per input,
// derived from the input's bytes, as floats or base64 little-endian float32s.
func embeddingsBody(body []byte, model string) ([]byte, error) {
	var req struct {
		Input          json.RawMessage `json:"input"`
		Dimensions     int             `json:"dimensions"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	inputs, err := embeddingInputs(req.Input)
	if err != nil {
		return nil, err
	}
	dims := req.Dimensions
	if dims <= 0 {
		dims = defaultEmbeddingDims
	}
	vec := make([]float32, dims)
	raw := make([]byte, 4*dims)
	var tokens int64
	b := []byte(`{"object":"list","data":[`)
	for i, in := range inputs {
		tokens += int64(len(in)/4 + 1)
		embed(vec, in)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = appendInt(b, int64(i))
		b = append(b, `,"embedding":`...)
		if req.EncodingFormat == "base64" {
			for j, v := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, v := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(v), 'g', -1, 64)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = appendInt(b, tokens)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, tokens)
	return indent(append(b, "}}"...), "  "), nil
}

// embeddingInputs accepts the input forms OpenAI does: a string, strings, a token array, or
// token arrays. Each input is returned as the bytes its vector derives from.
func embeddingInputs(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many, nil
	}
	var tokens []int64
	if json.Unmarshal(raw, &tokens) == nil && len(tokens) > 0 {
		return []string{string(raw)}, nil
	}
	var batches []json.RawMessage
	if json.Unmarshal(raw, &batches) == nil && len(batches) > 0 {
		out := make([]string, len(batches))
		for i, t := range batches {
			if json.Unmarshal(t, &tokens) != nil {
				return nil, errNoInput
			}
			out[i] = string(t)
		}
		return out, nil
	}
	return nil, errNoInput
}

// embed fills vec with a unit vector derived from in.
func embed(vec []float32, in string) {
	h := fnv.New64a()
	h.Write([]byte(in))
	state := h.Sum64()
	var norm float64
	for i := range vec {
		state += 0x9e3779b97f4a7c15 // splitmix64
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		v := float64(z>>11)/(1<<53)*2 - 1
		vec[i] = float32(v)
		norm += v * v
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return
	}
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
}

// openAIModels renders GET /v1/models.
func openAIModels(ids []string, created int64) []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, id)
		b = append(b, `,"object":"model","created":`...)
		b = appendInt(b, created)
		b = append(b, `,"owned_by":"system"}`...)
	}
	return indent(append(b, "]}"...), "  ")
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
