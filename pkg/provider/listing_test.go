package provider

import (
	"context"
	"net/url"
	"slices"
	"testing"
)

func TestModelsURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.anthropic.com/v1/messages":          "https://api.anthropic.com/v1/models?limit=1000",
		"https://api.anthropic.com/v1/messages/":         "https://api.anthropic.com/v1/models?limit=1000",
		"http://127.0.0.1:9/proxy/anthropic/v1/messages": "http://127.0.0.1:9/proxy/anthropic/v1/models?limit=1000",
	} {
		u, _ := url.Parse(in)
		if got := modelsURL(u).String(); got != want {
			t.Errorf("modelsURL(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestAnthropicListsItsModels(t *testing.T) {
	ps, err := Load(func(k string) (string, bool) {
		v, ok := map[string]string{"MODEL_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "sk-ant-x",
			"ANTHROPIC_ENDPOINT": "https://api.anthropic.com/v1/messages"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ps.Get("anthropic")
	l, ok := p.(ModelLister)
	if !ok {
		t.Fatal("the anthropic provider does not list its models")
	}
	req, err := l.NewModelsRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "GET" || req.URL.String() != "https://api.anthropic.com/v1/models?limit=1000" ||
		req.Header.Get("x-api-key") != "sk-ant-x" || req.Header.Get("anthropic-version") == "" {
		t.Errorf("models request %s %s %v", req.Method, req.URL, req.Header)
	}
	ids, err := l.ParseModels([]byte(`{"data":[{"type":"model","id":"claude-opus-4-5"},{"id":""},{"id":7},{"type":"model","id":"claude-haiku-4-5"}],"has_more":false}`))
	if err != nil || !slices.Equal(ids, []string{"claude-opus-4-5", "claude-haiku-4-5"}) {
		t.Errorf("ParseModels = %v, %v", ids, err)
	}
	for _, bad := range []string{`not json`, `{"data":{}}`, `[]`} {
		if _, err := l.ParseModels([]byte(bad)); err == nil {
			t.Errorf("ParseModels(%s) took it", bad)
		}
	}
}
