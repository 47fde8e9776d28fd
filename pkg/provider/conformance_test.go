package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/converse"
	"github.com/lynkr/lynkr/pkg/sse"
)

// adapter declares, for the conformance suite, what one provider configuration is and does.
// Every provider runs the same suite (runConformance) against a real HTTP upstream on
// loopback; what differs is declared here, abilities included.
type adapter struct {
	name     string            // test name
	provider string            // name in the Set
	env      map[string]string // the environment; {{URL}} stands for the test upstream
	format   llm.Format

	path, streamPath string // escaped URL path of a call and of a streamed call ("" = path)
	query            string // the raw query every call carries
	auth             func(t *testing.T, got *recorded)
	secrets          []string // credentials that must never be printed

	models map[string]string // requested model → Model's answer

	version string // the anthropic-version an Anthropic-format upstream must get
	kept    string // anthropic-beta flags (of clientBetas) the upstream must get, comma-joined
	dropped string // a flag of clientBetas this provider must not forward

	embeddings  string // embeddings path; "" when the provider is not an Embedder
	countTokens string // count_tokens path; "" when it is not a TokenCounter
	compact     string // Responses compact path; "" when it is not a Compactor
	decoder     bool   // a StreamDecoder
}

// The client's credentials and headers: none of the credentials may reach an upstream.
const (
	clientToken  = "client-oauth-token-5f1d"
	clientAPIKey = "sk-ant-client-key-77aa"
	clientCookie = "session=client-cookie-3c9e"
)

var clientBetas = []string{"interleaved-thinking-2025-05-14,oauth-2025-04-20", "context-1m-2025-08-07,files-api-2025-04-14"}

func bearerAuth(key string) func(*testing.T, *recorded) {
	return func(t *testing.T, got *recorded) {
		t.Helper()
		if v := got.header.Get("Authorization"); v != "Bearer "+key {
			t.Errorf("Authorization = %q, want the provider's bearer token", v)
		}
	}
}

func headerAuth(name, key string) func(*testing.T, *recorded) {
	return func(t *testing.T, got *recorded) {
		t.Helper()
		if v := got.header.Get(name); v != key {
			t.Errorf("%s = %q, want the provider's key", name, v)
		}
		if name != "Authorization" && got.header.Get("Authorization") != "" {
			t.Errorf("Authorization sent beside %s: %q", name, got.header.Get("Authorization"))
		}
	}
}

func noAuth(t *testing.T, got *recorded) {
	t.Helper()
	for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key"} {
		if v := got.header.Get(h); v != "" {
			t.Errorf("%s = %q, want none for a keyless local server", h, v)
		}
	}
}

func adapters() []adapter {
	const (
		openAIKey  = "sk-openai-test-0001"
		azureKey   = "azure-openai-key-0002"
		routerKey  = "sk-or-v1-test-0003"
		moonKey    = "sk-moonshot-test-0004"
		llamaKey   = "llama-secret-0005"
		antKey     = "sk-ant-api03-test-0006"
		azAntKey   = "azure-anthropic-key-0007"
		dbKey      = "dapi-test-0008"
		zaiKey     = "zai-key-test-0009"
		brKey      = "ABSK-bedrock-test-0010"
		awsID      = "AKIDLYNKRTEST"
		awsSecret  = "aws-secret-key-test-0011"
		awsSession = "aws-session-token-0012"
	)
	claudeToDefault := func(def string) map[string]string {
		return map[string]string{"claude-sonnet-4-5-20250929": def, "": def}
	}
	return []adapter{
		{
			name: "openai", provider: "openai", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": openAIKey, "OPENAI_ENDPOINT": "{{URL}}/v1/chat/completions", "OPENAI_ORGANIZATION": "org-1", "MODEL_MAP": "claude-haiku-*=gpt-4o-mini"},
			path: "/v1/chat/completions", auth: bearerAuth(openAIKey), secrets: []string{openAIKey},
			models:     map[string]string{"claude-sonnet-4-5": "gpt-4o", "claude-haiku-4-5": "gpt-4o-mini", "gpt-4.1": "gpt-4.1", "o3-mini": "o3-mini", "": "gpt-4o"},
			embeddings: "/v1/embeddings",
		},
		{
			name: "openai responses URL", provider: "openai", format: llm.FormatResponses,
			env:  map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": openAIKey, "OPENAI_ENDPOINT": "{{URL}}/v1/responses", "OPENAI_ORGANIZATION": "org-1"},
			path: "/v1/responses", auth: bearerAuth(openAIKey), secrets: []string{openAIKey},
			models:     map[string]string{"claude-sonnet-4-5": "gpt-4o", "gpt-5.3-codex": "gpt-5.3-codex", "gpt-5.1-codex-max": "gpt-5.1-codex-max", "": "gpt-4o"},
			embeddings: "/v1/embeddings", compact: "/v1/responses/compact",
		},
		{
			name: "openai OPENAI_API=responses", provider: "openai", format: llm.FormatResponses,
			env:  map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": openAIKey, "OPENAI_API": "responses", "OPENAI_ENDPOINT": "{{URL}}/v1/chat/completions", "OPENAI_MODEL": "gpt-5.3-codex"},
			path: "/v1/responses", auth: bearerAuth(openAIKey), secrets: []string{openAIKey},
			models:     claudeToDefault("gpt-5.3-codex"),
			embeddings: "/v1/embeddings", compact: "/v1/responses/compact",
		},
		{
			name: "azure-openai responses v1", provider: "azure-openai", format: llm.FormatResponses,
			env:  map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_ENDPOINT": "{{URL}}/openai/v1/responses", "AZURE_OPENAI_DEPLOYMENT": "codex-deploy"},
			path: "/openai/v1/responses", auth: headerAuth("Api-Key", azureKey), secrets: []string{azureKey},
			models:  map[string]string{"claude-sonnet-4-5": "codex-deploy", "gpt-5.3-codex": "codex-deploy"},
			compact: "/openai/v1/responses/compact",
		},
		{
			name: "azure-openai AZURE_OPENAI_API=responses", provider: "azure-openai", format: llm.FormatResponses,
			env:  map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_ENDPOINT": "{{URL}}", "AZURE_OPENAI_API": "responses"},
			path: "/openai/v1/responses", auth: headerAuth("Api-Key", azureKey), secrets: []string{azureKey},
			models:  claudeToDefault("gpt-4o"),
			compact: "/openai/v1/responses/compact",
		},
		{
			name: "azure-openai responses preview", provider: "azure-openai", format: llm.FormatResponses,
			env:  map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_ENDPOINT": "{{URL}}/openai/responses"},
			path: "/openai/responses", query: "api-version=2025-04-01-preview", auth: headerAuth("Api-Key", azureKey), secrets: []string{azureKey},
			models:  claudeToDefault("gpt-4o"),
			compact: "/openai/responses/compact",
		},
		{
			name: "openrouter responses", provider: "openrouter", format: llm.FormatResponses,
			env:  map[string]string{"MODEL_PROVIDER": "openrouter", "OPENROUTER_API_KEY": routerKey, "OPENROUTER_API": "responses", "OPENROUTER_ENDPOINT": "{{URL}}/api/v1"},
			path: "/api/v1/responses", auth: bearerAuth(routerKey), secrets: []string{routerKey},
			models:     map[string]string{"claude-sonnet-4-5": "openai/gpt-4o-mini", "openai/gpt-5.1-codex": "openai/gpt-5.1-codex"},
			embeddings: "/api/v1/embeddings",
		},
		{
			name: "azure-openai resource", provider: "azure-openai", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_ENDPOINT": "{{URL}}", "AZURE_OPENAI_DEPLOYMENT": "my gpt4o", "AZURE_OPENAI_MODEL_MAP": "claude-haiku-*=mini-deploy"},
			path: "/openai/deployments/my%20gpt4o/chat/completions", query: "api-version=2024-08-01-preview",
			auth: headerAuth("Api-Key", azureKey), secrets: []string{azureKey},
			models: map[string]string{"claude-sonnet-4-5": "my gpt4o", "gpt-4o": "my gpt4o", "claude-haiku-4-5": "mini-deploy"},
		},
		{
			name: "azure-openai deployment URL", provider: "azure-openai", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_ENDPOINT": "{{URL}}/openai/deployments/gpt-4o/chat/completions", "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"},
			path: "/openai/deployments/gpt-4o/chat/completions", query: "api-version=2025-01-01-preview",
			auth: headerAuth("Api-Key", azureKey), secrets: []string{azureKey},
			models: claudeToDefault("gpt-4o"),
		},
		{
			name: "openrouter", provider: "openrouter", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "openrouter", "OPENROUTER_API_KEY": routerKey, "OPENROUTER_ENDPOINT": "{{URL}}/api/v1/chat/completions"},
			path: "/api/v1/chat/completions", auth: bearerAuth(routerKey), secrets: []string{routerKey},
			models:     map[string]string{"claude-sonnet-4-5": "openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5": "anthropic/claude-sonnet-4.5"},
			embeddings: "/api/v1/embeddings",
		},
		{
			name: "moonshot", provider: "moonshot", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "moonshot", "MOONSHOT_API_KEY": moonKey, "MOONSHOT_ENDPOINT": "{{URL}}/v1/chat/completions"},
			path: "/v1/chat/completions", auth: bearerAuth(moonKey), secrets: []string{moonKey},
			models: map[string]string{"claude-sonnet-4-5": "kimi-k2-turbo-preview", "kimi-k2-thinking": "kimi-k2-thinking"},
		},
		{
			name: "ollama base URL", provider: "ollama", format: llm.FormatChat,
			env:  map[string]string{"OLLAMA_ENDPOINT": "{{URL}}", "OLLAMA_MODEL": "qwen3-coder:30b"},
			path: "/v1/chat/completions", auth: noAuth,
			models:     map[string]string{"claude-sonnet-4-5": "qwen3-coder:30b", "gpt-4o": "qwen3-coder:30b", "llama3.2:3b": "llama3.2:3b", "": "qwen3-coder:30b"},
			embeddings: "/v1/embeddings",
		},
		{
			name: "llamacpp with key", provider: "llamacpp", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "llamacpp", "LLAMACPP_ENDPOINT": "{{URL}}", "LLAMACPP_API_KEY": llamaKey},
			path: "/v1/chat/completions", auth: bearerAuth(llamaKey), secrets: []string{llamaKey},
			models:     claudeToDefault("default"),
			embeddings: "/v1/embeddings",
		},
		{
			name: "lmstudio", provider: "lmstudio", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "lmstudio", "LMSTUDIO_ENDPOINT": "{{URL}}/v1"},
			path: "/v1/chat/completions", auth: noAuth,
			models:     claudeToDefault("default"),
			embeddings: "/v1/embeddings",
		},
		{
			name: "anthropic", provider: "anthropic", format: llm.FormatAnthropic,
			env:  map[string]string{"MODEL_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": antKey, "ANTHROPIC_ENDPOINT": "{{URL}}"},
			path: "/v1/messages", auth: headerAuth("X-Api-Key", antKey), secrets: []string{antKey},
			models:  map[string]string{"claude-sonnet-4-5": "claude-sonnet-4-5", "gpt-4o": "gpt-4o", "": ""},
			version: "2023-06-01", kept: "interleaved-thinking-2025-05-14,context-1m-2025-08-07,files-api-2025-04-14", dropped: "oauth-2025-04-20",
			countTokens: "/v1/messages/count_tokens",
		},
		{
			name: "azure-anthropic", provider: "azure-anthropic", format: llm.FormatAnthropic,
			env:  map[string]string{"MODEL_PROVIDER": "azure-anthropic", "AZURE_ANTHROPIC_API_KEY": azAntKey, "AZURE_ANTHROPIC_ENDPOINT": "{{URL}}/anthropic/v1/messages", "AZURE_ANTHROPIC_VERSION": "2023-06-01"},
			path: "/anthropic/v1/messages", auth: headerAuth("X-Api-Key", azAntKey), secrets: []string{azAntKey},
			models:  map[string]string{"claude-sonnet-4-5": "claude-sonnet-4-5", "gpt-4o": "claude-opus-4-5"},
			version: "2023-06-01", kept: "interleaved-thinking-2025-05-14,context-1m-2025-08-07,files-api-2025-04-14", dropped: "oauth-2025-04-20",
			countTokens: "/anthropic/v1/messages/count_tokens",
		},
		{
			name: "databricks anthropic API", provider: "databricks", format: llm.FormatAnthropic,
			env:  map[string]string{"MODEL_PROVIDER": "databricks", "DATABRICKS_API_KEY": dbKey, "DATABRICKS_API_BASE": "{{URL}}/", "DATABRICKS_ENDPOINT_PATH": "serving-endpoints/anthropic"},
			path: "/serving-endpoints/anthropic/v1/messages", auth: bearerAuth(dbKey), secrets: []string{dbKey},
			models:  map[string]string{"claude-sonnet-4-5": "databricks-claude-sonnet-4-5", "databricks-claude-opus-4-5": "databricks-claude-opus-4-5"},
			version: "2023-06-01", kept: "interleaved-thinking-2025-05-14,context-1m-2025-08-07,files-api-2025-04-14", dropped: "oauth-2025-04-20",
		},
		{
			name: "databricks invocations", provider: "databricks", format: llm.FormatChat,
			env:  map[string]string{"MODEL_PROVIDER": "databricks", "DATABRICKS_API_KEY": dbKey, "DATABRICKS_API_BASE": "{{URL}}", "MODEL_DEFAULT": "databricks-claude-opus-4-5"},
			path: "/serving-endpoints/databricks-claude-sonnet-4-5/invocations", auth: bearerAuth(dbKey), secrets: []string{dbKey},
			models: claudeToDefault("databricks-claude-opus-4-5"),
		},
		{
			name: "zai", provider: "zai", format: llm.FormatAnthropic,
			env:  map[string]string{"MODEL_PROVIDER": "zai", "ZAI_API_KEY": zaiKey, "ZAI_ENDPOINT": "{{URL}}/api/anthropic/v1/messages"},
			path: "/api/anthropic/v1/messages", auth: bearerAuth(zaiKey), secrets: []string{zaiKey},
			models:  map[string]string{"claude-sonnet-4-5": "glm-4.7", "claude-haiku-4-5": "glm-4.5-air", "glm-4.6": "glm-4.6"},
			version: "2023-06-01", kept: "interleaved-thinking-2025-05-14,context-1m-2025-08-07", dropped: "files-api-2025-04-14",
		},
		{
			name: "bedrock API key", provider: "bedrock", format: llm.FormatConverse,
			env:  map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_BEDROCK_API_KEY": brKey, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "{{URL}}", "AWS_BEDROCK_MODEL_ID": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
			path: "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", streamPath: "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream",
			auth: bearerAuth(brKey), secrets: []string{brKey},
			models: map[string]string{"claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-3.5-sonnet": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "meta.llama3-70b-instruct-v1:0": "meta.llama3-70b-instruct-v1:0"},
			kept:   "interleaved-thinking-2025-05-14,context-1m-2025-08-07", dropped: "files-api-2025-04-14",
			decoder: true,
		},
		{
			name: "bedrock SigV4", provider: "bedrock", format: llm.FormatConverse,
			env:  map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_ACCESS_KEY_ID": awsID, "AWS_SECRET_ACCESS_KEY": awsSecret, "AWS_SESSION_TOKEN": awsSession, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "{{URL}}"},
			path: "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse", streamPath: "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream",
			auth:    sigV4Auth(aws.Credentials{AccessKeyID: awsID, SecretAccessKey: awsSecret, SessionToken: awsSession}, "eu-west-1"),
			secrets: []string{awsSecret, awsSession},
			models:  claudeToDefault("anthropic.claude-3-5-sonnet-20241022-v2:0"),
			kept:    "interleaved-thinking-2025-05-14,context-1m-2025-08-07", dropped: "oauth-2025-04-20",
			decoder: true,
		},
	}
}

func TestConformance(t *testing.T) {
	for _, a := range adapters() {
		t.Run(a.name, func(t *testing.T) { runConformance(t, a) })
	}
}

// recorded is a call as the upstream saw it.
type recorded struct {
	method, host, requestURI, path, query string
	header                                http.Header
	body                                  []byte
}

// upstream is a loopback server that records every call and answers it in format f.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	calls []*recorded
}

func newUpstream(t *testing.T, f llm.Format) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.calls = append(u.calls, &recorded{method: r.Method, host: r.Host, requestURI: r.RequestURI, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
		u.mu.Unlock()
		switch {
		case f == llm.FormatConverse && strings.HasSuffix(r.URL.Path, "/converse-stream"):
			w.Header().Set("Content-Type", contentAWSStream)
			enc := eventstream.NewEncoder()
			for _, ev := range []sse.Event{
				{Event: "messageStart", Data: []byte(`{"role":"assistant"}`)},
				{Event: "contentBlockDelta", Data: []byte(`{"contentBlockIndex":0,"delta":{"text":"hi"}}`)},
				{Event: "messageStop", Data: []byte(`{"stopReason":"end_turn"}`)},
			} {
				if err := enc.Encode(w, eventMessage(ev)); err != nil {
					t.Error(err)
				}
			}
		case r.Header.Get("Accept") == contentEventStream:
			w.Header().Set("Content-Type", contentEventStream)
			_, _ = w.Write(sse.Encode(sse.Event{Event: "first", Data: []byte(`{"ok":true}`)}))
		default:
			w.Header().Set("Content-Type", contentJSON)
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) *recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.calls) == 0 {
		t.Fatal("the upstream got no call")
	}
	return u.calls[len(u.calls)-1]
}

func eventMessage(ev sse.Event) eventstream.Message {
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue(ev.Event))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	return eventstream.Message{Headers: h, Payload: ev.Data}
}

func lookupOf(env map[string]string, url string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return strings.ReplaceAll(v, "{{URL}}", url), ok
	}
}

func clientHeader() http.Header {
	return http.Header{
		"Authorization":     {"Bearer " + clientToken},
		"X-Api-Key":         {clientAPIKey},
		"Cookie":            {clientCookie},
		"Anthropic-Version": {"2023-06-01"},
		"Anthropic-Beta":    clientBetas,
		"Accept-Language":   {"fr"},
	}
}

// requestBody is a request in the provider's format for model.
func requestBody(t *testing.T, f llm.Format, model string) []byte {
	t.Helper()
	anthropic := fmt.Sprintf(`{"model":%q,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, model)
	switch f {
	case llm.FormatChat:
		return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model)
	case llm.FormatResponses:
		return fmt.Appendf(nil, `{"model":%q,"input":[{"role":"user","content":"hi"}]}`, model)
	case llm.FormatConverse:
		b, err := converse.MessagesToConverseRequest([]byte(anthropic), llm.Options{Model: model})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []byte(anthropic)
}

func runConformance(t *testing.T, a adapter) {
	up := newUpstream(t, a.format)
	set, err := Load(lookupOf(a.env, up.URL))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p, ok := set.Get(a.provider)
	if !ok {
		t.Fatalf("provider %s not built; have %v", a.provider, set.Names())
	}
	if p.Name() != a.provider || p.Format() != a.format {
		t.Fatalf("Name, Format = %s, %s; want %s, %s", p.Name(), p.Format(), a.provider, a.format)
	}
	client := &http.Client{Transport: NewTransport(lookupOf(nil, ""))}
	ctx := context.Background()

	t.Run("model map", func(t *testing.T) {
		for requested, want := range a.models {
			if got := p.Model(requested); got != want {
				t.Errorf("Model(%q) = %q, want %q", requested, got, want)
			}
		}
		if def := p.Model(""); def != "" && !slices.Contains(p.Models(), def) {
			t.Errorf("Models() = %v lacks the default %q", p.Models(), def)
		}
	})

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("call stream=%v", stream), func(t *testing.T) {
			model := p.Model("claude-sonnet-4-5")
			body := requestBody(t, a.format, model)
			req, err := p.NewRequest(ctx, body, stream, clientHeader())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := up.last(t)
			checkCall(t, a, got, stream)
			checkBody(t, a, got, body, model)
			checkAnthropicHeaders(t, a, got)
			checkStreamRead(t, p, resp, stream)
		})
	}

	t.Run("abilities", func(t *testing.T) {
		e, isEmbedder := p.(Embedder)
		if isEmbedder != (a.embeddings != "") {
			t.Fatalf("Embedder = %v, declared %q", isEmbedder, a.embeddings)
		}
		if isEmbedder {
			req, err := e.NewEmbeddingsRequest(ctx, []byte(`{"model":"text-embedding-3-small","input":"hi"}`))
			if err != nil {
				t.Fatal(err)
			}
			doCall(t, client, req)
			got := up.last(t)
			if got.path != a.embeddings {
				t.Errorf("embeddings path %s, want %s", got.path, a.embeddings)
			}
			a.auth(t, got)
			checkNoClientSecrets(t, got)
			if !gjson.GetBytes(got.body, "model").Exists() {
				t.Errorf("embeddings body lost its model: %s", got.body)
			}
		}
		c, isCounter := p.(TokenCounter)
		if isCounter != (a.countTokens != "") {
			t.Fatalf("TokenCounter = %v, declared %q", isCounter, a.countTokens)
		}
		if isCounter {
			req, err := c.NewCountTokensRequest(ctx, requestBody(t, a.format, "claude-sonnet-4-5"), clientHeader())
			if err != nil {
				t.Fatal(err)
			}
			doCall(t, client, req)
			got := up.last(t)
			if got.path != a.countTokens {
				t.Errorf("count_tokens path %s, want %s", got.path, a.countTokens)
			}
			a.auth(t, got)
			checkNoClientSecrets(t, got)
			checkAnthropicHeaders(t, a, got)
		}
		cp, isCompactor := p.(Compactor)
		if isCompactor != (a.compact != "") {
			t.Fatalf("Compactor = %v, declared %q", isCompactor, a.compact)
		}
		if isCompactor && a.format != llm.FormatResponses {
			t.Fatalf("a Compactor of format %s: only Responses upstreams compact", a.format)
		}
		if isCompactor {
			body := requestBody(t, a.format, p.Model("claude-sonnet-4-5"))
			req, err := cp.NewCompactRequest(ctx, body, clientHeader())
			if err != nil {
				t.Fatal(err)
			}
			doCall(t, client, req)
			got := up.last(t)
			if got.method != http.MethodPost || got.path != a.compact || got.query != a.query {
				t.Errorf("compact call %s %s?%s, want POST %s?%s", got.method, got.path, got.query, a.compact, a.query)
			}
			if got.header.Get("Accept") != contentJSON || got.header.Get("Content-Type") != contentJSON {
				t.Errorf("compact Accept %q, Content-Type %q: want %s", got.header.Get("Accept"), got.header.Get("Content-Type"), contentJSON)
			}
			if !bytes.Equal(got.body, body) {
				t.Errorf("compact body %s, want %s", got.body, body)
			}
			a.auth(t, got)
			checkNoClientSecrets(t, got)
		}
		if _, isDecoder := p.(StreamDecoder); isDecoder != a.decoder {
			t.Fatalf("StreamDecoder = %v, declared %v", isDecoder, a.decoder)
		}
	})

	t.Run("secrets never printed", func(t *testing.T) {
		var texts []string
		for _, v := range []any{p, set} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				texts = append(texts, fmt.Sprintf(verb, v))
			}
			j, _ := json.Marshal(v)
			texts = append(texts, string(j))
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("provider", "p", p, "set", set)
		slog.New(slog.NewTextHandler(&logs, nil)).Info("provider", "p", p, "set", set)
		texts = append(texts, logs.String())
		// Errors: a call that cannot be made, a call to an upstream that is gone, a Load that
		// fails on another variable.
		var noContext context.Context // nil: NewRequest must refuse it
		if _, err := p.NewRequest(noContext, []byte(`{}`), false, clientHeader()); err != nil {
			texts = append(texts, err.Error())
		} else {
			t.Error("NewRequest with a nil context: no error")
		}
		req, err := p.NewRequest(ctx, requestBody(t, a.format, p.Model("")), false, clientHeader())
		if err != nil {
			t.Fatal(err)
		}
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		req.URL.Host = strings.TrimPrefix(gone.URL, "http://")
		if _, err := client.Do(req); err != nil {
			texts = append(texts, err.Error())
		} else {
			t.Error("a call to a closed server: no error")
		}
		broken := maps.Clone(a.env)
		broken["MODEL_PROVIDER"] = a.provider
		broken["MODEL_MAP"] = "no-equals-sign"
		if _, err := Load(lookupOf(broken, up.URL)); err != nil {
			texts = append(texts, err.Error())
		} else {
			t.Error("Load with a broken MODEL_MAP: no error")
		}
		for _, s := range a.secrets {
			for _, text := range texts {
				if strings.Contains(text, s) || strings.Contains(strings.ToLower(text), hex.EncodeToString([]byte(s))) {
					t.Errorf("credential printed:\n%s", text)
				}
			}
		}
	})
}

func doCall(t *testing.T, client *http.Client, req *http.Request) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func checkCall(t *testing.T, a adapter, got *recorded, stream bool) {
	t.Helper()
	path := a.path
	if stream && a.streamPath != "" {
		path = a.streamPath
	}
	if got.method != http.MethodPost {
		t.Errorf("method %s, want POST", got.method)
	}
	if got.path != path {
		t.Errorf("path %s, want %s", got.path, path)
	}
	if got.query != a.query {
		t.Errorf("query %q, want %q", got.query, a.query)
	}
	if ct := got.header.Get("Content-Type"); ct != contentJSON {
		t.Errorf("Content-Type %q, want %s", ct, contentJSON)
	}
	if ua := got.header.Get("User-Agent"); ua != "lynkr" {
		t.Errorf("User-Agent %q, want lynkr", ua)
	}
	accept := contentJSON
	switch {
	case stream && a.format == llm.FormatConverse:
		accept = contentAWSStream
	case stream:
		accept = contentEventStream
	}
	if got.header.Get("Accept") != accept {
		t.Errorf("Accept %q, want %s", got.header.Get("Accept"), accept)
	}
	a.auth(t, got)
	checkNoClientSecrets(t, got)
	if got.header.Get("Accept-Language") != "" {
		t.Error("a client header reached the upstream: Accept-Language")
	}
}

func checkNoClientSecrets(t *testing.T, got *recorded) {
	t.Helper()
	for name, values := range got.header {
		for _, v := range values {
			for _, s := range []string{clientToken, clientAPIKey, clientCookie} {
				if strings.Contains(v, s) {
					t.Errorf("the client's credential reached the upstream in %s", name)
				}
			}
		}
	}
}

// checkBody checks the upstream got the body as given, with the model rewritten, except for
// Bedrock, whose model id moves into the path and whose beta flags into the body.
func checkBody(t *testing.T, a adapter, got *recorded, sent []byte, model string) {
	t.Helper()
	if a.format != llm.FormatConverse {
		if !bytes.Equal(got.body, sent) {
			t.Errorf("body changed on the way:\n got  %s\n sent %s", got.body, sent)
		}
		if m := gjson.GetBytes(got.body, "model").String(); m != model {
			t.Errorf("body model %q, want %q", m, model)
		}
		return
	}
	if gjson.GetBytes(got.body, "modelId").Exists() {
		t.Errorf("modelId left in the Converse body: %s", got.body)
	}
	if !strings.Contains(got.requestURI, "/model/") {
		t.Errorf("no model in the path %s", got.requestURI)
	}
	betas := gjson.GetBytes(got.body, "additionalModelRequestFields.anthropic_beta")
	var flags []string
	for _, f := range betas.Array() {
		flags = append(flags, f.String())
	}
	if strings.Join(flags, ",") != a.kept {
		t.Errorf("anthropic_beta %v, want %s", flags, a.kept)
	}
	if !gjson.GetBytes(got.body, "messages.0.content.0.text").Exists() {
		t.Errorf("the Converse body lost its messages: %s", got.body)
	}
}

func checkAnthropicHeaders(t *testing.T, a adapter, got *recorded) {
	t.Helper()
	version, beta := got.header.Get("Anthropic-Version"), got.header.Get("Anthropic-Beta")
	if a.format != llm.FormatAnthropic {
		if version != "" || beta != "" {
			t.Errorf("anthropic headers sent to a %s upstream: version %q, beta %q", a.format, version, beta)
		}
		return
	}
	if version != a.version {
		t.Errorf("anthropic-version %q, want %q", version, a.version)
	}
	if beta != a.kept {
		t.Errorf("anthropic-beta %q, want %q", beta, a.kept)
	}
	if a.dropped == "" || strings.Contains(beta, a.dropped) {
		t.Errorf("anthropic-beta %q: %q should be dropped", beta, a.dropped)
	}
}

// checkStreamRead reads the answer as the worker will: through the provider's StreamDecoder,
// or as Server-Sent Events.
func checkStreamRead(t *testing.T, p Provider, resp *http.Response, stream bool) {
	t.Helper()
	if !stream {
		b, _ := io.ReadAll(resp.Body)
		if string(b) != `{"ok":true}` {
			t.Errorf("answer %s", b)
		}
		return
	}
	next := sse.NewReader(resp.Body, 0).Next
	want := "first"
	if d, ok := p.(StreamDecoder); ok {
		next, want = d.DecodeStream(resp.Body), "messageStart"
	}
	ev, err := next()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event != want || !json.Valid(ev.Data) {
		t.Errorf("first event %q %s, want %s", ev.Event, ev.Data, want)
	}
	for {
		if _, err := next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// sigV4Auth checks a SigV4 signature by signing the call again as the upstream received it,
// over the headers the signature names, with the same credentials and time.
func sigV4Auth(creds aws.Credentials, region string) func(*testing.T, *recorded) {
	return func(t *testing.T, got *recorded) {
		t.Helper()
		authz := got.header.Get("Authorization")
		if !strings.HasPrefix(authz, "AWS4-HMAC-SHA256 Credential="+creds.AccessKeyID+"/") || !strings.Contains(authz, "/"+region+"/bedrock/aws4_request") {
			t.Fatalf("Authorization %q is not a SigV4 signature for bedrock in %s", authz, region)
		}
		if got.header.Get("X-Amz-Security-Token") != creds.SessionToken {
			t.Errorf("X-Amz-Security-Token missing")
		}
		_, signedList, _ := strings.Cut(authz, "SignedHeaders=")
		signedList, _, _ = strings.Cut(signedList, ",")
		at, err := time.Parse("20060102T150405Z", got.header.Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(got.method, "http://"+got.host+got.requestURI, bytes.NewReader(got.body))
		if err != nil {
			t.Fatal(err)
		}
		for h := range strings.SplitSeq(signedList, ";") {
			if h != "host" && h != "content-length" {
				req.Header[http.CanonicalHeaderKey(h)] = got.header.Values(h)
			}
		}
		h := sha256.Sum256(got.body)
		sum := hex.EncodeToString(h[:])
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sum, "bedrock", region, at); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("Authorization") != authz {
			t.Errorf("signature does not verify:\n got  %s\n want %s", authz, req.Header.Get("Authorization"))
		}
	}
}
