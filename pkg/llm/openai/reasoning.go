package openai

// ReasoningDetail is one element of a message's reasoning_details, as OpenRouter writes them:
// the reasoning of a model, kept whole with what its provider needs to take it back (Claude's
// signature, an encrypted blob), so a conversation can carry it to the next turn.
type ReasoningDetail struct {
	Type      string `json:"type"`
	Text      string `json:"text,omitempty"`
	Summary   string `json:"summary,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`
	ID        string `json:"id,omitempty"`
	Format    string `json:"format,omitempty"`
	Index     *int   `json:"index,omitempty"`
}

// Types of reasoning details.
const (
	DetailText      = "reasoning.text"      // Text, with the Signature that vouches for it
	DetailSummary   = "reasoning.summary"   // Summary
	DetailEncrypted = "reasoning.encrypted" // Data, opaque
)
