// Package provider builds the HTTP requests a worker sends to the upstream LLM providers:
// the URL, the credential, the headers and the model, for every provider lynkr speaks to.
//
// Providers come in four wire families (Format): the OpenAI Chat Completions format (openai,
// azure-openai, openrouter, ollama, llamacpp, lmstudio, moonshot, and databricks and zai when
// their endpoint is a chat completions URL), the OpenAI Responses API (openai, azure-openai
// and openrouter with OPENAI_API=responses, AZURE_OPENAI_API=responses, OPENROUTER_API=responses
// or a …/responses endpoint), the Anthropic Messages format (anthropic, azure-anthropic,
// databricks, zai) and the Bedrock Converse format (bedrock). The worker
// converts the client's request into the provider's format (package translate), then asks the
// provider for the request to send:
//
//	plan, _ := translate.For(clientFormat, p.Format())
//	call, _ := plan.Request(body, p.Model(requested))
//	req, _ := p.NewRequest(ctx, call.Body(), stream, clientHeader)
//
// Load reads the operator's environment, with the variable names of the Node.js Lynkr, into a
// Set of providers. Abilities beyond chat are small separate interfaces (Embedder,
// TokenCounter, Compactor, StreamDecoder), found by type assertion.
//
// A provider never forwards the client's own credentials (Authorization, x-api-key): its own
// replace them. Credentials are held as config.Secret values, which print, encode and log as
// [REDACTED]; a provider reveals its key only when it sets the request's credential header
// or signature.
package provider

import (
	"context"
	"io"
	"net/http"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// Provider is one configured upstream.
type Provider interface {
	// Name is the provider's name as MODEL_PROVIDER spells it ("openai", "bedrock", …).
	Name() string
	// Format is the wire format the upstream speaks: llm.FormatChat, llm.FormatResponses,
	// llm.FormatAnthropic or llm.FormatConverse.
	Format() llm.Format
	// Model is the upstream model that serves a client's requested model name (see the
	// package's model map rules on Load).
	Model(requested string) string
	// Models lists the names a client may ask for, for GET /v1/models.
	Models() []string
	// NewRequest returns the upstream call carrying body, a request already in the provider's
	// format and naming its model: URL, method, credential and headers set. stream says
	// whether the body asks for a streamed answer. clientHeader is the client's request
	// header; only what the upstream's format defines (anthropic-version, anthropic-beta)
	// is taken from it.
	NewRequest(ctx context.Context, body []byte, stream bool, clientHeader http.Header) (*http.Request, error)
}

// Embedder is a provider with an OpenAI-format embeddings endpoint.
type Embedder interface {
	// NewEmbeddingsRequest returns the call for an OpenAI embeddings request body. A request
	// naming no model, or a model of another provider, gets the provider's embeddings model.
	NewEmbeddingsRequest(ctx context.Context, body []byte) (*http.Request, error)
}

// TokenCounter is a provider with Anthropic's count_tokens endpoint.
type TokenCounter interface {
	// NewCountTokensRequest returns the call for a Messages count_tokens request body.
	NewCountTokensRequest(ctx context.Context, body []byte, clientHeader http.Header) (*http.Request, error)
}

// Compactor is a provider speaking the OpenAI Responses API (Format llm.FormatResponses) whose
// upstream compacts a conversation: POST …/responses/compact.
type Compactor interface {
	// NewCompactRequest returns the call for a Responses compact request body, already naming
	// the provider's model; the credential is set as for NewRequest, and clientHeader is
	// taken from as there.
	NewCompactRequest(ctx context.Context, body []byte, clientHeader http.Header) (*http.Request, error)
}

// StreamDecoder is a provider whose streamed answers are not Server-Sent Events.
type StreamDecoder interface {
	// DecodeStream returns a function that reads the next event of a streamed answer, with
	// io.EOF after the last one. An upstream error reported inside the stream is returned as
	// an *apierror.Error.
	DecodeStream(r io.Reader) func() (sse.Event, error)
}
