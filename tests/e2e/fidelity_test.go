package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// billingLine is the attribution line Claude Code puts first in its system prompt.
const billingLine = "x-anthropic-billing-header: cc_version=2.1.3.4f2; cc_entrypoint=cli; cch=abc123;"

// anthropicBody is a Claude Code style request, pretty-printed with odd spacing, carrying
// fields lynkr does not know (top level and inside blocks), escapes, a thinking block with its
// signature in the history, and the attribution line. model and stream are filled in.
const anthropicBody = `{
  "model" : "MODEL",
  "max_tokens": 4096,
  "x_future_field": {"nested": [1, 2.50, {"a": null}], "s": "\u00e9\u003c"},
  "system": [
    {"type": "text", "text": "` + billingLine + `"},
    {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
  ],
  "messages": [
    {"role": "user", "content": "Think about it."},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "Let me think…\nstep 1", "signature": "EqQBCkYIBxgCKkB+/sig==\u003cend"},
      {"type": "text", "text": "Done.", "x_block_extra": true}
    ]},
    {"role": "user", "content": [{"type": "text", "text": "And now?", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
  ],
  "thinking": {"type": "enabled", "budget_tokens": 1024},
  "metadata": {"user_id": "u-1"},
  "stream": STREAM
}`

// chatBody is an OpenAI chat request with vendor fields lynkr does not know. A stream asks for
// its usage, as lynkr would ask for it anyway (TestChatStreamUsageIsAskedFor).
const chatBody = `{"model":"MODEL","messages":[{"role":"system","content":"Be brief."},` +
	`{"role":"user","content":"hi \u00e9","name":"bob"}],"temperature":0.2,"x_vendor_ext":{"k":[true, 1.50]},` +
	`"logit_bias":{"50256":-100},"seed":7,"stream":STREAM,"stream_options":{"include_usage":STREAM}}`

func fill(body, model string, stream bool) string {
	s := "false"
	if stream {
		s = "true"
	}
	return strings.NewReplacer("MODEL", model, "STREAM", s).Replace(body)
}

// TestSameFormatPassesThrough checks that a request in the upstream's own format reaches it
// byte for byte — unknown fields, key order, spacing, escapes and thinking signatures — with
// only the model rewritten, and only where the model map says; and that the answer comes back
// as the upstream sent it.
func TestSameFormatPassesThrough(t *testing.T) {
	cases := []struct {
		kind           upstream
		path, body     string
		mapVar         string
		kept, from, to string // a model that passes, and one the map rewrites
	}{
		{anthropicUpstream, "/v1/messages", anthropicBody, "ANTHROPIC_MODEL_MAP", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5"},
		{openAIUpstream, "/v1/chat/completions", chatBody, "OPENAI_MODEL_MAP", "gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, c.kind, map[string]string{c.mapVar: c.from + "=" + c.to})
			s.Fake.SetDefault(fakeupstream.Reply{Text: "Fine.", Thinking: "hmm", Signature: "sig+/=\u003c", Usage: cachedUsage})
			for _, stream := range []bool{false, true} {
				for _, model := range []string{c.kept, c.from} {
					sent := fill(c.body, model, stream)
					resp, got := s.post(t, c.path, sent, map[string]string{"anthropic-version": "2023-06-01"})
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("stream=%v model %s: status %d: %s", stream, model, resp.StatusCode, got)
					}
					up := s.lastCall()
					want := sent
					if model == c.from {
						want = strings.Replace(sent, `"`+c.from+`"`, `"`+c.to+`"`, 1)
					}
					if string(up.Body) != want {
						t.Errorf("stream=%v model %s: the upstream got\n%s\nwant\n%s", stream, model, up.Body, want)
					}
					// The answer is the upstream's own bytes: ask the fake directly for the same.
					direct := postDirect(t, s.Fake.URL()+up.Path, up.Body)
					if string(got) != string(direct) {
						t.Errorf("stream=%v model %s: client got\n%s\nthe upstream answers\n%s", stream, model, got, direct)
					}
				}
			}
		})
	}
}

func postDirect(t *testing.T, url string, body []byte) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnthropicHeadersForwarded checks that the client's anthropic-version and anthropic-beta
// reach an Anthropic-format upstream, and its own credential does not.
func TestAnthropicHeadersForwarded(t *testing.T) {
	s := start(t, anthropicUpstream, nil)
	var sentVersion []string // what the SDK put on the wire
	client := s.anthropic(
		aoption.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14,context-1m-2025-08-07"),
		aoption.WithMiddleware(func(r *http.Request, next aoption.MiddlewareNext) (*http.Response, error) {
			sentVersion = append(sentVersion, r.Header.Get("anthropic-version"))
			return next(r)
		}),
	)
	params := anthropicParams(scenario{name: "headers"})
	if _, err := client.Messages.New(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	stream := client.Messages.NewStreaming(t.Context(), params)
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{
		Model: params.Model, Messages: params.Messages,
	}); err != nil {
		t.Fatal(err)
	}
	reqs := answered(s.Fake)
	if len(reqs) != 3 {
		t.Fatalf("the upstream got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		h := r.Header
		if v := h.Get("anthropic-version"); v == "" || v != sentVersion[i] {
			t.Errorf("%s: anthropic-version %q, want the SDK's %q", r.Path, v, sentVersion[i])
		}
		if v := strings.Join(h.Values("anthropic-beta"), ","); strings.ReplaceAll(v, " ", "") != "interleaved-thinking-2025-05-14,context-1m-2025-08-07" {
			t.Errorf("%s: anthropic-beta %q, want the client's flags", r.Path, v)
		}
		if v := h.Get("x-api-key"); v != "sk-ant-test" {
			t.Errorf("%s: x-api-key %q, want the provider's key, never the client's", r.Path, v)
		}
		if v := h.Get("Authorization"); v != "" {
			t.Errorf("%s: Authorization %q forwarded", r.Path, v)
		}
	}
}

// TestSystemPromptConversion checks what becomes of system prompts between formats: a string
// system prompt is kept; Claude Code's attribution line reaches an Anthropic-format upstream
// as it was sent and is left out of what an OpenAI-format upstream gets.
func TestSystemPromptConversion(t *testing.T) {
	t.Run("string system to openai", func(t *testing.T) {
		s := start(t, openAIUpstream, nil)
		for _, stream := range []bool{false, true} {
			body := `{"model":"claude-sonnet-4-5","max_tokens":100,"system":"You are a pirate.\nSpeak like one.","stream":` +
				map[bool]string{false: "false", true: "true"}[stream] + `,"messages":[{"role":"user","content":"hi"}]}`
			if resp, b := s.post(t, "/v1/messages", body, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			msgs := chatMessages(t, s.lastCall().Body)
			if len(msgs) != 2 || msgs[0].Role != "system" || msgs[0].text() != "You are a pirate.\nSpeak like one." ||
				msgs[1].Role != "user" || msgs[1].text() != "hi" {
				t.Errorf("stream=%v: upstream messages %s", stream, s.lastCall().Body)
			}
		}
	})
	t.Run("chat system to anthropic", func(t *testing.T) {
		s := start(t, anthropicUpstream, nil)
		body := `{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"You are a pirate."},{"role":"user","content":"hi"}]}`
		if resp, b := s.post(t, "/v1/chat/completions", body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		var up struct {
			System json.RawMessage `json:"system"`
		}
		if err := json.Unmarshal(s.lastCall().Body, &up); err != nil {
			t.Fatal(err)
		}
		if systemText(t, up.System) != "You are a pirate." {
			t.Errorf("upstream system %s, want the client's", up.System)
		}
	})
	t.Run("attribution line", func(t *testing.T) {
		for _, kind := range upstreams {
			s := start(t, kind, nil)
			for _, stream := range []bool{false, true} {
				sent := fill(anthropicBody, "claude-sonnet-4-5", stream)
				if resp, b := s.post(t, "/v1/messages", sent, nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", kind, resp.StatusCode, b)
				}
				up := s.lastCall().Body
				if kind == anthropicUpstream {
					var req struct {
						System []json.RawMessage `json:"system"`
					}
					if err := json.Unmarshal(up, &req); err != nil || len(req.System) == 0 {
						t.Fatalf("upstream system: %v %s", err, up)
					}
					if want := `{"type": "text", "text": "` + billingLine + `"}`; string(req.System[0]) != want {
						t.Errorf("first system block %s, want %s", req.System[0], want)
					}
					continue
				}
				if strings.Contains(string(up), "x-anthropic-billing-header") || strings.Contains(string(up), "cch=") {
					t.Errorf("stream=%v: the attribution line reached the OpenAI-format upstream: %s", stream, up)
				}
				msgs := chatMessages(t, up)
				if len(msgs) == 0 || msgs[0].Role != "system" || !strings.Contains(msgs[0].text(), "You are Claude Code.") {
					t.Errorf("stream=%v: the rest of the system prompt is lost: %s", stream, up)
				}
			}
		}
	})
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text is the message's content: its string, or its text parts joined.
func (m chatMessage) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct{ Type, Text string }
	_ = json.Unmarshal(m.Content, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

func chatMessages(t *testing.T, body []byte) []chatMessage {
	t.Helper()
	var req struct {
		Messages []chatMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("upstream body: %v: %s", err, body)
	}
	return req.Messages
}

// systemText flattens an Anthropic system prompt, a string or text blocks.
func systemText(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	return chatMessage{Content: raw}.text()
}

// TestResponseHeaders checks the headers every answer carries: X-Request-Id (the client's
// own kept, else one made up), and, on streams, the headers that keep proxies from buffering.
func TestResponseHeaders(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, nil)
			requests := []struct {
				name, method, path, body string
				status                   int
				sse                      bool
			}{
				{"messages", "POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 200, false},
				{"messages stream", "POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200, true},
				{"chat", "POST", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 200, false},
				{"chat stream", "POST", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200, true},
				{"responses", "POST", "/v1/responses", `{"model":"gpt-4o","input":"hi"}`, 200, false},
				{"responses stream", "POST", "/v1/responses", `{"model":"gpt-4o","input":"hi","stream":true}`, 200, true},
				{"count tokens", "POST", "/v1/messages/count_tokens", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`, 200, false},
				{"invalid", "POST", "/v1/messages", `{"model":"claude-sonnet-4-5","messages":[]}`, 400, false},
				{"no route", "GET", "/v1/nothing", "", 404, false},
				{"models", "GET", "/v1/models", "", 200, false},
				{"root", "HEAD", "/", "", 200, false},
				{"health", "GET", "/health/ready", "", 200, false},
			}
			for _, r := range requests {
				for _, own := range []string{"", "client-id-" + strings.ReplaceAll(r.name, " ", "-")} {
					var body io.Reader
					if r.body != "" {
						body = strings.NewReader(r.body)
					}
					req, _ := http.NewRequest(r.method, s.URL+r.path, body)
					req.Header.Set("Content-Type", "application/json")
					if own != "" {
						req.Header.Set("X-Request-Id", own)
					}
					resp, err := s.HTTP.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != r.status {
						t.Errorf("%s: status %d, want %d: %s", r.name, resp.StatusCode, r.status, b)
					}
					id := resp.Header.Get("X-Request-Id")
					if own != "" && id != own || own == "" && id == "" {
						t.Errorf("%s: X-Request-Id %q, client sent %q", r.name, id, own)
					}
					if r.sse {
						h := resp.Header
						if !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
							t.Errorf("%s: stream headers Content-Type %q Cache-Control %q X-Accel-Buffering %q", r.name,
								h.Get("Content-Type"), h.Get("Cache-Control"), h.Get("X-Accel-Buffering"))
						}
					}
				}
			}
		})
	}
}

// TestChatStreamUsageIsAskedFor: a Chat client that streams without asking for the usage is
// charged all the same: lynkr asks the upstream for it, counts it, and keeps the usage chunk
// from the client, which gets the stream it asked for.
func TestChatStreamUsageIsAskedFor(t *testing.T) {
	s := start(t, openAIUpstream, nil)
	s.Fake.SetDefault(fakeupstream.Reply{Text: "Fine.", Usage: fakeupstream.Usage{InputTokens: 21, OutputTokens: 4}})
	resp, got := s.post(t, "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	if up := s.lastCall(); !strings.Contains(string(up.Body), `"stream_options":{"include_usage":true}`) {
		t.Fatalf("the upstream was not asked for the usage: %s", up.Body)
	}
	if strings.Contains(string(got), `"prompt_tokens"`) {
		t.Errorf("the client got a usage chunk it did not ask for:\n%s", got)
	}
	if !strings.Contains(string(got), "Fine.") || !strings.HasSuffix(strings.TrimSpace(string(got)), "data: [DONE]") {
		t.Errorf("the client's stream is not whole:\n%s", got)
	}
	// The tokens are counted (the gateway counts them from the answer's end, after the client
	// had its last byte: wait for it).
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams, _ := scrape(t, s)
		in, _ := sample(fams, "lynkr_tokens_input_total", map[string]string{"provider": "openai"})
		if in == 21 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("input tokens counted: %v, want 21", in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
