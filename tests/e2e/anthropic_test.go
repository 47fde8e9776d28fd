package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// anthropicTools are the scenarios' tools as the Anthropic SDK declares them.
func anthropicTools() []anthropic.ToolUnionParam {
	var out []anthropic.ToolUnionParam
	for _, name := range toolNames {
		s := toolSchemas[name]
		out = append(out, anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
			Name:        name,
			Description: anthropic.String("the " + name + " tool"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: s["properties"], Required: s["required"].([]string)},
		}})
	}
	return out
}

func anthropicParams(sc scenario) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What now? (" + sc.name + ")"))},
	}
	if sc.tools {
		p.Tools = anthropicTools()
	}
	return p
}

// TestAnthropicSDK sends every scenario through lynkr with the Anthropic SDK, streamed and
// not, to both upstream families, and checks the client gets what the upstream said.
func TestAnthropicSDK(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, nil)
			client := s.anthropic()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					s.Fake.Enqueue(sc.reply, sc.reply)
					params := anthropicParams(sc)

					msg, err := client.Messages.New(t.Context(), params)
					if err != nil {
						t.Fatalf("non-stream: %v", err)
					}
					checkAnthropicMessage(t, s, sc, msg)

					stream := client.Messages.NewStreaming(t.Context(), params)
					var acc anthropic.Message
					var types []string
					for stream.Next() {
						ev := stream.Current()
						types = append(types, ev.Type)
						if err := acc.Accumulate(ev); err != nil {
							t.Fatalf("Accumulate refused event %d %s: %v\nevents so far: %v", len(types), ev.RawJSON(), err, types)
						}
					}
					if err := stream.Err(); err != nil {
						t.Fatalf("stream: %v (events %v)", err, types)
					}
					if len(types) < 2 || types[0] != "message_start" || types[len(types)-1] != "message_stop" {
						t.Fatalf("stream events %v: want message_start first and message_stop last", types)
					}
					checkAnthropicMessage(t, s, sc, &acc)

					// The upstream heard a stream request, and an OpenAI-format one was asked for
					// its usage, which is what makes the client's usage exact.
					up := s.lastCall()
					var body map[string]any
					if err := json.Unmarshal(up.Body, &body); err != nil {
						t.Fatal(err)
					}
					if body["stream"] != true {
						t.Errorf("upstream request stream=%v, want true", body["stream"])
					}
					if kind == openAIUpstream {
						if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
							t.Errorf("upstream request stream_options=%v, want include_usage", body["stream_options"])
						}
						if body["model"] != "gpt-4o" {
							t.Errorf("upstream model %v, want the OPENAI_MODEL gpt-4o for a claude name", body["model"])
						}
					}
				})
			}
		})
	}
}

// checkAnthropicMessage checks m holds what the scenario's upstream answer said.
func checkAnthropicMessage(t *testing.T, s *stack, sc scenario, m *anthropic.Message) {
	t.Helper()
	r := sc.reply
	var want []string
	if r.Text != "" {
		want = append(want, "text:"+r.Text)
	}
	for _, tc := range r.ToolCalls {
		want = append(want, "tool_use:"+tc.Name+":"+canonical(t, []byte(args(tc))))
	}
	var got []string
	ids := map[string]bool{}
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			if b.Text == "" && r.Text == "" {
				continue // an empty text block says nothing
			}
			got = append(got, "text:"+b.Text)
		case "tool_use":
			if b.ID == "" || ids[b.ID] {
				t.Errorf("tool_use id %q empty or repeated", b.ID)
			}
			ids[b.ID] = true
			got = append(got, "tool_use:"+b.Name+":"+canonical(t, b.Input))
		default:
			got = append(got, "unexpected "+b.Type+": "+b.RawJSON())
		}
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("content:\n%s\nwant:\n%s\nmessage: %s", g, w, m.RawJSON())
	}
	wantStop := anthropic.StopReasonEndTurn
	switch {
	case r.StopReason != "":
		wantStop = anthropic.StopReason(r.StopReason)
	case len(r.ToolCalls) > 0:
		wantStop = anthropic.StopReasonToolUse
	}
	if m.StopReason != wantStop {
		t.Errorf("stop_reason %q, want %q", m.StopReason, wantStop)
	}
	if m.Role != "assistant" || m.Type != "message" || m.ID == "" {
		t.Errorf("message role %q type %q id %q", m.Role, m.Type, m.ID)
	}
	checkAnthropicUsage(t, s.kind, r.Usage, m.Usage)
}

// checkAnthropicUsage checks the usage an Anthropic client got. An Anthropic-format upstream's
// counts pass as they are; an OpenAI-format upstream reports only prompt_tokens (cache writes
// included) and cached_tokens, so cache writes show as ordinary input.
func checkAnthropicUsage(t *testing.T, kind upstream, u fakeupstream.Usage, got anthropic.Usage) {
	t.Helper()
	want := fmt.Sprintf("input=%d cache_read=%d cache_write=%d output=%d", u.InputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.OutputTokens)
	if kind == openAIUpstream {
		want = fmt.Sprintf("input=%d cache_read=%d cache_write=%d output=%d", u.InputTokens+u.CacheWriteTokens, u.CacheReadTokens, 0, u.OutputTokens)
	}
	g := fmt.Sprintf("input=%d cache_read=%d cache_write=%d output=%d", got.InputTokens, got.CacheReadInputTokens, got.CacheCreationInputTokens, got.OutputTokens)
	if g != want {
		t.Errorf("usage %s, want %s", g, want)
	}
}
