package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// TestClientDisconnectCancelsUpstream checks that a client leaving mid-stream stops the
// upstream call: the fake's in-flight count returns to zero soon after, long before the
// scripted answer would have ended.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	// 200 pieces 100 ms apart: 20 s if nobody stops it.
	slow := fakeupstream.Reply{Text: strings.Repeat("word ", 200), ChunkDelay: 100 * time.Millisecond}
	clients := map[string]func(ctx context.Context, s *stack) (next func() bool, err func() error){
		"anthropic": func(ctx context.Context, s *stack) (func() bool, func() error) {
			c := s.anthropic()
			st := c.Messages.NewStreaming(ctx, anthropicParams(scenario{name: "slow"}))
			return st.Next, st.Err
		},
		"chat": func(ctx context.Context, s *stack) (func() bool, func() error) {
			c := s.openai()
			st := c.Chat.Completions.NewStreaming(ctx, chatParams(scenario{name: "slow"}))
			return st.Next, st.Err
		},
		"responses": func(ctx context.Context, s *stack) (func() bool, func() error) {
			c := s.openai()
			st := c.Responses.NewStreaming(ctx, responsesParams(scenario{name: "slow"}))
			return st.Next, st.Err
		},
	}
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, nil)
			s.Fake.SetDefault(slow)
			for name, open := range clients {
				t.Run(name, func(t *testing.T) {
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					next, errf := open(ctx, s)
					for i := 0; i < 3; i++ {
						if !next() {
							t.Fatalf("stream ended after %d events: %v", i, errf())
						}
					}
					if n := s.Fake.InFlight(); n != 1 {
						t.Fatalf("upstream calls in flight mid-stream: %d, want 1", n)
					}
					cancel()
					left := time.Now()
					for s.Fake.InFlight() != 0 {
						if time.Since(left) > 5*time.Second {
							t.Fatalf("the upstream call still runs 5 s after the client left")
						}
						time.Sleep(10 * time.Millisecond)
					}
				})
			}
		})
	}
}

// TestRequestSizeLimit checks that a request of 8 MB — a long user message — works end to
// end, and that one of 9 MB gets a 413 in the caller's own error format without reaching the
// upstream.
func TestRequestSizeLimit(t *testing.T) {
	const mb = 1 << 20
	big := func(n int) string {
		var b strings.Builder
		b.Grow(n)
		for b.Len() < n {
			fmt.Fprintf(&b, "line %07d of a very long pasted log file. ", b.Len())
		}
		return b.String()[:n]
	}
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, nil)
			// Echo the message back: 8 MB each way through the bus.
			text := big(8*mb - 1024) // the whole body is just under 8 MiB
			c := s.anthropic()
			msg, err := c.Messages.New(t.Context(), anthropic.MessageNewParams{
				Model: "claude-sonnet-4-5", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
			})
			if err != nil {
				t.Fatalf("8 MB request: %v", err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "echo: "+text {
				t.Errorf("8 MB request: answer of %d blocks, %d bytes of text, want the %d bytes echoed", len(msg.Content), len(msg.Content[0].Text), len(text)+6)
			}
			calls := s.Fake.Calls()

			huge := big(9 * mb)
			_, err = c.Messages.New(t.Context(), anthropic.MessageNewParams{
				Model: "claude-sonnet-4-5", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(huge))},
			})
			var ae *anthropic.Error
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusRequestEntityTooLarge || ae.Type() != "request_too_large" {
				t.Errorf("9 MB Anthropic request: %v, want a 413 request_too_large in Anthropic's format", err)
			}
			oc := s.openai()
			_, err = oc.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
				Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(huge)},
			})
			var oe *openai.Error
			if !errors.As(err, &oe) || oe.StatusCode != http.StatusRequestEntityTooLarge || oe.Type != "request_too_large" || !strings.Contains(oe.Message, "MAX_REQUEST_BODY_BYTES") {
				t.Errorf("9 MB OpenAI request: %v, want a 413 in OpenAI's format naming the limit", err)
			}
			// A body of unknown length (chunked) is measured as it is read.
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/responses", io.MultiReader(
				strings.NewReader(`{"model":"gpt-4o","input":"`), strings.NewReader(huge), strings.NewReader(`"}`)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"type":"request_too_large"`) {
				t.Errorf("9 MB chunked request: status %d %s, want 413 in OpenAI's format", resp.StatusCode, b)
			}
			if n := s.Fake.Calls(); n != calls {
				t.Errorf("the upstream got %d calls for requests over the limit", n-calls)
			}
		})
	}
}

// TestConcurrentMixedTraffic sends 200 requests at once — Anthropic messages, chat
// completions and responses, streamed and not — to each upstream family with the fake echoing
// each request's own text, and checks every client got its own answer.
func TestConcurrentMixedTraffic(t *testing.T) {
	const n = 200
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			s := start(t, kind, nil)
			s.Fake.SetDefault(fakeupstream.Reply{Echo: true, Chunks: 3})
			ac, oc := s.anthropic(), s.openai()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					prompt := fmt.Sprintf("request %d token %x", i, rand.Uint64())
					got, err := mixedCall(t.Context(), i, ac, oc, prompt)
					if err == nil && got != "echo: "+prompt {
						err = fmt.Errorf("answer %q", got)
					}
					if err != nil {
						errs <- fmt.Errorf("request %d (%s): %w", i, mixedKinds[i%len(mixedKinds)], err)
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if failed++; failed <= 10 {
					t.Error(err)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d requests failed", failed, n)
			}
			if got := len(s.upstreamCalls()); got != n {
				t.Errorf("the upstream got %d calls, want %d", got, n)
			}
		})
	}
}

var mixedKinds = []string{"anthropic", "anthropic stream", "chat", "chat stream", "responses", "responses stream"}

// mixedCall makes call i of the mixed traffic and returns the answer's text.
func mixedCall(ctx context.Context, i int, ac anthropic.Client, oc openai.Client, prompt string) (string, error) {
	aParams := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}
	cParams := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}
	rParams := responses.ResponseNewParams{Model: "gpt-4o", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)}}
	switch mixedKinds[i%len(mixedKinds)] {
	case "anthropic":
		m, err := ac.Messages.New(ctx, aParams)
		if err != nil {
			return "", err
		}
		return m.Content[0].Text, nil
	case "anthropic stream":
		st := ac.Messages.NewStreaming(ctx, aParams)
		var acc anthropic.Message
		for st.Next() {
			if err := acc.Accumulate(st.Current()); err != nil {
				return "", err
			}
		}
		if st.Err() != nil || len(acc.Content) == 0 {
			return "", fmt.Errorf("stream: %v, %d blocks", st.Err(), len(acc.Content))
		}
		return acc.Content[0].Text, nil
	case "chat":
		c, err := oc.Chat.Completions.New(ctx, cParams)
		if err != nil {
			return "", err
		}
		return c.Choices[0].Message.Content, nil
	case "chat stream":
		st := oc.Chat.Completions.NewStreaming(ctx, cParams)
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if st.Err() != nil || len(acc.Choices) == 0 {
			return "", fmt.Errorf("stream: %v", st.Err())
		}
		return acc.Choices[0].Message.Content, nil
	case "responses":
		r, err := oc.Responses.New(ctx, rParams)
		if err != nil {
			return "", err
		}
		return r.OutputText(), nil
	default:
		st := oc.Responses.NewStreaming(ctx, rParams)
		var text strings.Builder
		completed := false
		for st.Next() {
			switch ev := st.Current(); ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				completed = true
			}
		}
		if st.Err() != nil || !completed {
			return "", fmt.Errorf("stream: %v, completed %v", st.Err(), completed)
		}
		return text.String(), nil
	}
}

// A worker runs at most WORKER_CONCURRENCY requests at once, and its handlers take request
// after request: two waves of 12 concurrent requests through a worker of 3 slots keep
// exactly 3 upstream calls in flight at the peak, and each client gets its own answer.
func TestWorkerRunsAtMostItsConcurrency(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"WORKER_CONCURRENCY": "3"})
	s.Fake.SetDefault(fakeupstream.Reply{Echo: true, HeaderDelay: 100 * time.Millisecond})
	c := s.openai()
	for wave := range 2 {
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				prompt := fmt.Sprintf("wave %d, request %d", wave, i)
				resp, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
					Model:    "gpt-4o",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
				})
				if err != nil {
					t.Errorf("%s: %v", prompt, err)
					return
				}
				if got := resp.Choices[0].Message.Content; got != "echo: "+prompt {
					t.Errorf("%s: answer %q", prompt, got)
				}
			})
		}
		wg.Wait()
		if peak := s.Fake.PeakInFlight(); peak != 3 {
			t.Errorf("wave %d: %d upstream calls at once at the peak, want WORKER_CONCURRENCY's 3", wave, peak)
		}
		s.Fake.Reset()
	}
}
