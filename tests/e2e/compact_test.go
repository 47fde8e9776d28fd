package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// openAIError is OpenAI's error body.
type openAIError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

// TestCompactNotServed: a provider without OpenAI's compaction answers
// /v1/responses/compact with a 404 in OpenAI's error format, and calls nothing upstream.
func TestCompactNotServed(t *testing.T) {
	s := start(t, anthropicUpstream, nil)
	resp, out := s.post(t, "/v1/responses/compact",
		`{"model":"claude-sonnet-4-5","input":[{"role":"user","content":"hello"}]}`, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404: %s", resp.StatusCode, out)
	}
	var e openAIError
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("not OpenAI's error format: %s", out)
	}
	if !strings.Contains(e.Error.Message, "provider anthropic does not serve /v1/responses/compact") {
		t.Errorf("message %q", e.Error.Message)
	}
	for _, r := range answered(s.Fake) {
		t.Errorf("the upstream was called: %s %s", r.Method, r.Path)
	}
}

// TestCompactValidation: the gateway refuses a compaction request that is not a JSON object
// naming its model, as it does /v1/responses.
func TestCompactValidation(t *testing.T) {
	s := start(t, anthropicUpstream, nil)
	for body, want := range map[string]string{
		`{"input":[]}`:          "model: is required",
		`{"model":7}`:           "model: must be a string, not a number",
		`{"model":""}`:          "model: must not be empty",
		`[{"model":"gpt-4o"}]`:  "the body must be a JSON object",
		`{"model":"gpt-4o"`:     "the body is not valid JSON",
		`{"model":null,"x":{}}`: "model: is required",
	} {
		resp, out := s.post(t, "/v1/responses/compact", body, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", body, resp.StatusCode, out)
			continue
		}
		var e openAIError
		if err := json.Unmarshal(out, &e); err != nil || !strings.Contains(e.Error.Message, want) {
			t.Errorf("%s: answer %s, want %q", body, out, want)
		}
	}
	if n := len(answered(s.Fake)); n != 0 {
		t.Errorf("%d upstream calls for invalid requests", n)
	}
}

// TestCompactPassesThrough: through a Responses upstream that compacts (OpenAI's), the
// client's body reaches …/responses/compact byte for byte but for the mapped model, with the
// client's OpenAI headers and not its credential, and the upstream's answer and request id
// come back as they are.
func TestCompactPassesThrough(t *testing.T) {
	fake := fakeupstream.New()
	t.Cleanup(fake.Close)
	s := startLynkr(t, openAIUpstream, fake.URL(), map[string]string{
		"OPENAI_ENDPOINT": fake.URL() + "/v1/responses",
		"MODEL_MAP":       "claude-sonnet-*=gpt-4o",
	})
	s.Fake = fake
	for _, tc := range []struct{ name, body, want string }{
		{"as written", `{ "model" : "gpt-4o",  "input":[{"role":"user","content":"keep   me"}],"future_field":{"a":[1,2]} }`,
			`{ "model" : "gpt-4o",  "input":[{"role":"user","content":"keep   me"}],"future_field":{"a":[1,2]} }`},
		{"model mapped", `{"model":"claude-sonnet-4-5","input":[{"role":"user","content":"hello"}],"instructions":"be brief"}`,
			`{"model":"gpt-4o","input":[{"role":"user","content":"hello"}],"instructions":"be brief"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := s.post(t, "/v1/responses/compact", tc.body, map[string]string{
				"Authorization": "Bearer client-key", "Session-Id": "codex-session-1", "Originator": "codex_exec",
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			var got struct {
				Object string `json:"object"`
				Output []struct {
					Type string `json:"type"`
				} `json:"output"`
			}
			if err := json.Unmarshal(out, &got); err != nil || got.Object != "response.compaction" || len(got.Output) == 0 ||
				got.Output[len(got.Output)-1].Type != "compaction" {
				t.Errorf("answer %s", out)
			}
			if v := resp.Header.Get("X-Upstream-Request-Id"); !strings.HasPrefix(v, "req_") {
				t.Errorf("X-Upstream-Request-Id %q", v)
			}
			var call *fakeupstream.Request
			for _, r := range fake.Requests() {
				if r.Endpoint == fakeupstream.ResponsesCompact {
					call = &r
				}
			}
			if call == nil {
				t.Fatal("the upstream's compact endpoint was not called")
			}
			if string(call.Body) != tc.want {
				t.Errorf("upstream body\n got  %s\n want %s", call.Body, tc.want)
			}
			for name, want := range map[string]string{
				"Authorization": "Bearer sk-test", "Session-Id": "codex-session-1", "Originator": "codex_exec",
			} {
				if v := call.Header.Get(name); v != want {
					t.Errorf("upstream got %s %q, want %q", name, v, want)
				}
			}
		})
	}
}
