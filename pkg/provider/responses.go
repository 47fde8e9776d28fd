package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
)

// A Responses API upstream (llm.FormatResponses) is a chatProvider whose format is
// FormatResponses and whose URL is the …/responses endpoint: NewRequest posts the body there
// with the credential and fixed headers of the chat provider. Where the upstream also
// compacts (POST …/responses/compact: OpenAI, Azure OpenAI), it is wrapped as a Compactor.

// newResponses is a Responses upstream at u.
func newResponses(name string, u *url.URL, m *models, a auth) *chatProvider {
	p := newChat(name, u, m, a)
	p.format = llm.FormatResponses
	return p
}

// compactingProvider is a Responses upstream with POST …/responses/compact.
type compactingProvider struct {
	*chatProvider
	compact *url.URL
}

func (p *compactingProvider) NewCompactRequest(ctx context.Context, body []byte, clientHeader http.Header) (*http.Request, error) {
	return newCompactCall(ctx, p.chatProvider, p.compact, body, clientHeader)
}

// compactingEmbedder is a compacting Responses upstream with an OpenAI embeddings endpoint.
type compactingEmbedder struct {
	*chatEmbedder
	compact *url.URL
}

func (p *compactingEmbedder) NewCompactRequest(ctx context.Context, body []byte, clientHeader http.Header) (*http.Request, error) {
	return newCompactCall(ctx, p.chatProvider, p.compact, body, clientHeader)
}

// newCompactCall posts a compact request body to u with p's credential and headers; the
// answer is one JSON object.
func newCompactCall(ctx context.Context, p *chatProvider, u *url.URL, body []byte, clientHeader http.Header) (*http.Request, error) {
	return newCall(ctx, p.name, u.String(), body, p.header(contentJSON, clientHeader))
}

// The values of OPENAI_API, AZURE_OPENAI_API and OPENROUTER_API.
const (
	apiChat      = "chat"
	apiResponses = "responses"
)

// wireAPI reads variable name (OPENAI_API…): "chat" or "responses", or "" when unset, which
// leaves the choice to the endpoint's path.
func (e env) wireAPI(name string) (string, error) {
	switch v := strings.ToLower(e.get(name)); v {
	case "", apiChat, apiResponses:
		return v, nil
	default:
		return "", invalid(name, fmt.Sprintf("expected chat (the Chat Completions API, the default) or responses (the Responses API), got %q", e.get(name)))
	}
}

// chooseAPI is the API an OpenAI-compatible provider speaks: the one apiVar names, else
// Responses when the endpoint endpointVar is a …/responses URL, else Chat Completions. An
// endpoint of the one API with apiVar naming the other is an error.
func chooseAPI(e env, apiVar, endpointVar string) (string, error) {
	api, err := e.wireAPI(apiVar)
	if err != nil {
		return "", err
	}
	raw := e.get(endpointVar)
	responsesEndpoint := false
	if u, err := url.Parse(raw); err == nil && raw != "" {
		responsesEndpoint = isResponsesPath(u)
	}
	switch {
	case api == "" && responsesEndpoint:
		return apiResponses, nil
	case api == "":
		return apiChat, nil
	case api == apiChat && responsesEndpoint:
		return "", invalid(apiVar, fmt.Sprintf("chat asks for the Chat Completions API, but %s is a Responses API URL (…/responses); set %s=responses or give a chat completions URL", endpointVar, apiVar))
	}
	return api, nil
}

// azureResponsesPreviewVersion is the api-version of Azure's preview Responses URL
// (…/openai/responses) when neither the URL nor AZURE_OPENAI_API_VERSION gives one. The v1
// URL (…/openai/v1/responses) takes none.
const azureResponsesPreviewVersion = "2025-04-01-preview"

// azureResponsesURL is Azure OpenAI's Responses endpoint for the AZURE_OPENAI_ENDPOINT u:
//   - …/openai/v1/responses, used as given (the v1 API takes no api-version);
//   - …/openai/responses, the preview API, used as given with api-version added when missing
//     (AZURE_OPENAI_API_VERSION, else 2025-04-01-preview);
//   - the resource URL (https://<resource>.openai.azure.com), …/openai, …/openai/v1 or a chat
//     completions URL (a deployment's or the v1 API's): https://<resource>…/openai/v1/responses.
func azureResponsesURL(u *url.URL, version string) (*url.URL, error) {
	const name = "AZURE_OPENAI_ENDPOINT"
	out := *u
	path := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(path, "/openai/v1/responses"):
	case strings.HasSuffix(path, "/openai/responses"):
		if q := out.Query(); q.Get("api-version") == "" {
			q.Set("api-version", version)
			out.RawQuery = q.Encode()
		}
	case path == "", path == "/openai", path == "/openai/v1", strings.HasSuffix(path, "/chat/completions") && strings.HasPrefix(path, "/openai/"):
		out.Path, out.RawQuery = "/openai/v1/responses", ""
	default:
		return nil, invalid(name, fmt.Sprintf("expected the resource URL such as https://<resource>.openai.azure.com or the Responses URL …/openai/v1/responses, got %s", quoteURL(u.String())))
	}
	out.RawPath = ""
	return &out, nil
}
