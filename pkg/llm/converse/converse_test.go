package converse

import (
	"errors"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

func TestMessagesToConverseRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `{`, "Messages request"},
		{"array", `[]`, "Messages request"},
		{"no messages", `{"model":"m","messages":[]}`, "at least one message"},
		{"bad role", `{"messages":[{"role":"narrator","content":"x"}]}`, `messages[0].role`},
		{"content missing", `{"messages":[{"role":"user"}]}`, `messages[0].content: required`},
		{"content number", `{"messages":[{"role":"user","content":3}]}`, "must be a string or a list"},
		{"all empty", `{"messages":[{"role":"user","content":"  "}]}`, "every message is empty"},
		{"image url", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`, `messages[0].content[0].source: image source type "url"`},
		{"image type", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]}]}`, "media_type"},
		{"image no source", `{"messages":[{"role":"user","content":[{"type":"image"}]}]}`, "source: required"},
		{"document html", `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"text/html","data":"AA=="}}]}]}`, "document source"},
		{"tool_use no name", `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"x"}]}]}`, "name: required"},
		{"tool result shape", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":7}]}]}`, "content: must be"},
		{"system shape", `{"system":5,"messages":[{"role":"user","content":"x"}]}`, "system: must be"},
		{"tool no name", `{"tools":[{"input_schema":{}}],"messages":[{"role":"user","content":"x"}]}`, "tools[0].name"},
		{"tool choice name", `{"tools":[{"name":"a"}],"tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"x"}]}`, "tool_choice.name"},
		{"max_tokens type", `{"max_tokens":"many","messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MessagesToConverseRequest([]byte(tt.body), llm.Options{Model: "anthropic.claude-x"})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, llm.ErrInvalid) {
				t.Errorf("error %q does not wrap llm.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestMessagesToConverseRequestFields(t *testing.T) {
	tests := []struct {
		name, body, model string
		path, want        string // gjson path into the result and its raw JSON
	}{
		{"model argument wins", `{"model":"claude-x","messages":[{"role":"user","content":"x"}]}`, "us.anthropic.claude-y", "modelId", `"us.anthropic.claude-y"`},
		{"request model kept", `{"model":"claude-x","messages":[{"role":"user","content":"x"}]}`, "", "modelId", `"claude-x"`},
		{"roles merged", `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, "m", "messages.#", `1`},
		{"merged content", `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, "m", "messages.0.content.1.text", `"b"`},
		{"any choice", `{"tools":[{"name":"a"}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`, "m", "toolConfig.toolChoice", `{"any":{}}`},
		{"none drops tools", `{"tools":[{"name":"a"}],"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"x"}]}`, "m", "toolConfig", ``},
		{"none keeps tools for history", `{"tools":[{"name":"a"}],"tool_choice":{"type":"none"},"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"1","name":"a","input":{}}]}]}`, "m", "toolConfig", `{"tools":[{"toolSpec":{"name":"a","inputSchema":{"json":{"type":"object"}}}}]}`},
		{"result without use", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"1","content":"ok"}]}]}`, "m", "toolConfig.tools.0.toolSpec.name", `"unused_tool"`},
		{"no default schema", `{"tools":[{"name":"a","input_schema":null}],"messages":[{"role":"user","content":"x"}]}`, "m", "toolConfig.tools.0.toolSpec.inputSchema.json", `{"type":"object"}`},
		{"html kept", `{"messages":[{"role":"user","content":"<a href=\"x\">&</a>"}]}`, "m", "messages.0.content.0.text", `"<a href=\"x\">&</a>"`},
		{"top_k for claude", `{"top_k":5,"messages":[{"role":"user","content":"x"}]}`, "anthropic.claude-3", "additionalModelRequestFields.top_k", `5`},
		{"top_k dropped elsewhere", `{"top_k":5,"messages":[{"role":"user","content":"x"}]}`, "amazon.nova-pro-v1:0", "additionalModelRequestFields", ``},
		{"no inference config", `{"messages":[{"role":"user","content":"x"}]}`, "m", "inferenceConfig", ``},
		{"temperature zero kept", `{"temperature":0,"messages":[{"role":"user","content":"x"}]}`, "m", "inferenceConfig.temperature", `0`},
		{"cache point on image", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"AA=="},"cache_control":{"type":"ephemeral"}}]}]}`, "m", "messages.0.content.1", `{"cachePoint":{"type":"default"}}`},
		{"tool result image", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"1","content":[{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"AA=="}}]}]}]}`, "m", "messages.0.content.0.toolResult.content.0.image.format", `"gif"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessagesToConverseRequest([]byte(tt.body), llm.Options{Model: tt.model})
			if err != nil {
				t.Fatal(err)
			}
			checkConverseRequest(t, got)
			if raw := gjson.GetBytes(got, tt.path).Raw; raw != tt.want {
				t.Errorf("%s = %s, want %s\n%s", tt.path, raw, tt.want, got)
			}
		})
	}
}

func TestSplitModelID(t *testing.T) {
	tests := []struct {
		name, body, id, rest string
		err                  bool
	}{
		{"present", `{"modelId":"us.anthropic.claude:0","messages":[]}`, "us.anthropic.claude:0", `{"messages":[]}`, false},
		{"absent", `{"messages":[]}`, "", `{"messages":[]}`, false},
		{"not a string", `{"modelId":3,"messages":[]}`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, rest, err := SplitModelID([]byte(tt.body))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if tt.err {
				if !errors.Is(err, llm.ErrInvalid) {
					t.Errorf("error %v does not wrap llm.ErrInvalid", err)
				}
				return
			}
			if id != tt.id || string(rest) != tt.rest {
				t.Errorf("got %q %s, want %q %s", id, rest, tt.id, tt.rest)
			}
		})
	}
}

func TestConverseToMessagesResponseMapping(t *testing.T) {
	tests := []struct {
		name, body, path, want string
	}{
		{"end_turn", `{"output":{"message":{"content":[]}},"stopReason":"end_turn"}`, "stop_reason", `"end_turn"`},
		{"tool_use", `{"output":{"message":{"content":[]}},"stopReason":"tool_use"}`, "stop_reason", `"tool_use"`},
		{"max_tokens", `{"output":{"message":{"content":[]}},"stopReason":"max_tokens"}`, "stop_reason", `"max_tokens"`},
		{"stop_sequence", `{"output":{"message":{"content":[]}},"stopReason":"stop_sequence"}`, "stop_reason", `"stop_sequence"`},
		{"content filter", `{"output":{"message":{"content":[]}},"stopReason":"content_filtered"}`, "stop_reason", `"refusal"`},
		{"window", `{"output":{"message":{"content":[]}},"stopReason":"model_context_window_exceeded"}`, "stop_reason", `"model_context_window_exceeded"`},
		{"unknown", `{"output":{"message":{"content":[]}},"stopReason":"malformed_model_output"}`, "stop_reason", `"end_turn"`},
		{"sequence only for its reason", `{"output":{"message":{"content":[]}},"stopReason":"end_turn","additionalModelResponseFields":{"stop_sequence":"X"}}`, "stop_sequence", `null`},
		{"tool input null", `{"output":{"message":{"content":[{"toolUse":{"toolUseId":"t","name":"n","input":null}}]}},"stopReason":"tool_use"}`, "content.0.input", `{}`},
		{"unknown block skipped", `{"output":{"message":{"content":[{"image":{"format":"png"}},{"text":"a"}]}}}`, "content.#", `1`},
		{"cache usage", `{"output":{"message":{"content":[]}},"usage":{"inputTokens":3,"outputTokens":2,"cacheReadInputTokens":5,"cacheWriteInputTokens":7}}`, "usage", `{"input_tokens":3,"cache_creation_input_tokens":7,"cache_read_input_tokens":5,"output_tokens":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ConverseToMessagesResponse([]byte(goldenRequest), []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if raw := gjson.GetBytes(got, tt.path).Raw; raw != tt.want {
				t.Errorf("%s = %s, want %s", tt.path, raw, tt.want)
			}
		})
	}
}

func TestConverseToMessagesResponseUsage(t *testing.T) {
	body := `{"output":{"message":{"content":[{"text":"x"}]}},"usage":{"inputTokens":3,"outputTokens":2,"cacheReadInputTokens":5,"cacheWriteInputTokens":7}}`
	_, u, err := ConverseToMessagesResponse([]byte(goldenRequest), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 15, OutputTokens: 2, CacheReadTokens: 5, CacheCreateTokens: 7}
	if u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

func TestConverseToMessagesResponseErrors(t *testing.T) {
	for _, body := range []string{``, `{`, `{"message":"ValidationException"}`, `{"output":{}}`, `[1]`} {
		_, _, err := ConverseToMessagesResponse([]byte(goldenRequest), []byte(body))
		if err == nil {
			t.Errorf("%q: no error", body)
			continue
		}
		if errors.Is(err, llm.ErrInvalid) {
			t.Errorf("%q: a bad upstream answer is not the client's invalid input: %v", body, err)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name      string
		events    string
		nextErr   string // error from Next, if any
		truncated bool   // Close reports llm.ErrTruncated
	}{
		{"empty", ``, "", true},
		{"cut mid block", "messageStart {}\ncontentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"}}", "", true},
		{"metadata without stop", "messageStart {}\nmetadata {\"usage\":{\"inputTokens\":1}}", "", true},
		{"throttled", "messageStart {}\nthrottlingException {\"message\":\"Too many requests\"}", "Too many requests", false},
		{"model error", "modelStreamErrorException {\"message\":\"boom\",\"originalStatusCode\":500}", "modelStreamErrorException: boom", false},
		{"tool delta first", "messageStart {}\ncontentBlockDelta {\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{}\"}}}", "before its contentBlockStart", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewConverseToMessagesStream([]byte(goldenRequest))
			var out []sse.Event
			for _, ev := range parseEvents(t, []byte(tt.events)) {
				o, err := s.Next(ev)
				if err != nil {
					if tt.nextErr == "" || !strings.Contains(err.Error(), tt.nextErr) {
						t.Fatalf("Next: %v, want an error containing %q", err, tt.nextErr)
					}
					return
				}
				out = append(out, o...)
			}
			if tt.nextErr != "" {
				t.Fatalf("no error from Next, want %q", tt.nextErr)
			}
			tail, err := s.Close()
			if got := errors.Is(err, llm.ErrTruncated); got != tt.truncated {
				t.Fatalf("Close error %v, truncated = %v, want %v", err, got, tt.truncated)
			}
			if err := checkAnthropicStream(append(out, tail...), !tt.truncated); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestStreamUsageAndImplicitStart(t *testing.T) {
	// No messageStart: the first content still gets message_start and ping before it; a
	// second Close adds nothing; events after the end are ignored.
	s := NewConverseToMessagesStream([]byte(goldenRequest))
	var out []sse.Event
	for _, ev := range parseEvents(t, []byte(`contentBlockDelta {"contentBlockIndex":0,"delta":{"text":"x"}}
messageStop {"stopReason":"end_turn"}
metadata {"usage":{"inputTokens":4,"outputTokens":1,"cacheReadInputTokens":6}}
contentBlockDelta {"contentBlockIndex":0,"delta":{"text":"late"}}`)) {
		o, err := s.Next(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o...)
	}
	tail, err := s.Close()
	if err != nil || len(tail) != 0 {
		t.Fatalf("Close after metadata = %v, %v; want nothing", tail, err)
	}
	if err := checkAnthropicStream(out, true); err != nil {
		t.Fatal(err)
	}
	if out[1].Event != "content_block_start" || out[2].Event != "ping" {
		t.Errorf("events %s, %s after message_start; want content_block_start then ping, as Anthropic sends them", out[1].Event, out[2].Event)
	}
	want := llm.Usage{InputTokens: 10, OutputTokens: 1, CacheReadTokens: 6}
	if s.Usage() != want {
		t.Errorf("usage %+v, want %+v", s.Usage(), want)
	}
}
