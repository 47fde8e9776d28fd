package responses

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
)

// A reasoning item's encrypted_content is opaque to the client, which hands it back on the
// next turn. When the reasoning came from another provider (Claude's signed thinking, say),
// lynkr puts there what that provider needs to take it back: the reasoning detail, as
// OpenRouter's reasoning_details carry it, encoded behind reasoningPrefix. Anything else is
// OpenAI's own, and only an OpenAI upstream can read it.
const reasoningPrefix = "lynkr.r1."

// EncodeReasoning is the encrypted_content that carries details.
func EncodeReasoning(details []openai.ReasoningDetail) string {
	raw, _ := llm.Marshal(details)
	return reasoningPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

// DecodeReasoning reads an encrypted_content made by EncodeReasoning; ok is false for any
// other (OpenAI's own).
func DecodeReasoning(s string) (details []openai.ReasoningDetail, ok bool) {
	rest, found := strings.CutPrefix(s, reasoningPrefix)
	if !found {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(raw, &details) != nil || len(details) == 0 {
		return nil, false
	}
	return details, true
}

// carried returns the reasoning details of a chat message that another provider needs back
// (signed or encrypted reasoning), none when raw holds none.
func carried(raw json.RawMessage) []openai.ReasoningDetail {
	if len(raw) == 0 || llm.FirstByte(raw) != '[' {
		return nil
	}
	var all []openai.ReasoningDetail
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	var out []openai.ReasoningDetail
	for _, d := range all {
		if d.Signature != "" || d.Type == openai.DetailEncrypted && d.Data != "" {
			out = append(out, d)
		}
	}
	return out
}
