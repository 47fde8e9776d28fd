package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
)

// chatProvider is an upstream of the OpenAI Chat Completions format.
type chatProvider struct {
	base
	url   *url.URL
	auth  auth
	extra http.Header // fixed headers of this provider (OpenAI-Organization, X-Title)
	azure *azureDeployments
}

// azureDeployments builds Azure OpenAI's per-deployment URL when the endpoint is the
// resource's base URL (no path): the deployment is the request's model.
type azureDeployments struct {
	resource   *url.URL
	apiVersion string
}

func (a *azureDeployments) url(deployment string) string {
	u := *a.resource
	u.Path = "/openai/deployments/" + deployment + "/chat/completions"
	u.RawPath = "/openai/deployments/" + url.PathEscape(deployment) + "/chat/completions"
	u.RawQuery = url.Values{"api-version": {a.apiVersion}}.Encode()
	return u.String()
}

func (p *chatProvider) NewRequest(ctx context.Context, body []byte, stream bool, clientHeader http.Header) (*http.Request, error) {
	target := p.url.String()
	if p.azure != nil {
		deployment := gjson.GetBytes(body, "model").String()
		if deployment == "" {
			deployment = p.models.def
		}
		target = p.azure.url(deployment)
	}
	return newCall(ctx, p.name, target, body, p.header(acceptFor(stream), clientHeader))
}

// header forwards the client's headers that OpenAI's format defines (forwardHeaders); the
// provider's fixed headers and credential are set over them.
func (p *chatProvider) header(accept string, clientHeader http.Header) http.Header {
	h := newHeader(accept)
	forwardHeaders(h, clientHeader, p.format)
	for k, v := range p.extra {
		h[k] = v
	}
	p.auth.apply(h)
	return h
}

// chatEmbedder is a chat provider with an OpenAI embeddings endpoint.
type chatEmbedder struct {
	*chatProvider
	embeddings *url.URL
	embedModel string // for requests naming no model or another provider's; "" keeps theirs
}

func (p *chatEmbedder) NewEmbeddingsRequest(ctx context.Context, body []byte) (*http.Request, error) {
	if requested := gjson.GetBytes(body, "model").String(); p.embedModel != "" && (requested == "" || !p.models.native(requested)) {
		b, err := sjson.SetBytes(body, "model", p.embedModel)
		if err != nil {
			return nil, fmt.Errorf("%s: embeddings request: %w: %w", p.name, llm.ErrInvalid, err)
		}
		body = b
	}
	return newCall(ctx, p.name, p.embeddings.String(), body, p.header(contentJSON, nil))
}

func newChat(name string, u *url.URL, m *models, a auth) *chatProvider {
	return &chatProvider{base: base{name: name, format: llm.FormatChat, models: m, endpoint: config.RedactURL(u.String())}, url: u, auth: a}
}

func notClaude(m string) bool { return !isClaude(m) }
func notCloud(m string) bool  { return !isCloudName(m) }

// bothAPIs is a vendor that speaks both Chat Completions and the Responses API, as OpenAI and
// OpenRouter do.
type bothAPIs struct {
	name, prefix    string            // the provider's name, and its variables' prefix (OPENAI)
	chat, responses string            // the default endpoint of each API
	model           string            // the default model
	native          func(string) bool // the names the vendor serves without a map
}

// build reads PREFIX_API_KEY (required), PREFIX_API, PREFIX_ENDPOINT (defaulting to the chosen
// API's endpoint) and PREFIX_MODEL, and returns the provider and the API it speaks.
func (v bothAPIs) build(e env, c choice) (*chatProvider, string, error) {
	key, err := e.secret(v.prefix+"_API_KEY", c)
	if err != nil {
		return nil, "", err
	}
	endpointVar := v.prefix + "_ENDPOINT"
	api, err := chooseAPI(e, v.prefix+"_API", endpointVar)
	if err != nil {
		return nil, "", err
	}
	example, readURL, newP := v.chat, chatURL, newChat
	if api == apiResponses {
		example, readURL, newP = v.responses, responsesURL, newResponses
	}
	u, err := readURL(endpointVar, e.or(endpointVar, example), example)
	if err != nil {
		return nil, "", err
	}
	m, err := e.models(c, v.prefix, e.or(v.prefix+"_MODEL", v.model), v.native)
	if err != nil {
		return nil, "", err
	}
	return newP(v.name, u, m, bearer(key)), api, nil
}

// buildOpenAI: OPENAI_API_KEY (required), OPENAI_API (chat, the default, or responses),
// OPENAI_ENDPOINT (default https://api.openai.com/v1/chat/completions, or
// https://api.openai.com/v1/responses with OPENAI_API=responses), OPENAI_MODEL (default
// gpt-4o), OPENAI_ORGANIZATION (sent as OpenAI-Organization). An endpoint ending in
// /responses, or OPENAI_API=responses (the endpoint then a base, …/v1 or chat completions URL
// turned into …/v1/responses), speaks the Responses API, with compaction at
// …/responses/compact. Embeddings beside the endpoint (…/v1/embeddings),
// text-embedding-3-small by default.
func buildOpenAI(e env, c choice) (Provider, error) {
	p, api, err := bothAPIs{
		name: "openai", prefix: "OPENAI",
		chat: "https://api.openai.com/v1/chat/completions", responses: "https://api.openai.com/v1/responses",
		model: "gpt-4o", native: notClaude,
	}.build(e, c)
	if err != nil {
		return nil, err
	}
	if org := e.get("OPENAI_ORGANIZATION"); org != "" {
		p.extra = http.Header{"Openai-Organization": {org}}
	}
	emb := &chatEmbedder{chatProvider: p, embeddings: embeddingsURL(p.url), embedModel: "text-embedding-3-small"}
	if api == apiResponses {
		return &compactingEmbedder{chatEmbedder: emb, compact: compactURL(p.url)}, nil
	}
	return emb, nil
}

// buildAzureOpenAI: AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (required),
// AZURE_OPENAI_API (chat, the default, or responses), AZURE_OPENAI_DEPLOYMENT (default
// gpt-4o), AZURE_OPENAI_API_VERSION (default 2024-08-01-preview). The endpoint is either the
// resource (https://<resource>.openai.azure.com), the deployment then being the model the map
// chose (AZURE_OPENAI_DEPLOYMENT unless mapped), or a full chat completions URL, used as
// given (api-version added when missing, except for the /openai/v1/ API). The key goes in the
// api-key header, or as a bearer token for Azure AI Foundry (*.services.ai.azure.com) as in
// Lynkr.
//
// An endpoint ending in /openai/v1/responses or /openai/responses, or AZURE_OPENAI_API=responses,
// speaks the Responses API (see azureResponsesURL), the deployment going in the body's model.
func buildAzureOpenAI(e env, c choice) (Provider, error) {
	const example = "https://<resource>.openai.azure.com"
	key, err := e.secret("AZURE_OPENAI_API_KEY", c)
	if err != nil {
		return nil, err
	}
	raw := e.get("AZURE_OPENAI_ENDPOINT")
	if raw == "" {
		return nil, required("AZURE_OPENAI_ENDPOINT", c.why)
	}
	u, err := parseHTTPURL("AZURE_OPENAI_ENDPOINT", raw, example)
	if err != nil {
		return nil, err
	}
	version := e.or("AZURE_OPENAI_API_VERSION", "2024-08-01-preview")
	// Nothing is native to Azure: a deployment name is the operator's, so every name the map
	// does not know goes to the configured deployment.
	m, err := e.models(c, "AZURE_OPENAI", e.or("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"), func(string) bool { return false })
	if err != nil {
		return nil, err
	}
	a := auth{header: "api-key", key: key}
	if strings.HasSuffix(strings.ToLower(u.Hostname()), ".services.ai.azure.com") {
		a = bearer(key)
	}
	api, err := chooseAPI(e, "AZURE_OPENAI_API", "AZURE_OPENAI_ENDPOINT")
	if err != nil {
		return nil, err
	}
	if api == apiResponses {
		if u, err = azureResponsesURL(u, e.or("AZURE_OPENAI_API_VERSION", azureResponsesPreviewVersion)); err != nil {
			return nil, err
		}
		return &compactingProvider{chatProvider: newResponses("azure-openai", u, m, a), compact: compactURL(u)}, nil
	}
	path := strings.TrimSuffix(u.Path, "/")
	switch {
	case path == "":
		p := newChat("azure-openai", u, m, a)
		p.azure = &azureDeployments{resource: u, apiVersion: version}
		return p, nil
	case strings.HasSuffix(path, "/chat/completions"):
		if q := u.Query(); q.Get("api-version") == "" && !strings.Contains(path, "/openai/v1/") {
			q.Set("api-version", version)
			u.RawQuery = q.Encode()
		}
		return newChat("azure-openai", u, m, a), nil
	}
	return nil, invalid("AZURE_OPENAI_ENDPOINT", fmt.Sprintf("expected the resource URL such as %s or a …/chat/completions deployment URL, got %s", example, quoteURL(raw)))
}

// buildOpenRouter: OPENROUTER_API_KEY (required), OPENROUTER_API (chat, the default, or
// responses), OPENROUTER_ENDPOINT (default https://openrouter.ai/api/v1/chat/completions, or
// …/api/v1/responses with OPENROUTER_API=responses), OPENROUTER_MODEL (default
// openai/gpt-4o-mini), OPENROUTER_EMBEDDINGS_MODEL (default openai/text-embedding-ada-002).
// OpenRouter's names are vendor/model: those pass through. Its Responses API has no
// compaction endpoint.
func buildOpenRouter(e env, c choice) (Provider, error) {
	p, _, err := bothAPIs{
		name: "openrouter", prefix: "OPENROUTER",
		chat: "https://openrouter.ai/api/v1/chat/completions", responses: "https://openrouter.ai/api/v1/responses",
		model: "openai/gpt-4o-mini", native: func(s string) bool { return strings.Contains(s, "/") },
	}.build(e, c)
	if err != nil {
		return nil, err
	}
	p.extra = http.Header{"X-Title": {"lynkr"}}
	return &chatEmbedder{chatProvider: p, embeddings: embeddingsURL(p.url), embedModel: e.or("OPENROUTER_EMBEDDINGS_MODEL", "openai/text-embedding-ada-002")}, nil
}

// buildMoonshot: MOONSHOT_API_KEY (required), MOONSHOT_ENDPOINT (default
// https://api.moonshot.ai/v1/chat/completions), MOONSHOT_MODEL (default kimi-k2-turbo-preview).
func buildMoonshot(e env, c choice) (Provider, error) {
	const example = "https://api.moonshot.ai/v1/chat/completions"
	key, err := e.secret("MOONSHOT_API_KEY", c)
	if err != nil {
		return nil, err
	}
	u, err := chatURL("MOONSHOT_ENDPOINT", e.or("MOONSHOT_ENDPOINT", example), example)
	if err != nil {
		return nil, err
	}
	m, err := e.models(c, "MOONSHOT", e.or("MOONSHOT_MODEL", "kimi-k2-turbo-preview"), func(s string) bool { return hasPrefixFold(s, "kimi-", "moonshot-") })
	if err != nil {
		return nil, err
	}
	return newChat("moonshot", u, m, bearer(key)), nil
}

// buildOllama: OLLAMA_ENDPOINT (default http://localhost:11434; a base URL as in Lynkr, or
// the full …/v1/chat/completions URL: lynkr uses Ollama's OpenAI-compatible API),
// OLLAMA_MODEL (default qwen2.5-coder:7b), OLLAMA_EMBEDDINGS_MODEL (default
// nomic-embed-text, served at …/v1/embeddings; Lynkr's OLLAMA_EMBEDDINGS_ENDPOINT, Ollama's
// native /api/embeddings, is not used), OLLAMA_API_KEY (optional bearer token, for an Ollama
// behind an authenticating proxy).
func buildOllama(e env, c choice) (Provider, error) {
	return buildLocal(e, c, "ollama", "OLLAMA", "http://localhost:11434", "qwen2.5-coder:7b", e.or("OLLAMA_EMBEDDINGS_MODEL", "nomic-embed-text"), "")
}

// buildLlamaCpp: LLAMACPP_ENDPOINT (default http://localhost:8080), LLAMACPP_MODEL (default
// "default"), LLAMACPP_API_KEY (optional bearer token), LLAMACPP_EMBEDDINGS_ENDPOINT
// (default …/v1/embeddings beside the chat URL; Lynkr's …/embeddings, llama-server's
// non-OpenAI endpoint, is read as …/v1/embeddings).
func buildLlamaCpp(e env, c choice) (Provider, error) {
	return buildLocal(e, c, "llamacpp", "LLAMACPP", "http://localhost:8080", "default", "", e.get("LLAMACPP_EMBEDDINGS_ENDPOINT"))
}

// buildLMStudio: LMSTUDIO_ENDPOINT (default http://localhost:1234), LMSTUDIO_MODEL (default
// "default"), LMSTUDIO_API_KEY (optional bearer token).
func buildLMStudio(e env, c choice) (Provider, error) {
	return buildLocal(e, c, "lmstudio", "LMSTUDIO", "http://localhost:1234", "default", "", "")
}

// buildLocal builds a keyless OpenAI-compatible server on the operator's machine. Every name
// but a hosted family's (claude-*, gpt-*, o3, …) passes through: local model names are free.
func buildLocal(e env, c choice, name, prefix, defURL, defModel, embedModel, embedURL string) (Provider, error) {
	u, err := chatURL(prefix+"_ENDPOINT", e.or(prefix+"_ENDPOINT", defURL), defURL)
	if err != nil {
		return nil, err
	}
	m, err := e.models(c, prefix, e.or(prefix+"_MODEL", defModel), notCloud)
	if err != nil {
		return nil, err
	}
	var a auth
	if key := e.optionalSecret(prefix + "_API_KEY"); !key.IsZero() {
		a = bearer(key)
	}
	emb := embeddingsURL(u)
	if embedURL != "" {
		if emb, err = parseHTTPURL(prefix+"_EMBEDDINGS_ENDPOINT", embedURL, defURL+"/v1/embeddings"); err != nil {
			return nil, err
		}
		if strings.TrimSuffix(emb.Path, "/") == "/embeddings" {
			emb.Path = "/v1/embeddings"
		}
	}
	return &chatEmbedder{chatProvider: newChat(name, u, m, a), embeddings: emb, embedModel: embedModel}, nil
}
