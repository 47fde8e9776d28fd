package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func chatTools() []openai.ChatCompletionToolUnionParam {
	var out []openai.ChatCompletionToolUnionParam
	for _, name := range toolNames {
		out = append(out, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        name,
			Description: openai.String("the " + name + " tool"),
			Parameters:  shared.FunctionParameters(toolSchemas[name]),
		}))
	}
	return out
}

func chatParams(sc scenario) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("What now? (" + sc.name + ")"),
		},
		MaxCompletionTokens: openai.Int(1024),
	}
	if sc.tools {
		p.Tools = chatTools()
	}
	return p
}

// TestOpenAIChatSDK sends every scenario through lynkr with openai-go's chat completions,
// streamed (with stream_options.include_usage, into the SDK's accumulator) and not, to both
// upstream families.
func TestOpenAIChatSDK(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, nil)
			client := s.openai()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					s.Fake.Enqueue(sc.reply, sc.reply)
					params := chatParams(sc)

					comp, err := client.Chat.Completions.New(t.Context(), params)
					if err != nil {
						t.Fatalf("non-stream: %v", err)
					}
					checkChatCompletion(t, s, sc, comp, false)

					params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
					stream := client.Chat.Completions.NewStreaming(t.Context(), params)
					var acc openai.ChatCompletionAccumulator
					var finished []string
					chunks := 0
					for stream.Next() {
						chunks++
						if !acc.AddChunk(stream.Current()) {
							t.Fatalf("the accumulator refused chunk %d: %s", chunks, stream.Current().RawJSON())
						}
						if tc, ok := acc.JustFinishedToolCall(); ok {
							finished = append(finished, tc.Name)
						}
					}
					if err := stream.Err(); err != nil {
						t.Fatalf("stream: %v", err)
					}
					checkChatCompletion(t, s, sc, &acc.ChatCompletion, true)
					var wantFinished []string
					for _, tc := range sc.reply.ToolCalls {
						wantFinished = append(wantFinished, tc.Name)
					}
					if strings.Join(finished, ",") != strings.Join(wantFinished, ",") {
						t.Errorf("JustFinishedToolCall fired for %v, want %v", finished, wantFinished)
					}
				})
			}
		})
	}
}

// checkChatCompletion checks c holds what the scenario's upstream answer said.
func checkChatCompletion(t *testing.T, s *stack, sc scenario, c *openai.ChatCompletion, streamed bool) {
	t.Helper()
	r := sc.reply
	if len(c.Choices) != 1 {
		t.Fatalf("%d choices: %s", len(c.Choices), c.RawJSON())
	}
	if c.ID == "" || c.Model == "" {
		t.Errorf("completion id %q model %q", c.ID, c.Model)
	}
	msg := c.Choices[0].Message
	if msg.Content != r.Text {
		t.Errorf("content %q, want %q", msg.Content, r.Text)
	}
	if len(msg.ToolCalls) != len(r.ToolCalls) {
		t.Fatalf("%d tool calls, want %d: %s", len(msg.ToolCalls), len(r.ToolCalls), c.RawJSON())
	}
	ids := map[string]bool{}
	for i, tc := range r.ToolCalls {
		got := msg.ToolCalls[i]
		if got.Function.Name != tc.Name || got.Type != "function" {
			t.Errorf("tool call %d: %s %q, want function %q", i, got.Type, got.Function.Name, tc.Name)
		}
		if got.ID == "" || ids[got.ID] {
			t.Errorf("tool call %d id %q empty or repeated", i, got.ID)
		}
		ids[got.ID] = true
		// The same format passes the arguments byte for byte; a conversion may re-encode them.
		if s.kind == openAIUpstream && got.Function.Arguments != args(tc) {
			t.Errorf("tool call %d arguments %q, want %q", i, got.Function.Arguments, args(tc))
		} else if canonical(t, []byte(got.Function.Arguments)) != canonical(t, []byte(args(tc))) {
			t.Errorf("tool call %d arguments %s, want %s", i, got.Function.Arguments, args(tc))
		}
	}
	wantFinish := "stop"
	switch {
	case r.StopReason == "max_tokens":
		wantFinish = "length"
	case len(r.ToolCalls) > 0:
		wantFinish = "tool_calls"
	}
	if f := c.Choices[0].FinishReason; f != wantFinish {
		t.Errorf("finish_reason %q, want %q", f, wantFinish)
	}
	checkChatUsage(t, r.Usage, c.Usage)
}

// checkChatUsage checks OpenAI-shaped usage: prompt tokens include cached ones and cache
// writes, whichever family the upstream is.
func checkChatUsage(t *testing.T, u fakeupstream.Usage, got openai.CompletionUsage) {
	t.Helper()
	prompt := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens
	want := fmt.Sprintf("prompt=%d cached=%d completion=%d total=%d", prompt, u.CacheReadTokens, u.OutputTokens, prompt+u.OutputTokens)
	g := fmt.Sprintf("prompt=%d cached=%d completion=%d total=%d", got.PromptTokens, got.PromptTokensDetails.CachedTokens, got.CompletionTokens, got.TotalTokens)
	if g != want {
		t.Errorf("usage %s, want %s", g, want)
	}
}
