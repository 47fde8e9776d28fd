package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
)

// TestResponsesToChatResponseGolden converts each recorded Responses object of
// testdata/upstream (<case>.response.json, answering <case>.req.json) and compares the chat
// completion, indented, with the usage or the error, with <case>.chat.json.
func TestResponsesToChatResponseGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "upstream", "*.response.json"))
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, f := range files {
		base := strings.TrimSuffix(f, ".response.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			out, u, err := responsesToChat(upRead(t, base+".req.json"), upRead(t, f), func() time.Time { return upTime })
			var b bytes.Buffer
			if err != nil {
				var ae *apierror.Error
				if !errors.As(err, &ae) {
					t.Fatalf("error %v is not an *apierror.Error", err)
				}
				fmt.Fprintf(&b, "error: %d %s: %v\n", ae.Status, ae.Type, err)
			} else {
				if err := json.Indent(&b, out, "", "  "); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, out)
				}
				fmt.Fprintf(&b, "\nusage: input=%d output=%d cache_read=%d\n", u.InputTokens, u.OutputTokens, u.CacheReadTokens)
			}
			golden(t, base+".chat.json", b.Bytes())
		})
	}
}

func TestResponsesToChatResponse(t *testing.T) {
	req := []byte(`{"model":"client-model","messages":[]}`)
	tests := []struct {
		name, body string
		want       map[string]string // gjson path → value (its raw JSON)
	}{
		{
			name: "refusal",
			body: `{"id":"resp_1","status":"completed","model":"gpt-5","output":[{"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"I can't help with that."}]}]}`,
			want: map[string]string{"choices.0.message.refusal": `"I can't help with that."`, "choices.0.message.content": `""`, "choices.0.finish_reason": `"stop"`},
		},
		{
			name: "content filter",
			body: `{"id":"resp_1","status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}`,
			want: map[string]string{"choices.0.finish_reason": `"content_filter"`, "model": `"client-model"`},
		},
		{
			name: "tool calls only have null content",
			body: `{"id":"resp_1","status":"completed","output":[{"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"}]}`,
			want: map[string]string{"choices.0.message.content": `null`, "choices.0.message.tool_calls.0.id": `"call_1"`, "choices.0.message.tool_calls.0.type": `"function"`},
		},
		{
			name: "reasoning text without summary",
			body: `{"id":"resp_1","status":"completed","output":[{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"Thinking."}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Done."}]}]}`,
			want: map[string]string{"choices.0.message.reasoning_content": `"Thinking."`, "choices.0.message.content": `"Done."`},
		},
		{
			name: "no usage",
			body: `{"id":"resp_1","status":"completed","output":[]}`,
			want: map[string]string{"usage": ``, "created": `1767225600`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := responsesToChat(req, []byte(tc.body), func() time.Time { return upTime })
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.want {
				if got := gjson.GetBytes(out, path).Raw; got != want {
					t.Errorf("%s = %s, want %s\n%s", path, got, want, out)
				}
			}
		})
	}
}

func TestResponsesToChatResponseRefuses(t *testing.T) {
	tests := []struct {
		name, body string
		status     int // of an *apierror.Error; 0 for llm.ErrInvalid
	}{
		{"not JSON", `{`, 0},
		{"not an object", `[1]`, 0},
		{"error body", `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`, http.StatusUnauthorized},
		{"rate limited", `{"error":{"message":"Rate limit reached.","type":"requests","code":"rate_limit_exceeded"}}`, http.StatusTooManyRequests},
		{"unknown error", `{"error":{"message":"Something."}}`, http.StatusBadGateway},
		{"failed", `{"status":"failed","error":{"code":"server_error","message":"The server had an error."},"output":[]}`, http.StatusInternalServerError},
		{"failed without error", `{"status":"failed","output":[]}`, http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ResponsesToChatResponse(nil, []byte(tc.body))
			if tc.status == 0 {
				if !errors.Is(err, llm.ErrInvalid) {
					t.Fatalf("error %v, want llm.ErrInvalid", err)
				}
				return
			}
			var ae *apierror.Error
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Message == "" {
				t.Fatalf("error %#v, want status %d", err, tc.status)
			}
		})
	}
}

// The official SDK decodes the converted chat completions.
func TestResponsesToChatResponseSDK(t *testing.T) {
	srv := upSDKServer(t)
	client := openaisdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	params := openaisdk.ChatCompletionNewParams{
		Model:    "gpt-5-codex",
		Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("Hello")},
	}
	resp, err := client.Chat.Completions.New(context.Background(), params, option.WithHeader("X-Upstream", "function_call"))
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if msg.Content != "I'll check the weather in Paris." || len(msg.ToolCalls) != 1 ||
		msg.ToolCalls[0].ID != "call_abc123" || msg.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("message %+v", msg)
	}
	if resp.Choices[0].FinishReason != "tool_calls" || resp.Usage.CompletionTokensDetails.ReasoningTokens != 64 || resp.Model != "gpt-5-codex" {
		t.Fatalf("completion %s", resp.RawJSON())
	}
	if d := gjson.Get(msg.RawJSON(), "reasoning_details.0.data").Str; d != "gAAAAABo5-encrypted-blob-1==" {
		t.Fatalf("reasoning_details %s", msg.RawJSON())
	}

	_, err = client.Chat.Completions.New(context.Background(), params, option.WithHeader("X-Upstream", "error_body"))
	var apiErr *openaisdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "context length") {
		t.Fatalf("error %v", err)
	}
}
