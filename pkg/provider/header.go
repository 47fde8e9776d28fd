package provider

import (
	"net/http"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
	allow "github.com/lynkr/lynkr/pkg/llm/header"
)

// userAgent is the User-Agent of every upstream call.
const userAgent = "lynkr"

// defaultAnthropicVersion is the anthropic-version sent when neither the client nor the
// operator chose one.
const defaultAnthropicVersion = "2023-06-01"

// Content types of the calls and their answers.
const (
	contentJSON        = "application/json"
	contentEventStream = "text/event-stream"
	contentAWSStream   = "application/vnd.amazon.eventstream"
)

// newHeader returns the headers every call carries. The client's own headers are never the
// starting point, so its Authorization, x-api-key and cookies cannot leak upstream.
func newHeader(accept string) http.Header {
	h := make(http.Header, 8)
	h.Set("Content-Type", contentJSON)
	h.Set("Accept", accept)
	h.Set("User-Agent", userAgent)
	return h
}

// forwardHeaders sets on dst the client's headers that an upstream speaking format f takes,
// by the allow-list of package header: anthropic-* and X-Claude-Code-Session-Id to Anthropic's
// format; OpenAI-*, session-id, thread-id, originator and x-client-request-id to OpenAI's (chat
// and Responses); never a credential. Call it right after newHeader, before the provider's
// fixed headers (OPENAI_ORGANIZATION's OpenAI-Organization) and its credential, which win.
func forwardHeaders(dst, clientHeader http.Header, f llm.Format) {
	allow.Forward(dst, clientHeader, f)
}

func acceptFor(stream bool) string {
	if stream {
		return contentEventStream
	}
	return contentJSON
}

// betaFilter says which anthropic-beta flags reach an upstream: with allow set, only those;
// otherwise all but deny.
type betaFilter struct {
	allow map[string]bool
	deny  map[string]bool
}

func (f betaFilter) keep(flag string) bool {
	if f.allow != nil {
		return f.allow[flag]
	}
	return !f.deny[flag]
}

// betas returns the client's anthropic-beta flags the upstream can take, in the client's order.
func (f betaFilter) betas(clientHeader http.Header) []string {
	var out []string
	for _, v := range clientHeader.Values("anthropic-beta") {
		for flag := range strings.SplitSeq(v, ",") {
			flag = strings.TrimSpace(flag)
			if flag != "" && f.keep(flag) {
				out = append(out, flag)
			}
		}
	}
	return out
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// betaPolicy is the beta-flag map: the anthropic-beta flags each Anthropic-format upstream
// cannot take. oauth-2025-04-20 goes nowhere: it asks for OAuth authentication, and lynkr
// replaces the client's credential with the provider's key. Flags for features that run on
// Anthropic's own servers (Files API, MCP connector, skills, code execution, web fetch/search)
// and flags a platform rejects are dropped for the platforms that host Claude elsewhere.
// Bedrock takes only the flags it documents, sent in the body as anthropic_beta.
func betaPolicy(provider string) betaFilter {
	switch provider {
	case "anthropic":
		return betaFilter{deny: set("oauth-2025-04-20")}
	case "azure-anthropic":
		return betaFilter{deny: set(
			"oauth-2025-04-20",
			"fine-grained-tool-streaming-2025-05-14",
			"token-efficient-tools-2025-02-19",
			"output-128k-2025-02-19",
			"fast-mode-2026-02-01",
			"compact-2026-01-12",
			"mcp-servers-2025-12-04",
			"advisor-tool-2026-03-01",
		)}
	case "databricks":
		return betaFilter{deny: set(
			"oauth-2025-04-20",
			"mcp-servers-2025-12-04",
			"advisor-tool-2026-03-01",
			"dangerous-tool-use-2026-09-03",
			"per-turn-control-2026-07-01",
		)}
	case "zai":
		return betaFilter{deny: set(
			"oauth-2025-04-20",
			"files-api-2025-04-14",
			"mcp-client-2025-04-04",
			"mcp-client-2025-11-20",
			"mcp-servers-2025-12-04",
			"skills-2025-10-02",
			"code-execution-2025-05-22",
			"code-execution-2025-08-25",
			"web-fetch-2025-09-10",
			"web-search-2025-03-05",
			"context-management-2025-06-27",
			"advisor-tool-2026-03-01",
		)}
	case "bedrock":
		return betaFilter{allow: set(
			"interleaved-thinking-2025-05-14",
			"context-1m-2025-08-07",
			"computer-use-2025-01-24",
			"computer-use-2025-11-24",
			"token-efficient-tools-2025-02-19",
			"fine-grained-tool-streaming-2025-05-14",
			"effort-2025-11-24",
		)}
	default: // chat-format providers take no anthropic-beta at all
		return betaFilter{allow: map[string]bool{}}
	}
}
