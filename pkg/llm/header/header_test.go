package header

import (
	"maps"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

// claudeCode and codex are the headers the real clients send (see docs: Claude Code 2.1,
// Codex 0.171), credentials included.
var (
	claudeCode = http.Header{
		"Anthropic-Version":        {"2023-06-01"},
		"Anthropic-Beta":           {"interleaved-thinking-2025-05-14,context-management-2025-06-27"},
		"X-Api-Key":                {"sk-ant-client"},
		"Authorization":            {"Bearer client"},
		"X-Claude-Code-Session-Id": {"5a0c"},
		"X-App":                    {"cli"},
		"X-Stainless-Lang":         {"js"},
		"Cookie":                   {"a=b"},
		"Content-Type":             {"application/json"},
		"User-Agent":               {"claude-cli/2.1.197"},
	}
	codex = http.Header{
		"Authorization":         {"Bearer sk-client"},
		"Session-Id":            {"s1"},
		"Thread-Id":             {"t1"},
		"Originator":            {"codex_exec"},
		"X-Client-Request-Id":   {"c1"},
		"Openai-Organization":   {"org-client"},
		"Openai-Project":        {"proj_client"},
		"X-Codex-Turn-Metadata": {"{}"},
		"Accept":                {"text/event-stream"},
	}
)

func TestForward(t *testing.T) {
	all := http.Header{}
	maps.Copy(all, claudeCode)
	maps.Copy(all, codex)
	for _, tc := range []struct {
		name   string
		client http.Header
		f      llm.Format
		want   http.Header
	}{
		{"claude code to anthropic", claudeCode, llm.FormatAnthropic, http.Header{
			"Anthropic-Version":        {"2023-06-01"},
			"Anthropic-Beta":           {"interleaved-thinking-2025-05-14,context-management-2025-06-27"},
			"X-Claude-Code-Session-Id": {"5a0c"},
			"X-App":                    {"cli"},
		}},
		{"codex to responses", codex, llm.FormatResponses, http.Header{
			"Session-Id":          {"s1"},
			"Thread-Id":           {"t1"},
			"Originator":          {"codex_exec"},
			"X-Client-Request-Id": {"c1"},
			"Openai-Organization": {"org-client"},
			"Openai-Project":      {"proj_client"},
		}},
		{"codex to chat", codex, llm.FormatChat, http.Header{
			"Session-Id":          {"s1"},
			"Thread-Id":           {"t1"},
			"Originator":          {"codex_exec"},
			"X-Client-Request-Id": {"c1"},
			"Openai-Organization": {"org-client"},
			"Openai-Project":      {"proj_client"},
		}},
		{"claude code to chat: no anthropic headers", claudeCode, llm.FormatChat, http.Header{}},
		{"codex to anthropic: no openai headers", codex, llm.FormatAnthropic, http.Header{}},
		{"anything to converse: none", all, llm.FormatConverse, http.Header{}},
		{"lower-case names and several values", http.Header{"anthropic-beta": {"a", "b"}, "x-api-key": {"k"}}, llm.FormatAnthropic,
			http.Header{"Anthropic-Beta": {"a,b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := http.Header{}
			Forward(got, tc.client, tc.f)
			if !maps.EqualFunc(got, tc.want, func(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") }) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestForwarded(t *testing.T) {
	for name, want := range map[string]bool{
		"anthropic-version": true, "Anthropic-Beta": true, "X-Claude-Code-Session-Id": true, "x-app": true,
		"session-id": true, "Thread-Id": true, "originator": true, "X-Client-Request-Id": true,
		"OpenAI-Organization": true, "OpenAI-Project": true, "OpenAI-Beta": true,
		"Authorization": false, "x-api-key": false, "api-key": false, "Cookie": false, "Proxy-Authorization": false,
		"X-Stainless-Lang": false, "Content-Type": false, "Host": false, "X-Lynkr-Provider": false,
		"X-Request-Id": false, "Anthropic-": false, "Openai-": false,
	} {
		if got := Forwarded(textproto.CanonicalMIMEHeaderKey(name)); got != want {
			t.Errorf("Forwarded(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestReturned(t *testing.T) {
	up := http.Header{
		"Request-Id":                              {"req_011"},
		"X-Request-Id":                            {"req_abc"},
		"Anthropic-Ratelimit-Requests-Remaining":  {"49"},
		"Anthropic-Ratelimit-Input-Tokens-Reset":  {"2026-12-07T03:00:00Z"},
		"X-Ratelimit-Remaining-Tokens":            {"9000"},
		"Retry-After":                             {"3"},
		"Retry-After-Ms":                          {"2500"},
		"Anthropic-Organization-Id":               {"org-operator"},
		"Openai-Organization":                     {"org-operator"},
		"Set-Cookie":                              {"__cf_bm=x"},
		"Content-Type":                            {"application/json"},
		"Content-Length":                          {"12"},
		"Openai-Processing-Ms":                    {"100"},
		textproto.CanonicalMIMEHeaderKey("x-a-b"): {"c"},
	}
	got := Returned(nil, up)
	want := map[string]string{
		"Request-Id":                             "req_011",
		"X-Upstream-Request-Id":                  "req_abc",
		"Anthropic-Ratelimit-Requests-Remaining": "49",
		"Anthropic-Ratelimit-Input-Tokens-Reset": "2026-12-07T03:00:00Z",
		"X-Ratelimit-Remaining-Tokens":           "9000",
		"Retry-After":                            "3",
		"Retry-After-Ms":                         "2500",
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if m := Returned(nil, http.Header{"Content-Type": {"x"}}); m != nil {
		t.Errorf("nothing to return made a map: %v", m)
	}
}

func TestForClient(t *testing.T) {
	for name, want := range map[string]string{
		"request-id": "Request-Id", "X-Upstream-Request-Id": "X-Upstream-Request-Id",
		"x-ratelimit-limit-tokens": "X-Ratelimit-Limit-Tokens", "anthropic-ratelimit-tokens-limit": "Anthropic-Ratelimit-Tokens-Limit",
		"Retry-After": "Retry-After", "x-lynkr-dropped": "X-Lynkr-Dropped",
		// lynkr's own X-Request-Id is never replaced by an answer's.
		"X-Request-Id": "", "Set-Cookie": "", "Content-Length": "", "Transfer-Encoding": "", "Content-Type": "",
		"X-Lynkr-": "", "Anthropic-Organization-Id": "",
	} {
		got, ok := ForClient(name)
		if got != want || ok != (want != "") {
			t.Errorf("ForClient(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

// TestNoCredentials: no rule, exact or prefix, lets a credential through either way.
func TestNoCredentials(t *testing.T) {
	for _, r := range Rules {
		if denied[r.Name] || denied[r.As] {
			t.Errorf("rule %q lets a credential through", r.Name)
		}
		if r.Name != textproto.CanonicalMIMEHeaderKey(r.Name) && !r.Prefix {
			t.Errorf("rule %q: name not canonical", r.Name)
		}
		if (r.Dir == ToUpstream) != (r.Family != FamilyNone) {
			t.Errorf("rule %q: a ToUpstream rule names its family, a ToClient rule none", r.Name)
		}
	}
	for name := range denied {
		if Forwarded(name) {
			t.Errorf("%s is forwarded", name)
		}
		if _, ok := ForClient(name); ok {
			t.Errorf("%s is returned", name)
		}
	}
}

func BenchmarkForwarded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for k := range claudeCode {
			if Forwarded(k) {
				n++
			}
		}
		if n != 4 {
			b.Fatal(n)
		}
	}
}
