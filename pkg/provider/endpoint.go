package provider

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/lynkr/lynkr/pkg/config"
)

// parseHTTPURL parses the value of variable name as an absolute http(s) URL. example is what
// the error suggests instead.
func parseHTTPURL(name, raw, example string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid(name, fmt.Sprintf("expected an http(s) URL such as %s, got %s", example, quoteURL(raw)))
	}
	if u.Fragment != "" {
		return nil, invalid(name, fmt.Sprintf("expected a URL without a #fragment, got %s", quoteURL(raw)))
	}
	return u, nil
}

// quoteURL quotes a configured URL for an error message, without what may carry a credential
// (user information, the query: config.RedactURL); an unparsable value that might hold one is
// not repeated.
func quoteURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if u.User == nil && u.RawQuery == "" {
			return fmt.Sprintf("%q", raw) // as the operator wrote it, not re-escaped
		}
		return fmt.Sprintf("%q", config.RedactURL(raw))
	}
	if strings.Contains(raw, "@") {
		return "a value that is not a URL"
	}
	return fmt.Sprintf("%q", raw)
}

// chatURL reads an OpenAI-compatible endpoint variable. It accepts the full chat completions
// URL (https://api.openai.com/v1/chat/completions, as Lynkr takes it), a base URL
// (http://localhost:11434, as Lynkr takes OLLAMA_ENDPOINT, LLAMACPP_ENDPOINT and
// LMSTUDIO_ENDPOINT), to which /v1/chat/completions is added, or a URL ending in /v1, to
// which /chat/completions is added.
func chatURL(name, raw, example string) (*url.URL, error) {
	u, err := parseHTTPURL(name, raw, example)
	if err != nil {
		return nil, err
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
	case p == "":
		p = "/v1/chat/completions"
	case strings.HasSuffix(p, "/v1"):
		p += "/chat/completions"
	default:
		return nil, invalid(name, fmt.Sprintf("expected the chat completions URL (…/v1/chat/completions) or a base URL such as %s, got %s", example, quoteURL(raw)))
	}
	u.Path, u.RawPath = p, ""
	return u, nil
}

// responsesURL reads an OpenAI-compatible endpoint variable for the Responses API. It accepts
// the full Responses URL (https://api.openai.com/v1/responses), a base URL, to which
// /v1/responses is added, a URL ending in /v1, to which /responses is added, or a chat
// completions URL (…/v1/chat/completions, the endpoint of OPENAI_API=chat), whose
// /chat/completions becomes /responses.
func responsesURL(name, raw, example string) (*url.URL, error) {
	u, err := parseHTTPURL(name, raw, example)
	if err != nil {
		return nil, err
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/responses"):
	case p == "":
		p = "/v1/responses"
	case strings.HasSuffix(p, "/v1"):
		p += "/responses"
	case strings.HasSuffix(p, "/chat/completions"):
		p = strings.TrimSuffix(p, "/chat/completions") + "/responses"
	default:
		return nil, invalid(name, fmt.Sprintf("expected the Responses URL (…/v1/responses) or a base URL such as %s, got %s", example, quoteURL(raw)))
	}
	u.Path, u.RawPath = p, ""
	return u, nil
}

// isResponsesPath reports an endpoint of the OpenAI Responses API.
func isResponsesPath(u *url.URL) bool {
	return strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/responses")
}

// compactURL is the Responses API's compaction endpoint beside a Responses URL, its query
// (Azure's api-version) kept.
func compactURL(responses *url.URL) *url.URL {
	u := *responses
	u.Path = strings.TrimSuffix(u.Path, "/") + "/compact"
	u.RawPath = ""
	return &u
}

// embeddingsURL is the OpenAI embeddings endpoint beside a chat completions or Responses URL.
func embeddingsURL(chat *url.URL) *url.URL {
	u := *chat
	p := strings.TrimSuffix(u.Path, "/")
	if before, ok := strings.CutSuffix(p, "/chat/completions"); ok {
		p = before
	} else {
		p = strings.TrimSuffix(p, "/responses")
	}
	u.Path = p + "/embeddings"
	u.RawPath = ""
	return &u
}

// messagesURL reads an Anthropic Messages endpoint variable. It accepts the full messages URL
// (https://api.anthropic.com/v1/messages, https://<resource>.services.ai.azure.com/anthropic/v1/messages),
// a base URL, or a URL ending in /anthropic (as Azure and Databricks print them), to which
// /v1/messages is added, or one ending in /v1, to which /messages is added.
func messagesURL(name, raw, example string) (*url.URL, error) {
	u, err := parseHTTPURL(name, raw, example)
	if err != nil {
		return nil, err
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/v1/messages"):
	case p == "", strings.HasSuffix(p, "/anthropic"):
		p += "/v1/messages"
	case strings.HasSuffix(p, "/v1"):
		p += "/messages"
	default:
		return nil, invalid(name, fmt.Sprintf("expected the messages URL (…/v1/messages) or a base URL such as %s, got %s", example, quoteURL(raw)))
	}
	u.Path, u.RawPath = p, ""
	return u, nil
}

// countTokensURL is Anthropic's count_tokens endpoint beside a messages URL.
func countTokensURL(messages *url.URL) *url.URL {
	u := *messages
	u.Path += "/count_tokens"
	u.RawPath = ""
	return &u
}

// isChatPath reports an endpoint of the OpenAI chat completions format.
func isChatPath(u *url.URL) bool {
	return strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/chat/completions")
}
