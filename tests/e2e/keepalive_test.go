package e2e

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// TestSlowUpstreamKeepAlive checks that a stream whose upstream is slow to start is opened
// with keep-alive pings each SDK accepts, and still delivers the whole answer; and that an
// upstream error arriving after the pings began ends the stream with an error event.
func TestSlowUpstreamKeepAlive(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, map[string]string{"SSE_PING_INTERVAL": "50", "API_RETRY_MAX_RETRIES": "0"})
			sc := scenarios[2]
			slow := sc.reply
			slow.HeaderDelay = 400 * time.Millisecond

			// The bytes on the wire open with a ping before the first answer byte.
			s.Fake.Enqueue(slow)
			resp, body := s.post(t, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "event: ping\n") || !strings.Contains(string(body), "event: message_stop") {
				t.Errorf("status %d, stream %.200q…: want a ping first and message_stop at the end", resp.StatusCode, body)
			}
			s.Fake.Enqueue(slow)
			resp, body = s.post(t, "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), ":") || !strings.Contains(string(body), "data: [DONE]") {
				t.Errorf("status %d, stream %.200q…: want a comment ping first and [DONE] at the end", resp.StatusCode, body)
			}

			// The SDKs take the pings in their stride.
			s.Fake.Enqueue(slow)
			c := s.anthropic()
			st := c.Messages.NewStreaming(t.Context(), anthropicParams(sc))
			var acc anthropic.Message
			for st.Next() {
				if err := acc.Accumulate(st.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if st.Err() != nil {
				t.Fatalf("anthropic stream: %v", st.Err())
			}
			checkAnthropicMessage(t, s, sc, &acc)

			s.Fake.Enqueue(slow)
			oc := s.openai()
			params := chatParams(sc)
			params.StreamOptions.IncludeUsage = openai.Bool(true)
			cs := oc.Chat.Completions.NewStreaming(t.Context(), params)
			var cacc openai.ChatCompletionAccumulator
			for cs.Next() {
				cacc.AddChunk(cs.Current())
			}
			if cs.Err() != nil {
				t.Fatalf("chat stream: %v", cs.Err())
			}
			checkChatCompletion(t, s, sc, &cacc.ChatCompletion, true)

			s.Fake.Enqueue(slow)
			rs := oc.Responses.NewStreaming(t.Context(), responsesParams(sc))
			if final := readResponseStream(t, rs.Next, rs.Current, rs.Err); final != nil {
				checkResponse(t, s, sc, final)
			}

			// An error status after the pings began: the stream is already 200, so it ends
			// with the error as an event.
			s.Fake.Enqueue(fakeupstream.Reply{HeaderDelay: 300 * time.Millisecond, Fault: &fakeupstream.Fault{Status: 429, Message: "too many"}})
			st = c.Messages.NewStreaming(t.Context(), anthropicParams(sc))
			for st.Next() {
				t.Errorf("event %s before the error", st.Current().Type)
			}
			var ae *anthropic.Error
			if !errors.As(st.Err(), &ae) || ae.Type() != "rate_limit_error" || !strings.Contains(ae.Message, "too many") {
				t.Errorf("stream ended with %v, want the upstream's rate_limit_error as an event", st.Err())
			}
		})
	}
}
