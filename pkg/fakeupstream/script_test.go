package fakeupstream_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// scriptAnswer is an answer of any format, decoded with the vendor's SDK.
type scriptAnswer struct {
	text      string
	calls     []string // namespace.name arguments, arguments compacted
	signature string   // the thinking block's signature; a reasoning item's encrypted_content
	stop      string   // stop_reason, finish_reason or status
}

// decodeAnswer decodes the answer raw to a request to path, streamed or not, with the SDKs'
// own types and accumulators.
func decodeAnswer(t *testing.T, path, raw string, stream bool) scriptAnswer {
	t.Helper()
	var a scriptAnswer
	switch {
	case strings.HasSuffix(path, "/messages"):
		var m anthropic.Message
		if !stream {
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("message %s: %v", raw, err)
			}
		}
		for _, ev := range parseSSEIf(t, raw, stream) {
			var e anthropic.MessageStreamEventUnion
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatalf("event %s: %v", ev.data, err)
			}
			if err := m.Accumulate(e); err != nil {
				t.Fatalf("Accumulate %s: %v", ev.data, err)
			}
		}
		for _, b := range m.Content {
			switch b.Type {
			case "text":
				a.text += b.Text
			case "thinking":
				a.signature = b.Signature
			case "tool_use":
				a.calls = append(a.calls, "."+b.Name+" "+compactJSON(t, b.Input))
			}
		}
		a.stop = string(m.StopReason)
	case strings.HasSuffix(path, "/chat/completions"):
		var acc openai.ChatCompletionAccumulator
		if !stream {
			if err := json.Unmarshal([]byte(raw), &acc.ChatCompletion); err != nil {
				t.Fatalf("completion %s: %v", raw, err)
			}
		}
		for _, ev := range parseSSEIf(t, raw, stream) {
			if ev.data == "[DONE]" {
				continue
			}
			var chunk openai.ChatCompletionChunk
			if err := json.Unmarshal([]byte(ev.data), &chunk); err != nil || !acc.AddChunk(chunk) {
				t.Fatalf("chunk %s: %v", ev.data, err)
			}
		}
		msg := acc.Choices[0].Message
		a.text = msg.Content
		for _, tc := range msg.ToolCalls {
			a.calls = append(a.calls, "."+tc.Function.Name+" "+compactJSON(t, []byte(tc.Function.Arguments)))
		}
		a.stop = acc.Choices[0].FinishReason
	default:
		var r responses.Response
		if !stream {
			if err := json.Unmarshal([]byte(raw), &r); err != nil {
				t.Fatalf("response %s: %v", raw, err)
			}
		}
		for _, ev := range parseSSEIf(t, raw, stream) {
			var e responses.ResponseStreamEventUnion
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatalf("event %s: %v", ev.data, err)
			}
			if e.Type == "response.completed" {
				r = e.AsResponseCompleted().Response
			}
		}
		for _, item := range r.Output {
			switch item.Type {
			case "message":
				a.text += r.OutputText()
			case "reasoning":
				a.signature = item.AsReasoning().EncryptedContent
			case "function_call":
				fc := item.AsFunctionCall()
				a.calls = append(a.calls, fc.Namespace+"."+fc.Name+" "+compactJSON(t, []byte(fc.Arguments)))
			}
		}
		a.stop = string(r.Status)
	}
	return a
}

func parseSSEIf(t *testing.T, raw string, stream bool) []wireEvent {
	if !stream {
		return nil
	}
	return parseSSE(t, raw)
}

func TestScriptMode(t *testing.T) {
	withStream := func(body string, stream bool) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			panic(err)
		}
		m["stream"] = stream
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, path, file, body string
		want                   scriptAnswer
		signed                 bool // a thinking signature or encrypted reasoning comes back
	}{
		{
			name: "claude code runs Bash", path: "/v1/messages", file: "claude_code_bash.json",
			want:   scriptAnswer{calls: []string{`.Bash {"command":"echo hello from claude"}`}, stop: "tool_use"},
			signed: true,
		},
		{
			name: "claude code reads the tool result", path: "/v1/messages", file: "claude_code_tool_result.json",
			want:   scriptAnswer{text: "Tool output: hello from claude", stop: "end_turn"},
			signed: true,
		},
		{
			name: "chat CLI runs run_shell_command", path: "/v1/chat/completions", file: "chat_run_shell_command.json",
			want: scriptAnswer{calls: []string{`.run_shell_command {"command":"ls -la /tmp"}`}, stop: "tool_calls"},
		},
		{
			name: "chat CLI reads the tool message", path: "/v1/chat/completions", file: "chat_tool_result.json",
			want: scriptAnswer{text: "Tool output: total 0\ndrwxrwxrwt 2 root root 40 Dec  7 03:00 .", stop: "stop"},
		},
		{
			name: "codex runs exec_command", path: "/v1/responses", file: "codex_exec_command.json",
			want:   scriptAnswer{calls: []string{`.exec_command {"cmd":"echo \"hi from codex\" | tr a-z A-Z"}`}, stop: "completed"},
			signed: true,
		},
		{
			// exec_command comes before shell_command in the order of preference
			name: "codex with a namespace tool present", path: "/v1/responses", file: "codex_namespace.json",
			want: scriptAnswer{calls: []string{`.exec_command {"cmd":"git status --short"}`}, stop: "completed"},
		},
		{
			name: "codex reads the function_call_output", path: "/v1/responses", file: "codex_tool_result.json",
			want:   scriptAnswer{text: "Tool output: Chunk ID: 4a1b2c\nWall time: 0.0104 seconds\nProcess exited with code 0\nOutput:\nhi", stop: "completed"},
			signed: true,
		},
		{
			name: "shell inside a namespace", path: "/v1/responses",
			body: `{"model":"m","input":"run bash: pwd","tools":[{"type":"namespace","name":"container","description":"d","tools":[{"type":"function","name":"exec_command","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}]}]}`,
			want: scriptAnswer{calls: []string{`container.exec_command {"cmd":"pwd"}`}, stop: "completed"},
		},
		{
			name: "codex legacy shell takes an argv", path: "/v1/responses",
			body: `{"model":"m","input":[{"role":"user","content":"run bash: echo 'a b'"}],"tools":[{"type":"function","name":"shell","parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}},"workdir":{"type":"string"}},"required":["command"]}}]}`,
			want: scriptAnswer{calls: []string{`.shell {"command":["bash","-lc","echo 'a b'"]}`}, stop: "completed"},
		},
		{
			name: "custom tool output", path: "/v1/responses",
			body: `{"model":"m","input":[{"role":"user","content":"patch it"},{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"*** Begin Patch"},{"type":"custom_tool_call_output","call_id":"c","output":[{"type":"input_text","text":"Done!\n"}]}]}`,
			want: scriptAnswer{text: "Tool output: Done!", stop: "completed"},
		},
		{
			name: "say", path: "/v1/messages",
			body: `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"please say: exactly these words\nand nothing else"}]}`,
			want: scriptAnswer{text: "exactly these words", stop: "end_turn"},
		},
		{
			name: "hello", path: "/v1/chat/completions",
			body: `{"model":"m","messages":[{"role":"user","content":"how are you?"}]}`,
			want: scriptAnswer{text: fakeupstream.ScriptHello, stop: "stop"},
		},
		{
			name: "no shell tool", path: "/v1/messages",
			body: `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"run bash: ls"}],"tools":[{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}]}`,
			want: scriptAnswer{text: fakeupstream.ScriptNoShellTool, stop: "end_turn"},
		},
	}
	srv := fakeupstream.New(fakeupstream.WithScript(true))
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.file != "" {
				b, err := os.ReadFile(filepath.Join("testdata", "script", tt.file))
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			}
			for _, stream := range []bool{false, true} {
				res, raw := post(t, srv.URL()+tt.path, withStream(body, stream))
				if res.StatusCode != 200 {
					t.Fatalf("stream %v: %d %s", stream, res.StatusCode, raw)
				}
				got := decodeAnswer(t, tt.path, raw, stream)
				if got.text != tt.want.text || strings.Join(got.calls, "\n") != strings.Join(tt.want.calls, "\n") || got.stop != tt.want.stop {
					t.Errorf("stream %v: answer %+v, want %+v", stream, got, tt.want)
				}
				if (got.signature != "") != tt.signed {
					t.Errorf("stream %v: signature %q, want one: %v", stream, got.signature, tt.signed)
				}
			}
		})
	}
	if reqs := srv.Requests(); len(reqs) != 2*len(tests) || reqs[0].Endpoint != fakeupstream.Messages {
		t.Errorf("%d requests recorded", len(reqs))
	}
}

// TestScriptModeLoop runs the tool loop a CLI runs: the fake's tool call, its result sent
// back with the signature of the fake's thinking, and the fake's closing text.
func TestScriptModeLoop(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithScript(true))
	defer srv.Close()
	client := anthropicClient(srv)
	params := anthropic.MessageNewParams{
		Model: "claude-test", MaxTokens: 2048,
		Thinking: anthropic.ThinkingConfigParamOfEnabled(1024),
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("run bash: date"))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        "Bash",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"command": map[string]any{"type": "string"}}},
		}}},
	}
	first, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Content) != 2 || first.Content[0].Type != "thinking" || first.Content[1].Type != "tool_use" || first.StopReason != "tool_use" {
		t.Fatalf("first answer %s", first.RawJSON())
	}
	use := first.Content[1].AsToolUse()
	params.Messages = append(params.Messages, first.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "Mon Dec  7 03:00:00 UTC 2026\n", false)))
	second, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Content[len(second.Content)-1].Text; got != "Tool output: Mon Dec  7 03:00:00 UTC 2026" || second.StopReason != "end_turn" {
		t.Errorf("second answer %s", second.RawJSON())
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || !strings.Contains(string(reqs[1].Body), first.Content[0].Signature) || first.Content[0].Signature == "" {
		t.Errorf("the signature %q did not come back", first.Content[0].Signature)
	}
}

func TestScriptModeQueueFirst(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithScript(true), fakeupstream.WithReply(fakeupstream.Reply{Text: "ignored"}))
	defer srv.Close()
	srv.Enqueue(fakeupstream.Reply{Text: "queued"})
	body := `{"model":"m","messages":[{"role":"user","content":"say: scripted"}]}`
	for _, want := range []string{"queued", "scripted", "scripted"} {
		_, raw := post(t, srv.URL()+"/v1/chat/completions", body)
		if got := openAIText(t, raw, false); got != want {
			t.Errorf("text %q, want %q", got, want)
		}
	}
	// a queued fault still interrupts a scripted stream
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStreamError, AfterChunks: 2})
	_, raw := post(t, srv.URL()+"/v1/responses", `{"model":"m","stream":true,"input":"say: x"}`)
	events := parseSSE(t, raw)
	if len(events) != 4 || events[2].name != "error" || events[3].name != "response.failed" {
		t.Errorf("faulted stream %s", raw)
	}
}
