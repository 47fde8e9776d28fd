package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

func TestResponsesURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.openai.com/v1/responses":        "https://api.openai.com/v1/responses",
		"https://api.openai.com/v1/responses/":       "https://api.openai.com/v1/responses",
		"https://api.openai.com":                     "https://api.openai.com/v1/responses",
		"https://proxy.example/openai/v1":            "https://proxy.example/openai/v1/responses",
		"https://api.openai.com/v1/chat/completions": "https://api.openai.com/v1/responses",
		"http://localhost:8080/v1/responses?x=1":     "http://localhost:8080/v1/responses?x=1",
	} {
		u, err := responsesURL("OPENAI_ENDPOINT", raw, "https://api.openai.com/v1/responses")
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if u.String() != want {
			t.Errorf("responsesURL(%s) = %s, want %s", raw, u, want)
		}
		if c := compactURL(u); c.Path != u.Path+"/compact" || c.RawQuery != u.RawQuery {
			t.Errorf("compactURL(%s) = %s", u, c)
		}
	}
}

func TestAzureResponsesURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://r.openai.azure.com":                                                              "https://r.openai.azure.com/openai/v1/responses",
		"https://r.openai.azure.com/openai":                                                       "https://r.openai.azure.com/openai/v1/responses",
		"https://r.openai.azure.com/openai/v1/":                                                   "https://r.openai.azure.com/openai/v1/responses",
		"https://r.openai.azure.com/openai/v1/responses":                                          "https://r.openai.azure.com/openai/v1/responses",
		"https://r.openai.azure.com/openai/v1/chat/completions":                                   "https://r.openai.azure.com/openai/v1/responses",
		"https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21": "https://r.openai.azure.com/openai/v1/responses",
		"https://r.openai.azure.com/openai/responses":                                             "https://r.openai.azure.com/openai/responses?api-version=2025-04-01-preview",
		"https://r.openai.azure.com/openai/responses?api-version=2025-03-01-preview":              "https://r.openai.azure.com/openai/responses?api-version=2025-03-01-preview",
	} {
		u, _ := url.Parse(raw)
		got, err := azureResponsesURL(u, azureResponsesPreviewVersion)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if got.String() != want {
			t.Errorf("azureResponsesURL(%s) = %s, want %s", raw, got, want)
		}
	}
}

func TestCodexIsOpenAI(t *testing.T) {
	for _, m := range []string{"gpt-5.3-codex", "gpt-5.1-codex-max", "gpt-5.1-codex-mini", "codex-mini-latest", "GPT-5-Codex"} {
		if !isOpenAI(m) {
			t.Errorf("isOpenAI(%q) = false: a *-codex model is OpenAI's", m)
		}
	}
	s, err := Load(mapLookup(map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_API": "responses"}))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Get("openai")
	if got := p.Model("gpt-5.3-codex"); got != "gpt-5.3-codex" {
		t.Errorf("Model(gpt-5.3-codex) = %q: want it passed through", got)
	}
	// A local server's free names keep theirs, but a hosted codex name is foreign there.
	s, _ = Load(mapLookup(map[string]string{"OLLAMA_MODEL": "qwen3-coder"}))
	p, _ = s.Get("ollama")
	if got := p.Model("gpt-5.1-codex"); got != "qwen3-coder" {
		t.Errorf("ollama Model(gpt-5.1-codex) = %q, want the default qwen3-coder", got)
	}
}

// TestResponsesCall checks the call a Responses upstream gets: the body as given, to the
// …/responses URL, with the provider's credential and never the client's.
func TestResponsesCall(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Header().Set("Content-Type", contentJSON)
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, provider, path, credHeader, cred string
		env                                    map[string]string
	}{
		{"openai", "openai", "/v1/responses", "Authorization", "Bearer sk-1", map[string]string{"OPENAI_API_KEY": "sk-1", "OPENAI_API": "responses", "OPENAI_ENDPOINT": srv.URL}},
		{"azure", "azure-openai", "/openai/v1/responses", "Api-Key", "az-1", map[string]string{"AZURE_OPENAI_API_KEY": "az-1", "AZURE_OPENAI_ENDPOINT": srv.URL + "/openai/v1/responses"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(mapLookup(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := s.Get(tc.provider)
			if p.Format() != llm.FormatResponses {
				t.Fatalf("Format = %s", p.Format())
			}
			body := []byte(`{"model":"gpt-5.3-codex","input":"hi","stream":true}`)
			req, err := p.NewRequest(context.Background(), body, true, http.Header{"Authorization": {"Bearer client"}, "Api-Key": {"client"}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got.Method != http.MethodPost || got.URL.Path != tc.path || got.Header.Get(tc.credHeader) != tc.cred {
				t.Errorf("call %s %s %s=%q", got.Method, got.URL.Path, tc.credHeader, got.Header.Get(tc.credHeader))
			}
			if got.Header.Get("Accept") != contentEventStream {
				t.Errorf("Accept %q for a streamed call", got.Header.Get("Accept"))
			}
		})
	}
}
