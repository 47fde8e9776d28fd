package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// TestHeadersAnthropic: the Anthropic client headers an upstream uses reach an
// Anthropic-format upstream, the client's credentials and other families' headers do not,
// and the upstream's request id and rate limits come back to the client, streamed or not.
func TestHeadersAnthropic(t *testing.T) {
	s := start(t, anthropicUpstream, nil)
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			s.Fake.Enqueue(fakeupstream.Reply{Text: "hi", Header: http.Header{
				"Anthropic-Ratelimit-Requests-Remaining": {"41"},
				"Anthropic-Ratelimit-Tokens-Reset":       {"2026-12-07T04:00:00Z"},
				"Set-Cookie":                             {"upstream=1"},
			}})
			body := `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":` + map[bool]string{false: "false", true: "true"}[stream] +
				`,"messages":[{"role":"user","content":"hello"}]}`
			resp, out := s.post(t, "/v1/messages", body, map[string]string{
				"Anthropic-Version":        "2023-06-01",
				"Anthropic-Beta":           "interleaved-thinking-2025-05-14",
				"X-Claude-Code-Session-Id": "cc-session-1",
				"X-App":                    "cli",
				"X-Api-Key":                "client-key",
				"Authorization":            "Bearer client-token",
				"Cookie":                   "client=1",
				"Session-Id":               "codex-session-1", // an OpenAI header: not for Anthropic
				"Openai-Organization":      "org-client",
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			got := s.lastCall().Header
			for name, want := range map[string]string{
				"X-Claude-Code-Session-Id": "cc-session-1",
				"X-App":                    "cli",
				"Anthropic-Version":        "2023-06-01",
				"Anthropic-Beta":           "interleaved-thinking-2025-05-14",
				"X-Api-Key":                "sk-ant-test", // the operator's
				"Authorization":            "",
				"Cookie":                   "",
				"Session-Id":               "",
				"Openai-Organization":      "",
			} {
				if v := strings.Join(got.Values(name), ","); v != want {
					t.Errorf("upstream got %s %q, want %q", name, v, want)
				}
			}
			h := resp.Header
			if id := h.Get("Request-Id"); !strings.HasPrefix(id, "req_") || id == h.Get("X-Request-Id") {
				t.Errorf("Request-Id %q: want the upstream's (X-Request-Id is lynkr's: %q)", id, h.Get("X-Request-Id"))
			}
			if v := h.Get("Anthropic-Ratelimit-Requests-Remaining"); v != "41" {
				t.Errorf("Anthropic-Ratelimit-Requests-Remaining %q, want 41", v)
			}
			if v := h.Get("Anthropic-Ratelimit-Tokens-Reset"); v != "2026-12-07T04:00:00Z" {
				t.Errorf("Anthropic-Ratelimit-Tokens-Reset %q", v)
			}
			for _, name := range []string{"Set-Cookie", "Anthropic-Organization-Id"} {
				if v := h.Get(name); v != "" {
					t.Errorf("the upstream's %s reached the client: %q", name, v)
				}
			}
		})
	}
}

// TestHeadersOpenAI: Codex's and OpenAI's client headers reach an OpenAI-format upstream from
// /v1/chat/completions and /v1/responses; the upstream's x-request-id comes back as
// X-Upstream-Request-Id beside lynkr's own X-Request-Id, with its rate limits.
func TestHeadersOpenAI(t *testing.T) {
	s := start(t, openAIUpstream, nil)
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`},
		{"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello"}]}`},
		{"/v1/responses", `{"model":"gpt-4o","input":"hello"}`},
		{"/v1/responses", `{"model":"gpt-4o","stream":true,"input":"hello"}`},
	} {
		t.Run(tc.path+map[bool]string{false: "", true: " stream"}[strings.Contains(tc.body, "stream")], func(t *testing.T) {
			s.Fake.Enqueue(fakeupstream.Reply{Text: "hi", Header: http.Header{
				"X-Ratelimit-Remaining-Requests": {"99"},
				"X-Ratelimit-Reset-Tokens":       {"6ms"},
			}})
			resp, out := s.post(t, tc.path, tc.body, map[string]string{
				"Authorization":            "Bearer client-key",
				"Session-Id":               "codex-session-1",
				"Thread-Id":                "codex-thread-1",
				"Originator":               "codex_exec",
				"X-Client-Request-Id":      "codex-req-1",
				"Openai-Organization":      "org-client",
				"Openai-Project":           "proj_client",
				"X-Claude-Code-Session-Id": "cc-session-1", // an Anthropic header: not for OpenAI
				"X-Request-Id":             "client-id-1",
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			got := s.lastCall().Header
			for name, want := range map[string]string{
				"Session-Id":               "codex-session-1",
				"Thread-Id":                "codex-thread-1",
				"Originator":               "codex_exec",
				"X-Client-Request-Id":      "codex-req-1",
				"Openai-Organization":      "org-client",
				"Openai-Project":           "proj_client",
				"Authorization":            "Bearer sk-test", // the operator's
				"X-Api-Key":                "",
				"X-Claude-Code-Session-Id": "",
			} {
				if v := strings.Join(got.Values(name), ","); v != want {
					t.Errorf("upstream got %s %q, want %q", name, v, want)
				}
			}
			h := resp.Header
			if v := h.Get("X-Request-Id"); v != "client-id-1" {
				t.Errorf("X-Request-Id %q: lynkr's request id is the client's", v)
			}
			if v := h.Get("X-Upstream-Request-Id"); !strings.HasPrefix(v, "req_") {
				t.Errorf("X-Upstream-Request-Id %q: want the upstream's x-request-id", v)
			}
			if v := h.Get("X-Ratelimit-Remaining-Requests"); v != "99" {
				t.Errorf("X-Ratelimit-Remaining-Requests %q, want 99", v)
			}
			if v := h.Get("Openai-Organization"); v != "" {
				t.Errorf("the upstream's organization reached the client: %q", v)
			}
		})
	}
}

// TestHeadersOperatorOrganization: OPENAI_ORGANIZATION wins over the client's.
func TestHeadersOperatorOrganization(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"OPENAI_ORGANIZATION": "org-operator"})
	resp, out := s.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`,
		map[string]string{"Openai-Organization": "org-client", "Openai-Project": "proj_client"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	got := s.lastCall().Header
	if v := strings.Join(got.Values("Openai-Organization"), ","); v != "org-operator" {
		t.Errorf("OpenAI-Organization %q, want the operator's", v)
	}
	if v := got.Get("Openai-Project"); v != "proj_client" {
		t.Errorf("OpenAI-Project %q, want the client's", v)
	}
}

// TestHeadersCacheHit: an answer from the response cache carries none of the upstream's
// headers: its request id and rate limits were those of the call that filled the cache.
func TestHeadersCacheHit(t *testing.T) {
	s := start(t, anthropicUpstream, nil)
	s.Fake.SetDefault(fakeupstream.Reply{Text: "cached", Header: http.Header{"Anthropic-Ratelimit-Requests-Remaining": {"7"}}})
	body := `{"model":"claude-sonnet-4-5","max_tokens":64,"temperature":0,"messages":[{"role":"user","content":"same"}]}`
	first, _ := s.post(t, "/v1/messages", body, nil)
	second, out := s.post(t, "/v1/messages", body, nil)
	if first.Header.Get("X-Lynkr-Cache") != "miss" || second.Header.Get("X-Lynkr-Cache") != "hit" {
		t.Fatalf("cache %q then %q, want miss then hit", first.Header.Get("X-Lynkr-Cache"), second.Header.Get("X-Lynkr-Cache"))
	}
	if first.Header.Get("Request-Id") == "" || first.Header.Get("Anthropic-Ratelimit-Requests-Remaining") != "7" {
		t.Errorf("the upstream's headers did not reach the client: %v", first.Header)
	}
	for _, name := range []string{"Request-Id", "Anthropic-Ratelimit-Requests-Remaining"} {
		if v := second.Header.Get(name); v != "" {
			t.Errorf("a cache hit carries the upstream's %s %q", name, v)
		}
	}
	if !strings.Contains(string(out), `"text":"cached"`) {
		t.Errorf("cache hit body %s", out)
	}
}
