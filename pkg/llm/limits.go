package llm

import "strings"

// outputLimits are the most output tokens each model family may be asked for, by name
// prefix, longest prefix first within a family: the real APIs refuse a max_tokens above the
// model's limit (Claude Code asks for 64000, which a 16384-token model refuses with a 400).
var outputLimits = []struct {
	prefix string
	limit  int64
}{
	{"gpt-4o-mini", 16384},
	{"gpt-4o", 16384},
	{"gpt-4.1", 32768},
	{"gpt-4-turbo", 4096},
	{"gpt-4", 8192},
	{"gpt-3.5-turbo", 4096},
	{"gpt-5", 128000},
	{"o1-mini", 65536},
	{"o1", 100000},
	{"o3", 100000},
	{"o4-mini", 100000},
	{"claude-3-haiku", 4096},
	{"claude-3-opus", 4096},
	{"claude-3-5", 8192},
	{"claude-3-7-sonnet", 64000},
	{"claude-opus-4-1", 32000},
	{"claude-opus-4-2025", 32000},
	{"claude-opus-4-5", 64000},
	{"claude-sonnet-4", 64000},
	{"claude-haiku-4", 64000},
}

// IsReasoningModel tells OpenAI's reasoning models (o1, o3, o4, gpt-5 and the codex models),
// which take max_completion_tokens and a reasoning effort, and refuse max_tokens and a
// temperature other than 1. The model may carry a provider's prefix ("openai/gpt-5").
func IsReasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "codex"} {
		if m == p || strings.HasPrefix(m, p+"-") || strings.HasPrefix(m, p+".") {
			return true
		}
	}
	return false
}

// ClampOutputTokens returns n, or the output limit of model when lynkr knows it and n is
// larger. The model may carry a provider's prefix ("openai/gpt-4o").
func ClampOutputTokens(model string, n int64) int64 {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, l := range outputLimits {
		if strings.HasPrefix(m, l.prefix) {
			return min(n, l.limit)
		}
	}
	return n
}
