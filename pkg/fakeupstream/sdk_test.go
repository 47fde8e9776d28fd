package fakeupstream_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// These tests hold the fake to the official SDKs: whatever the fake sends, the vendors' own
// decoders and stream accumulators must accept, and a stream must accumulate to the same
// message as the non-stream answer.

func anthropicClient(srv *fakeupstream.Server, opts ...aoption.RequestOption) *anthropic.Client {
	c := anthropic.NewClient(append([]aoption.RequestOption{
		aoption.WithBaseURL(srv.URL()), aoption.WithAPIKey("test-key"), aoption.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

func openAIClient(srv *fakeupstream.Server, opts ...ooption.RequestOption) *openai.Client {
	c := openai.NewClient(append([]ooption.RequestOption{
		ooption.WithBaseURL(srv.URL() + "/v1/"), ooption.WithAPIKey("test-key"), ooption.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

var anthropicParams = anthropic.MessageNewParams{
	Model:     "claude-test",
	MaxTokens: 1024,
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
}

func TestAnthropicSDK(t *testing.T) {
	replies := map[string]fakeupstream.Reply{
		"text":  {Text: "Hello there, world", Chunks: 3},
		"tools": {ToolCalls: []fakeupstream.ToolCall{{Name: "a", Arguments: fakeupstream.Split(`{"q":"x","n":[1,2]}`, 5)}, {Name: "b"}}},
		"all":   goldenReply,
	}
	for name, reply := range replies {
		t.Run(name, func(t *testing.T) {
			srv := fakeupstream.New()
			defer srv.Close()
			client := anthropicClient(srv)
			srv.Enqueue(reply, reply)

			msg, err := client.Messages.New(t.Context(), anthropicParams)
			if err != nil {
				t.Fatal(err)
			}
			stream := client.Messages.NewStreaming(t.Context(), anthropicParams)
			var acc anthropic.Message
			events := 0
			for stream.Next() {
				events++
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatalf("Accumulate event %d (%s): %v", events, stream.Current().Type, err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}

			for _, m := range []*anthropic.Message{msg, &acc} {
				checkAnthropicMessage(t, reply, m)
			}
			if msg.StopReason != acc.StopReason || msg.Usage.OutputTokens != acc.Usage.OutputTokens ||
				msg.Usage.InputTokens != acc.Usage.InputTokens || msg.Usage.CacheReadInputTokens != acc.Usage.CacheReadInputTokens ||
				msg.Usage.CacheCreationInputTokens != acc.Usage.CacheCreationInputTokens {
				t.Errorf("stream and non-stream differ:\n%s\n%s", msg.RawJSON(), acc.RawJSON())
			}
		})
	}
}

// checkAnthropicMessage checks m holds exactly what reply scripted.
func checkAnthropicMessage(t *testing.T, reply fakeupstream.Reply, m *anthropic.Message) {
	t.Helper()
	var want []string
	if reply.Thinking != "" {
		want = append(want, "thinking:"+reply.Thinking+"|"+reply.Signature)
	}
	if reply.Text != "" || len(reply.ToolCalls) == 0 {
		want = append(want, "text:"+reply.Text)
	}
	for _, tc := range reply.ToolCalls {
		args := strings.Join(tc.Arguments, "")
		if args == "" {
			args = "{}"
		}
		want = append(want, "tool_use:"+tc.Name+compactJSON(t, []byte(args)))
	}
	var got []string
	for _, b := range m.Content {
		switch b.Type {
		case "thinking":
			got = append(got, "thinking:"+b.Thinking+"|"+b.Signature)
		case "text":
			got = append(got, "text:"+b.Text)
		case "tool_use":
			if !strings.HasPrefix(b.ID, "toolu_") {
				t.Errorf("tool id %q", b.ID)
			}
			got = append(got, "tool_use:"+b.Name+compactJSON(t, b.Input))
		default:
			got = append(got, "unexpected:"+b.Type)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("content\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m.Model != "claude-test" || !strings.HasPrefix(m.ID, "msg_") {
		t.Errorf("model %q id %q", m.Model, m.ID)
	}
	wantStop := anthropic.StopReasonEndTurn
	if len(reply.ToolCalls) > 0 {
		wantStop = anthropic.StopReasonToolUse
	}
	if m.StopReason != wantStop {
		t.Errorf("stop reason %q, want %q", m.StopReason, wantStop)
	}
	if u := reply.Usage; u != (fakeupstream.Usage{}) && (m.Usage.InputTokens != u.InputTokens || m.Usage.OutputTokens != u.OutputTokens ||
		m.Usage.CacheReadInputTokens != u.CacheReadTokens || m.Usage.CacheCreationInputTokens != u.CacheWriteTokens) {
		t.Errorf("usage %+v, want %+v", m.Usage, u)
	}
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("not JSON: %s", raw)
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAnthropicSDKErrors(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()

	srv.FailNext(1, fakeupstream.Fault{Status: 529})
	_, err := anthropicClient(srv).Messages.New(t.Context(), anthropicParams)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" ||
		apiErr.Message != "Overloaded" || !strings.HasPrefix(apiErr.RequestID, "req_") {
		t.Errorf("529: %#v", err)
	}

	// the SDK's own retry honours the fake's retry-after-ms
	srv.Reset()
	srv.FailNext(1, fakeupstream.Fault{Status: 429, Header: http.Header{"retry-after-ms": {"1"}}})
	if _, err := anthropicClient(srv, aoption.WithMaxRetries(2)).Messages.New(t.Context(), anthropicParams); err != nil || srv.Calls() != 2 {
		t.Errorf("retried call: %v after %d calls", err, srv.Calls())
	}

	// an in-stream error event ends the stream with the vendor's error
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStreamError, AfterChunks: 4})
	stream := anthropicClient(srv).Messages.NewStreaming(t.Context(), anthropicParams)
	n := 0
	for stream.Next() {
		n++
	}
	if !errors.As(stream.Err(), &apiErr) || apiErr.Type() != "overloaded_error" || n != 3 {
		t.Errorf("stream error after %d events: %#v", n, stream.Err())
	}

	// a dropped stream is an error, not a short message
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailDrop, AfterChunks: 4})
	stream = anthropicClient(srv).Messages.NewStreaming(t.Context(), anthropicParams)
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Error("dropped stream ended without error")
	}
}

func openAIParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:         "gpt-test",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
}

func TestOpenAISDK(t *testing.T) {
	replies := map[string]fakeupstream.Reply{
		"text": {Text: "Hello there, world", Chunks: 4},
		"parallel tools": {ToolCalls: []fakeupstream.ToolCall{
			{Name: "a", Arguments: fakeupstream.Split(`{"q":"x","n":[1,2]}`, 4)},
			{ID: "call_given", Name: "b", Arguments: []string{`{"k"`, `:true}`}},
		}},
		"all": goldenReply,
	}
	for name, reply := range replies {
		t.Run(name, func(t *testing.T) {
			srv := fakeupstream.New()
			defer srv.Close()
			client := openAIClient(srv)
			srv.Enqueue(reply, reply)

			params := openAIParams()
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
			comp, err := client.Chat.Completions.New(t.Context(), params)
			if err != nil {
				t.Fatal(err)
			}
			stream := client.Chat.Completions.NewStreaming(t.Context(), openAIParams())
			var acc openai.ChatCompletionAccumulator
			var finishedTools []string
			contentDone := false
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("AddChunk rejected %s", stream.Current().RawJSON())
				}
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finishedTools = append(finishedTools, tc.Name+tc.Arguments)
				}
				if _, ok := acc.JustFinishedContent(); ok {
					contentDone = true
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}

			for _, c := range []*openai.ChatCompletion{comp, &acc.ChatCompletion} {
				checkOpenAICompletion(t, reply, c)
			}
			if comp.Usage.PromptTokens != acc.Usage.PromptTokens || comp.Usage.CompletionTokens != acc.Usage.CompletionTokens ||
				comp.Usage.PromptTokensDetails.CachedTokens != acc.Usage.PromptTokensDetails.CachedTokens {
				t.Errorf("stream and non-stream usage differ: %+v, %+v", comp.Usage, acc.Usage)
			}
			if len(finishedTools) != len(reply.ToolCalls) {
				t.Errorf("JustFinishedToolCall fired for %q", finishedTools)
			}
			if contentDone != (reply.Text != "") {
				t.Errorf("JustFinishedContent fired: %v", contentDone)
			}
		})
	}
}

// checkOpenAICompletion checks c holds exactly what reply scripted.
func checkOpenAICompletion(t *testing.T, reply fakeupstream.Reply, c *openai.ChatCompletion) {
	t.Helper()
	if c.Model != "gpt-test" || !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.Choices) != 1 {
		t.Fatalf("completion %+v", c)
	}
	msg := c.Choices[0].Message
	if msg.Content != reply.Text || msg.Role != "assistant" {
		t.Errorf("content %q, want %q", msg.Content, reply.Text)
	}
	if len(msg.ToolCalls) != len(reply.ToolCalls) {
		t.Fatalf("%d tool calls, want %d", len(msg.ToolCalls), len(reply.ToolCalls))
	}
	for i, tc := range reply.ToolCalls {
		got := msg.ToolCalls[i]
		if got.Type != "function" || got.Function.Name != tc.Name || got.Function.Arguments != strings.Join(tc.Arguments, "") && tc.Arguments != nil {
			t.Errorf("tool call %d: %+v, want %+v", i, got, tc)
		}
		if tc.ID != "" && got.ID != tc.ID || tc.ID == "" && !strings.HasPrefix(got.ID, "call_") {
			t.Errorf("tool call %d id %q", i, got.ID)
		}
	}
	wantFinish := "stop"
	if len(reply.ToolCalls) > 0 {
		wantFinish = "tool_calls"
	}
	if c.Choices[0].FinishReason != wantFinish {
		t.Errorf("finish reason %q, want %q", c.Choices[0].FinishReason, wantFinish)
	}
	if u := reply.Usage; u != (fakeupstream.Usage{}) {
		if c.Usage.PromptTokens != u.InputTokens+u.CacheReadTokens+u.CacheWriteTokens || c.Usage.CompletionTokens != u.OutputTokens ||
			c.Usage.PromptTokensDetails.CachedTokens != u.CacheReadTokens || c.Usage.CompletionTokensDetails.ReasoningTokens != u.ReasoningTokens {
			t.Errorf("usage %+v, want %+v", c.Usage, u)
		}
	}
}

func TestOpenAISDKErrors(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()

	srv.FailNext(1, fakeupstream.Fault{Status: 429, RetryAfter: "20"})
	_, err := openAIClient(srv).Chat.Completions.New(t.Context(), openAIParams())
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" || apiErr.Type != "requests" ||
		apiErr.Response.Header.Get("Retry-After") != "20" {
		t.Errorf("429: %#v", err)
	}

	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStreamError, AfterChunks: 2, Message: "boom"})
	stream := openAIClient(srv).Chat.Completions.NewStreaming(t.Context(), openAIParams())
	n := 0
	for stream.Next() {
		n++
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "boom") || n != 2 {
		t.Errorf("stream error after %d chunks: %v", n, err)
	}
}

func TestOpenAISDKEmbeddings(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	res, err := openAIClient(srv).Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model:      "text-embedding-3-small",
		Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
		Dimensions: openai.Int(8),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || len(res.Data[0].Embedding) != 8 || res.Data[1].Index != 1 || res.Model != "text-embedding-3-small" || res.Usage.TotalTokens == 0 {
		t.Errorf("embeddings %+v", res)
	}
	models, err := openAIClient(srv).Models.List(t.Context())
	if err != nil || len(models.Data) == 0 || models.Data[0].ID != "gpt-4o" {
		t.Errorf("models: %v %+v", err, models)
	}
}
