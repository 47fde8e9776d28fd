package provider

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
)

// messagesProvider is an upstream of the Anthropic Messages format.
type messagesProvider struct {
	base
	url     *url.URL
	auth    auth
	version string // the operator's anthropic-version; "" sends the client's, or 2023-06-01
	betas   betaFilter
}

func (p *messagesProvider) NewRequest(ctx context.Context, body []byte, stream bool, clientHeader http.Header) (*http.Request, error) {
	body, err := p.body(body)
	if err != nil {
		return nil, err
	}
	return newCall(ctx, p.name, p.url.String(), body, p.header(acceptFor(stream), clientHeader))
}

// body is the request body as the upstream takes it: the client's, except that a system
// message inside the conversation, which only Anthropic's own API takes, becomes <system>
// text in a user turn at the same place on the other hosts of the format (Microsoft Foundry,
// Databricks, Z.AI).
func (p *messagesProvider) body(body []byte) ([]byte, error) {
	if p.name == "anthropic" {
		return body, nil
	}
	return anthropic.InlineSystemMessages(body)
}

// header forwards the client's headers that Anthropic's format defines (forwardHeaders), with
// the operator's anthropic-version if set and only the anthropic-beta flags the upstream takes.
func (p *messagesProvider) header(accept string, clientHeader http.Header) http.Header {
	h := newHeader(accept)
	forwardHeaders(h, clientHeader, llm.FormatAnthropic)
	v := p.version
	if v == "" {
		v = strings.TrimSpace(clientHeader.Get("anthropic-version"))
	}
	if v == "" {
		v = defaultAnthropicVersion
	}
	h.Set("anthropic-version", v)
	if b := p.betas.betas(clientHeader); len(b) > 0 {
		h.Set("anthropic-beta", strings.Join(b, ","))
	} else {
		h.Del("anthropic-beta")
	}
	p.auth.apply(h)
	return h
}

// messagesCounter is a Messages provider with Anthropic's count_tokens endpoint.
type messagesCounter struct {
	*messagesProvider
	count *url.URL
}

func (p *messagesCounter) NewCountTokensRequest(ctx context.Context, body []byte, clientHeader http.Header) (*http.Request, error) {
	body, err := p.body(body)
	if err != nil {
		return nil, err
	}
	return newCall(ctx, p.name, p.count.String(), body, p.header(contentJSON, clientHeader))
}

func newMessages(name string, u *url.URL, m *models, a auth) *messagesProvider {
	return &messagesProvider{
		base: base{name: name, format: llm.FormatAnthropic, models: m, endpoint: config.RedactURL(u.String())},
		url:  u, auth: a, betas: betaPolicy(name),
	}
}

// buildAnthropic: ANTHROPIC_API_KEY (required, sent as x-api-key), ANTHROPIC_ENDPOINT
// (default https://api.anthropic.com/v1/messages), ANTHROPIC_MODEL (default none: the
// client's model passes through). count_tokens beside the endpoint.
func buildAnthropic(e env, c choice) (Provider, error) {
	const example = "https://api.anthropic.com/v1/messages"
	key, err := e.secret("ANTHROPIC_API_KEY", c)
	if err != nil {
		return nil, err
	}
	u, err := messagesURL("ANTHROPIC_ENDPOINT", e.or("ANTHROPIC_ENDPOINT", example), example)
	if err != nil {
		return nil, err
	}
	m, err := e.models(c, "ANTHROPIC", e.get("ANTHROPIC_MODEL"), isClaude)
	if err != nil {
		return nil, err
	}
	return &messagesCounter{messagesProvider: newMessages("anthropic", u, m, xAPIKey(key)), count: countTokensURL(u)}, nil
}

// buildAzureAnthropic: AZURE_ANTHROPIC_ENDPOINT (required: the Foundry messages URL
// https://<resource>.services.ai.azure.com/anthropic/v1/messages, or that URL without
// /v1/messages) and AZURE_ANTHROPIC_API_KEY (required, sent as x-api-key),
// AZURE_ANTHROPIC_VERSION (when set, sent instead of the client's anthropic-version),
// AZURE_ANTHROPIC_MODEL or Lynkr's MODEL_DEFAULT (default claude-opus-4-5). Claude on Foundry
// runs Anthropic's API, count_tokens included.
func buildAzureAnthropic(e env, c choice) (Provider, error) {
	const example = "https://<resource>.services.ai.azure.com/anthropic/v1/messages"
	key, err := e.secret("AZURE_ANTHROPIC_API_KEY", c)
	if err != nil {
		return nil, err
	}
	raw := e.get("AZURE_ANTHROPIC_ENDPOINT")
	if raw == "" {
		return nil, required("AZURE_ANTHROPIC_ENDPOINT", c.why)
	}
	u, err := messagesURL("AZURE_ANTHROPIC_ENDPOINT", raw, example)
	if err != nil {
		return nil, err
	}
	m, err := e.models(c, "AZURE_ANTHROPIC", e.or("AZURE_ANTHROPIC_MODEL", e.or("MODEL_DEFAULT", "claude-opus-4-5")), isClaude)
	if err != nil {
		return nil, err
	}
	p := newMessages("azure-anthropic", u, m, xAPIKey(key))
	p.version = e.get("AZURE_ANTHROPIC_VERSION")
	return &messagesCounter{messagesProvider: p, count: countTokensURL(u)}, nil
}

// buildDatabricks: DATABRICKS_API_BASE (required, the workspace URL) and DATABRICKS_API_KEY
// (required, sent as a bearer token), DATABRICKS_ENDPOINT_PATH (default
// /serving-endpoints/databricks-claude-sonnet-4-5/invocations), joined as Lynkr joins them;
// DATABRICKS_MODEL or Lynkr's MODEL_DEFAULT (default databricks-claude-sonnet-4-5).
//
// The path decides the format. Databricks serves Claude's Anthropic Messages API under
// /serving-endpoints/anthropic (and /ai-gateway/anthropic); a path containing /anthropic is
// that API (…/v1/messages added when missing). Any other path, the default …/invocations
// included, is a serving endpoint's invocations URL, which speaks the OpenAI chat format.
func buildDatabricks(e env, c choice) (Provider, error) {
	const example = "https://<workspace>.cloud.databricks.com"
	key, err := e.secret("DATABRICKS_API_KEY", c)
	if err != nil {
		return nil, err
	}
	rawBase := strings.TrimSuffix(e.get("DATABRICKS_API_BASE"), "/")
	if rawBase == "" {
		return nil, required("DATABRICKS_API_BASE", c.why)
	}
	if _, err := parseHTTPURL("DATABRICKS_API_BASE", rawBase, example); err != nil {
		return nil, err
	}
	path := e.or("DATABRICKS_ENDPOINT_PATH", "/serving-endpoints/databricks-claude-sonnet-4-5/invocations")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	m, err := e.models(c, "DATABRICKS", e.or("DATABRICKS_MODEL", e.or("MODEL_DEFAULT", "databricks-claude-sonnet-4-5")),
		func(s string) bool { return hasPrefixFold(s, "databricks-", "system.ai.") })
	if err != nil {
		return nil, err
	}
	if strings.Contains(path, "/anthropic") {
		u, err := messagesURL("DATABRICKS_ENDPOINT_PATH", rawBase+path, example+"/serving-endpoints/anthropic/v1/messages")
		if err != nil {
			return nil, err
		}
		return newMessages("databricks", u, m, bearer(key)), nil
	}
	u, err := parseHTTPURL("DATABRICKS_ENDPOINT_PATH", rawBase+path, example+"/serving-endpoints/<endpoint>/invocations")
	if err != nil {
		return nil, err
	}
	return newChat("databricks", u, m, bearer(key)), nil
}

// buildZAI: ZAI_API_KEY (required, sent as a bearer token), ZAI_ENDPOINT (default
// https://api.z.ai/api/anthropic/v1/messages; a …/chat/completions URL speaks the OpenAI chat
// format, as in Lynkr), ZAI_MODEL (default GLM-4.7, sent lower-case as Lynkr does). As in
// Lynkr, claude haiku names go to glm-4.5-air unless ZAI_MODEL_MAP says otherwise.
func buildZAI(e env, c choice) (Provider, error) {
	const example = "https://api.z.ai/api/anthropic/v1/messages"
	key, err := e.secret("ZAI_API_KEY", c)
	if err != nil {
		return nil, err
	}
	raw := e.or("ZAI_ENDPOINT", example)
	m, err := e.models(c, "ZAI", strings.ToLower(e.or("ZAI_MODEL", "GLM-4.7")), func(s string) bool { return hasPrefixFold(s, "glm-") })
	if err != nil {
		return nil, err
	}
	if e.get("ZAI_MODEL_MAP") == "" {
		m.entries = append(m.entries, mapEntry{pattern: "claude-haiku-*", model: "glm-4.5-air"}, mapEntry{pattern: "claude-3-haiku*", model: "glm-4.5-air"})
	}
	if u, err := parseHTTPURL("ZAI_ENDPOINT", raw, example); err == nil && isChatPath(u) {
		return newChat("zai", u, m, bearer(key)), nil
	}
	u, err := messagesURL("ZAI_ENDPOINT", raw, example)
	if err != nil {
		return nil, err
	}
	return newMessages("zai", u, m, bearer(key)), nil
}
