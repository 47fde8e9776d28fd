// Package llm names the wire formats lynkr speaks and the values that are common to all of
// them. The formats themselves live in the subpackages anthropic, openai and responses.
package llm

import "errors"

// Format is an API wire format, on the client side or on the upstream side.
type Format string

// The formats lynkr speaks.
const (
	FormatAnthropic Format = "anthropic"        // Anthropic Messages API
	FormatChat      Format = "openai-chat"      // OpenAI Chat Completions API
	FormatResponses Format = "openai-responses" // OpenAI Responses API
	FormatConverse  Format = "bedrock-converse" // AWS Bedrock Converse API (upstream only)
)

// Usage is the token accounting of one answer, in the units every format shares.
type Usage struct {
	InputTokens       int64 // prompt tokens, cached ones included
	OutputTokens      int64
	CacheReadTokens   int64 // prompt tokens served from the provider's prompt cache
	CacheCreateTokens int64 // prompt tokens written to the provider's prompt cache
}

// Add accumulates u2 into u.
func (u *Usage) Add(u2 Usage) {
	u.InputTokens += u2.InputTokens
	u.OutputTokens += u2.OutputTokens
	u.CacheReadTokens += u2.CacheReadTokens
	u.CacheCreateTokens += u2.CacheCreateTokens
}

// ErrInvalid marks a request or response that is malformed. Errors wrapping it describe what
// is wrong in words a client can act on.
var ErrInvalid = errors.New("invalid input")

// ErrTruncated marks an upstream stream that ended before its format's closing event.
var ErrTruncated = errors.New("upstream stream ended before it was complete")

// Summary is what the gateway needs to know of a valid request to route it.
type Summary struct {
	Model  string
	Stream bool
}

// EstimateTokens is a deliberately high estimate of the tokens in n bytes of prompt JSON, for
// when no tokenizer is at hand: callers use it to decide when to compact a conversation, and an
// estimate on the low side would let the conversation overflow the model's window.
func EstimateTokens(n int) int64 { return int64(n+2) / 3 }
