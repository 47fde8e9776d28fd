package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
)

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		def, fallback string
		names         []string
	}{
		{"empty environment: ollama on the laptop", nil, "ollama", "", []string{"ollama"}},
		{"provider case-insensitive", map[string]string{"MODEL_PROVIDER": "OpenAI", "OPENAI_API_KEY": "k"}, "openai", "", []string{"openai"}},
		{"fallback", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "FALLBACK_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "a"}, "openai", "anthropic", []string{"anthropic", "openai"}},
		{"fallback disabled", map[string]string{"FALLBACK_PROVIDER": "databricks", "FALLBACK_ENABLED": "false"}, "ollama", "", []string{"ollama"}},
		{"fallback same as default", map[string]string{"FALLBACK_PROVIDER": "ollama"}, "ollama", "", []string{"ollama"}},
		{"configured by key", map[string]string{"OPENROUTER_API_KEY": "k", "ZAI_API_KEY": "z"}, "ollama", "", []string{"ollama", "openrouter", "zai"}},
		{"empty key is unset", map[string]string{"OPENROUTER_API_KEY": "  "}, "ollama", "", []string{"ollama"}},
		{
			// The shape of Lynkr's .env.example: local endpoints set, a fallback that is off,
			// cloud endpoints without keys.
			"lynkr env example",
			map[string]string{
				"MODEL_PROVIDER": "ollama", "OLLAMA_MODEL": "qwen2.5-coder:latest", "OLLAMA_ENDPOINT": "http://localhost:11434",
				"OPENROUTER_API_KEY": "", "OPENROUTER_ENDPOINT": "https://openrouter.ai/api/v1/chat/completions",
				"LLAMACPP_ENDPOINT": "http://localhost:8080", "LLAMACPP_EMBEDDINGS_ENDPOINT": "http://localhost:8080/embeddings",
				"LMSTUDIO_ENDPOINT": "http://localhost:1234",
				"MOONSHOT_ENDPOINT": "https://api.moonshot.ai/v1/chat/completions", "MOONSHOT_MODEL": "kimi-k2-thinking",
				"FALLBACK_ENABLED": "false", "FALLBACK_PROVIDER": "databricks",
			},
			"ollama", "", []string{"llamacpp", "lmstudio", "ollama"},
		},
		{"bedrock by model id", map[string]string{"AWS_BEDROCK_MODEL_ID": "meta.llama3-70b-instruct-v1:0", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"}, "ollama", "", []string{"bedrock", "ollama"}},
		{"bedrock AWS bearer name", map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_BEARER_TOKEN_BEDROCK": "ABSK"}, "bedrock", "", []string{"bedrock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(mapLookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.Default() != tt.def || s.Fallback() != tt.fallback || !slices.Equal(s.Names(), tt.names) {
				t.Errorf("got default %q fallback %q names %v; want %q %q %v", s.Default(), s.Fallback(), s.Names(), tt.def, tt.fallback, tt.names)
			}
			if _, ok := s.Get(s.Default()); !ok {
				t.Error("the default provider is not in the set")
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the whole message
	}{
		{"missing key", map[string]string{"MODEL_PROVIDER": "openai"}, "OPENAI_API_KEY is required when MODEL_PROVIDER=openai"},
		{"missing fallback key", map[string]string{"FALLBACK_PROVIDER": "databricks"}, "DATABRICKS_API_KEY is required when FALLBACK_PROVIDER=databricks"},
		{"missing databricks base", map[string]string{"MODEL_PROVIDER": "databricks", "DATABRICKS_API_KEY": "dapi-x"}, "DATABRICKS_API_BASE is required when MODEL_PROVIDER=databricks"},
		{"configured provider missing its endpoint", map[string]string{"AZURE_OPENAI_API_KEY": "k"}, "AZURE_OPENAI_ENDPOINT is required when AZURE_OPENAI_API_KEY is set"},
		{"azure anthropic endpoint", map[string]string{"MODEL_PROVIDER": "azure-anthropic", "AZURE_ANTHROPIC_API_KEY": "k"}, "AZURE_ANTHROPIC_ENDPOINT is required when MODEL_PROVIDER=azure-anthropic"},
		{"unknown provider", map[string]string{"MODEL_PROVIDER": "vertex"}, `MODEL_PROVIDER: expected one of anthropic, azure-anthropic, azure-openai, bedrock, databricks, llamacpp, lmstudio, moonshot, ollama, openai, openrouter, zai, got "vertex"`},
		{"unknown fallback", map[string]string{"FALLBACK_PROVIDER": "gemini"}, `FALLBACK_PROVIDER: expected one of anthropic, azure-anthropic, azure-openai, bedrock, databricks, llamacpp, lmstudio, moonshot, ollama, openai, openrouter, zai, got "gemini"`},
		{"bad boolean", map[string]string{"FALLBACK_ENABLED": "maybe"}, `FALLBACK_ENABLED: expected true or false, got "maybe"`},
		{"bad URL", map[string]string{"OLLAMA_ENDPOINT": "localhost:11434"}, `OLLAMA_ENDPOINT: expected an http(s) URL such as http://localhost:11434, got "localhost:11434"`},
		{"password in a bad URL", map[string]string{"OLLAMA_ENDPOINT": "http://user:hunter2@localhost:11434/api/chat"}, `OLLAMA_ENDPOINT: expected the chat completions URL (…/v1/chat/completions) or a base URL such as http://localhost:11434, got "http://localhost:11434/api/chat"`},
		{"bad model map", map[string]string{"MODEL_MAP": "claude-*"}, `MODEL_MAP: expected comma-separated pattern=model entries such as claude-sonnet-*=gpt-4o, got "claude-*"`},
		{"bad provider model map", map[string]string{"OLLAMA_MODEL_MAP": "=x"}, `OLLAMA_MODEL_MAP: expected comma-separated pattern=model entries such as claude-sonnet-*=gpt-4o, got "=x"`},
		{"missing key azure", map[string]string{"MODEL_PROVIDER": "azure-openai"}, "AZURE_OPENAI_API_KEY is required when MODEL_PROVIDER=azure-openai"},
		{"missing key openrouter", map[string]string{"MODEL_PROVIDER": "openrouter"}, "OPENROUTER_API_KEY is required when MODEL_PROVIDER=openrouter"},
		{"missing key anthropic", map[string]string{"MODEL_PROVIDER": "anthropic"}, "ANTHROPIC_API_KEY is required when MODEL_PROVIDER=anthropic"},
		{"missing key moonshot", map[string]string{"MODEL_PROVIDER": "moonshot"}, "MOONSHOT_API_KEY is required when MODEL_PROVIDER=moonshot"},
		{"missing key zai", map[string]string{"MODEL_PROVIDER": "zai"}, "ZAI_API_KEY is required when MODEL_PROVIDER=zai"},
		{"endpoint scheme", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "ftp://x"}, `OPENAI_ENDPOINT: expected an http(s) URL such as https://api.openai.com/v1/chat/completions, got "ftp://x"`},
		{"endpoint not a URL", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "not a url"}, `OPENAI_ENDPOINT: expected an http(s) URL such as https://api.openai.com/v1/chat/completions, got "not a url"`},
		{"endpoint without host", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "https:///v1/chat/completions"}, `OPENAI_ENDPOINT: expected an http(s) URL such as https://api.openai.com/v1/chat/completions, got "https:///v1/chat/completions"`},
		{"endpoint unparsable", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "http://[::1"}, `OPENAI_ENDPOINT: expected an http(s) URL such as https://api.openai.com/v1/chat/completions, got "http://[::1"`},
		{"bad OPENAI_API", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_API": "assistants"}, `OPENAI_API: expected chat (the Chat Completions API, the default) or responses (the Responses API), got "assistants"`},
		{"chat API with a Responses URL", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_API": "chat", "OPENAI_ENDPOINT": "https://api.openai.com/v1/responses"}, "OPENAI_API: chat asks for the Chat Completions API, but OPENAI_ENDPOINT is a Responses API URL (…/responses); set OPENAI_API=responses or give a chat completions URL"},
		{"responses path", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_API": "responses", "OPENAI_ENDPOINT": "https://api.openai.com/v1/completions"}, `OPENAI_ENDPOINT: expected the Responses URL (…/v1/responses) or a base URL such as https://api.openai.com/v1/responses, got "https://api.openai.com/v1/completions"`},
		{"bad AZURE_OPENAI_API", map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "AZURE_OPENAI_API": "v1"}, `AZURE_OPENAI_API: expected chat (the Chat Completions API, the default) or responses (the Responses API), got "v1"`},
		{"azure responses elsewhere", map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/other/path", "AZURE_OPENAI_API": "responses"}, `AZURE_OPENAI_ENDPOINT: expected the resource URL such as https://<resource>.openai.azure.com or the Responses URL …/openai/v1/responses, got "https://r.openai.azure.com/other/path"`},
		{"bad OPENROUTER_API", map[string]string{"MODEL_PROVIDER": "openrouter", "OPENROUTER_API_KEY": "k", "OPENROUTER_API": "messages"}, `OPENROUTER_API: expected chat (the Chat Completions API, the default) or responses (the Responses API), got "messages"`},
		{"anthropic path", map[string]string{"MODEL_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "k", "ANTHROPIC_ENDPOINT": "https://api.anthropic.com/v2/complete"}, `ANTHROPIC_ENDPOINT: expected the messages URL (…/v1/messages) or a base URL such as https://api.anthropic.com/v1/messages, got "https://api.anthropic.com/v2/complete"`},
		{"bad region", map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_BEDROCK_API_KEY": "k", "AWS_BEDROCK_REGION": "us east"}, `AWS_BEDROCK_REGION: expected an AWS region such as us-east-1, got "us east"`},
		{"half an AWS key", map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_ACCESS_KEY_ID": "AKID"}, "AWS_SECRET_ACCESS_KEY is required when AWS_ACCESS_KEY_ID is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mapLookup(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got  %s\n want %s", err, tt.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(tt.want, ce.Var) {
				t.Errorf("error %v is not a *ConfigError naming the variable", err)
			}
			if !errors.Is(err, config.ErrBadSetting) {
				t.Errorf("error %v is not a config.ErrBadSetting: it would not stop start-up with status 2", err)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error is not one safe line: %q", err)
			}
		})
	}
}

func TestLoadAWSProfileMissing(t *testing.T) {
	_, err := Load(mapLookup(map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_PROFILE": "lynkr-test-no-such-profile-7d1e"}))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != "AWS_PROFILE" {
		t.Fatalf("error %v, want a *ConfigError naming AWS_PROFILE", err)
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		provider string
		format   llm.Format
		endpoint string // what String shows
	}{
		{"ollama full URL", map[string]string{"OLLAMA_ENDPOINT": "http://gpu:11434/v1/chat/completions"}, "ollama", llm.FormatChat, "http://gpu:11434/v1/chat/completions"},
		{"ollama base with slash", map[string]string{"OLLAMA_ENDPOINT": "http://gpu:11434/"}, "ollama", llm.FormatChat, "http://gpu:11434/v1/chat/completions"},
		{"openai v1", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "https://proxy.example/openai/v1"}, "openai", llm.FormatChat, "https://proxy.example/openai/v1/chat/completions"},
		{"openai default", map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k"}, "openai", llm.FormatChat, "https://api.openai.com/v1/chat/completions"},
		{"anthropic default", map[string]string{"ANTHROPIC_API_KEY": "k"}, "anthropic", llm.FormatAnthropic, "https://api.anthropic.com/v1/messages"},
		{"openai responses URL", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "https://api.openai.com/v1/responses/"}, "openai", llm.FormatResponses, "https://api.openai.com/v1/responses"},
		{"openai responses default", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_API": "Responses"}, "openai", llm.FormatResponses, "https://api.openai.com/v1/responses"},
		{"openai responses base", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_API": "responses", "OPENAI_ENDPOINT": "https://proxy.example"}, "openai", llm.FormatResponses, "https://proxy.example/v1/responses"},
		{"openai responses from chat URL", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_API": "responses", "OPENAI_ENDPOINT": "https://api.openai.com/v1/chat/completions"}, "openai", llm.FormatResponses, "https://api.openai.com/v1/responses"},
		{"openai chat explicit", map[string]string{"OPENAI_API_KEY": "k", "OPENAI_API": "chat"}, "openai", llm.FormatChat, "https://api.openai.com/v1/chat/completions"},
		{"azure responses v1", map[string]string{"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/openai/v1/responses"}, "azure-openai", llm.FormatResponses, "https://r.openai.azure.com/openai/v1/responses"},
		{"azure responses preview", map[string]string{"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/openai/responses?api-version=2025-03-01-preview"}, "azure-openai", llm.FormatResponses, "https://r.openai.azure.com/openai/responses?api-version=2025-03-01-preview"},
		{"azure responses preview version", map[string]string{"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/openai/responses", "AZURE_OPENAI_API_VERSION": "2025-04-01-preview"}, "azure-openai", llm.FormatResponses, "https://r.openai.azure.com/openai/responses?api-version=2025-04-01-preview"},
		{"azure responses from resource", map[string]string{"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/", "AZURE_OPENAI_API": "responses"}, "azure-openai", llm.FormatResponses, "https://r.openai.azure.com/openai/v1/responses"},
		{"azure responses from deployment URL", map[string]string{"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/openai/deployments/gpt-5/chat/completions?api-version=2024-10-21", "AZURE_OPENAI_API": "responses"}, "azure-openai", llm.FormatResponses, "https://r.openai.azure.com/openai/v1/responses"},
		{"azure foundry responses", map[string]string{"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.services.ai.azure.com/openai/v1", "AZURE_OPENAI_API": "responses"}, "azure-openai", llm.FormatResponses, "https://r.services.ai.azure.com/openai/v1/responses"},
		{"openrouter responses", map[string]string{"OPENROUTER_API_KEY": "k", "OPENROUTER_ENDPOINT": "https://openrouter.ai/api/v1/responses"}, "openrouter", llm.FormatResponses, "https://openrouter.ai/api/v1/responses"},
		{"azure anthropic base", map[string]string{"AZURE_ANTHROPIC_API_KEY": "k", "AZURE_ANTHROPIC_ENDPOINT": "https://r.services.ai.azure.com/anthropic/"}, "azure-anthropic", llm.FormatAnthropic, "https://r.services.ai.azure.com/anthropic/v1/messages"},
		{"databricks default path", map[string]string{"DATABRICKS_API_KEY": "k", "DATABRICKS_API_BASE": "https://w.cloud.databricks.com/"}, "databricks", llm.FormatChat, "https://w.cloud.databricks.com/serving-endpoints/databricks-claude-sonnet-4-5/invocations"},
		{"databricks ai gateway", map[string]string{"DATABRICKS_API_KEY": "k", "DATABRICKS_API_BASE": "https://w.cloud.databricks.com", "DATABRICKS_ENDPOINT_PATH": "/ai-gateway/anthropic/v1/messages"}, "databricks", llm.FormatAnthropic, "https://w.cloud.databricks.com/ai-gateway/anthropic/v1/messages"},
		{"zai default", map[string]string{"ZAI_API_KEY": "k"}, "zai", llm.FormatAnthropic, "https://api.z.ai/api/anthropic/v1/messages"},
		{"zai chat", map[string]string{"ZAI_API_KEY": "k", "ZAI_ENDPOINT": "https://api.z.ai/api/paas/v4/chat/completions"}, "zai", llm.FormatChat, "https://api.z.ai/api/paas/v4/chat/completions"},
		{"bedrock region", map[string]string{"AWS_BEDROCK_API_KEY": "k", "AWS_REGION": "eu-central-1"}, "bedrock", llm.FormatConverse, "https://bedrock-runtime.eu-central-1.amazonaws.com"},
		{"bedrock region wins", map[string]string{"AWS_BEDROCK_API_KEY": "k", "AWS_BEDROCK_REGION": "ap-south-1", "AWS_REGION": "eu-central-1"}, "bedrock", llm.FormatConverse, "https://bedrock-runtime.ap-south-1.amazonaws.com"},
		{"bedrock default region", map[string]string{"AWS_BEDROCK_API_KEY": "k"}, "bedrock", llm.FormatConverse, "https://bedrock-runtime.us-east-1.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(mapLookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := s.Get(tt.provider)
			if !ok {
				t.Fatalf("%s not built: %v", tt.provider, s.Names())
			}
			req, err := p.NewRequest(context.Background(), []byte(`{}`), false, http.Header{})
			if err != nil {
				t.Fatal(err)
			}
			got := req.URL.String()
			if p.Format() == llm.FormatConverse { // the model is in the path: /model/{id}/converse
				got = strings.TrimSuffix(got[:strings.Index(got+"/model/", "/model/")], "/")
			}
			if got != tt.endpoint || p.Format() != tt.format {
				t.Errorf("got %s %s, want %s %s", p.Format(), got, tt.format, tt.endpoint)
			}
			// The start-up line names the endpoint without its query, which may hold a key.
			want := tt.provider + " provider (" + string(tt.format) + ", " + config.RedactURL(tt.endpoint) + ")"
			if got := p.(interface{ String() string }).String(); got != want {
				t.Errorf("described as %s, want %s", got, want)
			}
		})
	}
}
