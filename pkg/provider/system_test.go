package provider

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"
)

// Only Anthropic's own API takes a system message inside the conversation: the other hosts of
// the format get it as <system> text in a user turn at the same place.
func TestSystemMessagesInline(t *testing.T) {
	body := []byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"Be brief."}]}`)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		wantRole string
	}{
		{"anthropic", map[string]string{"MODEL_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "k"}, "system"},
		{"azure-anthropic", map[string]string{"MODEL_PROVIDER": "azure-anthropic", "AZURE_ANTHROPIC_API_KEY": "k",
			"AZURE_ANTHROPIC_ENDPOINT": "https://res.services.ai.azure.com/anthropic/v1/messages"}, "user"},
		{"databricks", map[string]string{"MODEL_PROVIDER": "databricks", "DATABRICKS_API_KEY": "k",
			"DATABRICKS_API_BASE": "https://x.cloud.databricks.com", "DATABRICKS_ENDPOINT_PATH": "/serving-endpoints/anthropic/v1/messages"}, "user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(mapLookup(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := s.Get(tc.name)
			req, err := p.NewRequest(context.Background(), body, false, http.Header{})
			if err != nil {
				t.Fatal(err)
			}
			sent, _ := io.ReadAll(req.Body)
			if got := gjson.GetBytes(sent, "messages.1.role").Str; got != tc.wantRole {
				t.Errorf("messages[1].role %q, want %q: %s", got, tc.wantRole, sent)
			}
		})
	}
}
