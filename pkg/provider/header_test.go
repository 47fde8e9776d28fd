package provider

import (
	"context"
	"net/http"
	"testing"
)

// TestForwardedHeaders: each upstream gets the client headers of its own API family, the
// operator's fixed headers over the client's, and never the client's credentials.
func TestForwardedHeaders(t *testing.T) {
	client := http.Header{
		"Authorization":            {"Bearer client-token"},
		"X-Api-Key":                {"client-key"},
		"Cookie":                   {"session=client"},
		"Anthropic-Version":        {"2023-06-01"},
		"Anthropic-Beta":           {"oauth-2025-04-20"},
		"X-Claude-Code-Session-Id": {"cc-session"},
		"Session-Id":               {"codex-session"},
		"Originator":               {"codex_exec"},
		"Openai-Organization":      {"org-client"},
		"Openai-Project":           {"proj_client"},
		"X-Client-Request-Id":      {"codex-req"},
	}
	anthropicHeaders := []string{"Anthropic-Version", "X-Claude-Code-Session-Id"}
	openAIHeaders := []string{"Session-Id", "Originator", "Openai-Project", "X-Client-Request-Id"}
	for _, tc := range []struct {
		name        string
		env         map[string]string
		provider    string
		want, never []string
		values      map[string]string
	}{
		{
			name: "anthropic", provider: "anthropic",
			env:  map[string]string{"MODEL_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "sk-ant-operator"},
			want: anthropicHeaders, never: append(openAIHeaders, "Openai-Organization", "Anthropic-Beta"),
			values: map[string]string{"X-Api-Key": "sk-ant-operator", "X-Claude-Code-Session-Id": "cc-session"},
		},
		{
			name: "openai, organization from the client", provider: "openai",
			env:  map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "sk-operator"},
			want: append(openAIHeaders, "Openai-Organization"), never: append(anthropicHeaders, "Anthropic-Beta", "X-Api-Key", "Cookie"),
			values: map[string]string{"Authorization": "Bearer sk-operator", "Openai-Organization": "org-client"},
		},
		{
			name: "openai, organization of the operator", provider: "openai",
			env:  map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "sk-operator", "OPENAI_ORGANIZATION": "org-operator"},
			want: openAIHeaders, never: anthropicHeaders,
			values: map[string]string{"Openai-Organization": "org-operator"},
		},
		{
			name: "ollama without a key", provider: "ollama",
			env:  map[string]string{"MODEL_PROVIDER": "ollama"},
			want: openAIHeaders, never: append(anthropicHeaders, "Authorization", "X-Api-Key", "Cookie"),
		},
		{
			name: "bedrock takes none", provider: "bedrock",
			env:   map[string]string{"MODEL_PROVIDER": "bedrock", "AWS_BEDROCK_API_KEY": "ABSK-operator", "AWS_BEDROCK_MODEL_ID": "anthropic.claude-3-5-sonnet-20241022-v2:0"},
			never: append(append(anthropicHeaders, openAIHeaders...), "Openai-Organization", "X-Api-Key", "Cookie"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Load(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			p, ok := set.Get(tc.provider)
			if !ok {
				t.Fatalf("no provider %s", tc.provider)
			}
			body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
			req, err := p.NewRequest(context.Background(), body, false, client)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.want {
				if req.Header.Get(name) == "" {
					t.Errorf("%s did not reach the upstream", name)
				}
			}
			for _, name := range tc.never {
				if v := req.Header.Get(name); v != "" && tc.values[name] == "" {
					t.Errorf("%s reached the upstream: %q", name, v)
				}
			}
			for name, want := range tc.values {
				if got := req.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for name, values := range req.Header {
				for _, v := range values {
					if v == "Bearer client-token" || v == "client-key" || v == "session=client" {
						t.Errorf("the client's credential reached the upstream in %s", name)
					}
				}
			}
		})
	}
}
