package openai

import "encoding/json"

// EmbeddingsRequest is the body of POST /v1/embeddings. Members it does not name are kept in
// Extra and written back by MarshalJSON.
type EmbeddingsRequest struct {
	Model string `json:"model"`
	// Input is a string, an array of strings, an array of token ids, or an array of arrays of
	// token ids, kept as sent.
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"` // "float" or "base64"
	Dimensions     *int64          `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`

	// Extra holds the members of the JSON object that the fields above do not name.
	Extra map[string]json.RawMessage `json:"-"`
}

// EmbeddingsResponse is the answer to an embeddings request.
type EmbeddingsResponse struct {
	Object string          `json:"object"` // "list"
	Data   []Embedding     `json:"data"`
	Model  string          `json:"model"`
	Usage  EmbeddingsUsage `json:"usage"`
}

// Embedding is the embedding of one input.
type Embedding struct {
	Object string `json:"object"` // "embedding"
	Index  int    `json:"index"`
	// Embedding is an array of floats, or a base64 string of little-endian float32s when the
	// request asked for encoding_format "base64"; kept as sent.
	Embedding json.RawMessage `json:"embedding"`
}

// EmbeddingsUsage is the token usage of an embeddings request.
type EmbeddingsUsage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}
