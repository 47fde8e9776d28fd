package responses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	sdk "github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// sdkServer answers POST /v1/responses as lynkr would: it validates and converts the SDK's
// request, then answers with the recorded upstream chat answer named by the X-Upstream header
// (testdata/stream/<name>.in.sse when streaming, testdata/response/<name>.chat.json when not),
// converted back.
func sdkServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/responses" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		sum, _ := Validate(body)
		if problems := Convertible(body); len(problems) > 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":null}}`, strings.Join(problems, "; "))
			return
		}
		if _, err := ResponsesToChatRequest(body, llm.Options{Model: "upstream-model"}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		name := r.Header.Get("X-Upstream")
		if sum.Stream {
			in, err := os.ReadFile(filepath.Join("testdata", "stream", name+".in.sse"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out, _ := runStream(NewChatToResponsesStream(body), in)
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(sse.Encode(out...))
			return
		}
		chat, err := os.ReadFile(filepath.Join("testdata", "response", name+".chat.json"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, _, err := ChatToResponsesResponse(body, chat)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sdkClient(srv *httptest.Server) openaisdk.Client {
	return openaisdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

// sdkParams is a Codex-like request made with the SDK's own types: a function tool, Codex's
// freeform apply_patch custom tool, and a call of each with its output.
func sdkParams(model string) sdk.ResponseNewParams {
	patch := sdk.ToolParamOfCustom("apply_patch")
	patch.OfCustom.Description = openaisdk.String("Use the `apply_patch` tool to edit files.")
	patch.OfCustom.Format = shared.CustomToolInputFormatParamOfGrammar("start: begin_patch hunk+ end_patch\n", "lark")
	return sdk.ResponseNewParams{
		Model:        model,
		Instructions: openaisdk.String("You are a coding agent."),
		Input: sdk.ResponseNewParamsInputUnion{OfInputItemList: sdk.ResponseInputParam{
			{OfMessage: &sdk.EasyInputMessageParam{Role: sdk.EasyInputMessageRoleUser,
				Content: sdk.EasyInputMessageContentUnionParam{OfString: openaisdk.String("What's the weather in Paris?")}}},
			{OfFunctionCall: &sdk.ResponseFunctionToolCallParam{CallID: "call_0", Name: "get_weather", Arguments: `{"city":"Lyon"}`}},
			{OfFunctionCallOutput: &sdk.ResponseInputItemFunctionCallOutputParam{CallID: openaisdk.String("call_0"),
				Output: sdk.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openaisdk.String("18°C, sunny")}}},
			{OfCustomToolCall: &sdk.ResponseCustomToolCallParam{CallID: "call_1", Name: "apply_patch", Input: "*** Begin Patch\n*** End Patch\n"}},
			{OfCustomToolCallOutput: &sdk.ResponseCustomToolCallOutputParam{CallID: "call_1",
				Output: sdk.ResponseCustomToolCallOutputOutputUnionParam{OfString: openaisdk.String("Success.")}}},
		}},
		Tools: []sdk.ToolUnionParam{sdk.ToolParamOfFunction("get_weather", map[string]any{
			"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"},
		}, false), patch},
		ParallelToolCalls: openaisdk.Bool(true),
		Store:             openaisdk.Bool(false),
	}
}

// The official SDK accepts every stream lynkr sends, event by event, and what it reads adds
// up to the final response.
func TestSDKReadsStreams(t *testing.T) {
	srv := sdkServer(t)
	client := sdkClient(srv)
	tests := []struct {
		upstream   string
		wantStatus string
		wantLast   string
		wantText   string
		wantCalls  []string // name(arguments) of each function call
		wantDeltas string   // the text deltas, when not wantText
	}{
		{"text", "completed", EventCompleted, "Hello! How can I help you today?", nil, ""},
		{"text_tool_call", "completed", EventCompleted, "I'll check the weather in Paris.", []string{`get_weather({"city":"Paris"})`}, ""},
		{"parallel_interleaved", "completed", EventCompleted, "", []string{`get_weather({"city":"Paris"})`, `get_weather({"city":"Tokyo"})`, `shell({"command":["date"]})`}, ""},
		{"length", "incomplete", EventIncomplete, "Once upon a time, in a land far, far", nil, ""},
		{"usage_cached", "completed", EventCompleted, "Done. The tests pass.", nil, ""},
		{"reasoning_no_done", "completed", EventCompleted, "2 + 2 = 4.", nil, ""},
		{"refusal", "completed", EventCompleted, "", nil, ""},
		{"custom_tool_call", "completed", EventCompleted, "Fixing it.", []string{"apply_patch(*** Begin Patch\n*** Update File: main.go\n@@\n-func run() {}\n+func run() error { return nil }\n*** End Patch\n)", `shell({"command":["go","build","./..."]})`}, ""},
		{"upstream_error", "failed", EventFailed, "", nil, "Let"},
	}
	for _, tc := range tests {
		t.Run(tc.upstream, func(t *testing.T) {
			stream := client.Responses.NewStreaming(context.Background(), sdkParams("gpt-4.1"), option.WithHeader("X-Upstream", tc.upstream))
			var (
				n     int64
				text  strings.Builder
				last  sdk.ResponseStreamEventUnion
				items []sdk.ResponseOutputItemUnion
			)
			for stream.Next() {
				ev := stream.Current()
				if ev.SequenceNumber != n {
					t.Fatalf("event %d (%s): sequence_number %d", n, ev.Type, ev.SequenceNumber)
				}
				n++
				switch v := ev.AsAny().(type) {
				case sdk.ResponseTextDeltaEvent:
					text.WriteString(v.Delta)
				case sdk.ResponseOutputItemDoneEvent:
					items = append(items, v.Item)
				}
				last = ev
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("the SDK refused the stream after %d events: %v", n, err)
			}
			if last.Type != tc.wantLast {
				t.Fatalf("last event %q, want %q", last.Type, tc.wantLast)
			}
			var resp sdk.Response
			switch v := last.AsAny().(type) {
			case sdk.ResponseCompletedEvent:
				resp = v.Response
			case sdk.ResponseIncompleteEvent:
				resp = v.Response
				if resp.IncompleteDetails.Reason != "max_output_tokens" {
					t.Errorf("incomplete_details.reason %q", resp.IncompleteDetails.Reason)
				}
			case sdk.ResponseFailedEvent:
				resp = v.Response
				if resp.Error.Message == "" {
					t.Errorf("failed without an error message")
				}
			}
			if string(resp.Status) != tc.wantStatus || resp.Model != "gpt-4.1" || !strings.HasPrefix(resp.ID, "resp_") {
				t.Errorf("status %q, model %q, id %q", resp.Status, resp.Model, resp.ID)
			}
			wantDeltas := tc.wantDeltas
			if wantDeltas == "" {
				wantDeltas = tc.wantText
			}
			if got := resp.OutputText(); got != tc.wantText || text.String() != wantDeltas {
				t.Errorf("output text %q, deltas %q, want %q and %q", got, text.String(), tc.wantText, wantDeltas)
			}
			if tc.wantStatus != "failed" && len(resp.Output) != len(items) {
				t.Errorf("%d items in the response, %d streamed", len(resp.Output), len(items))
			}
			var calls []string
			for _, it := range resp.Output {
				switch it.Type {
				case "function_call":
					fc := it.AsFunctionCall()
					calls = append(calls, fc.Name+"("+fc.Arguments+")")
					if !strings.HasPrefix(fc.ID, "fc_") || fc.CallID == "" {
						t.Errorf("function call ids %q, %q", fc.ID, fc.CallID)
					}
				case "custom_tool_call":
					cc := it.AsCustomToolCall()
					calls = append(calls, cc.Name+"("+cc.Input+")")
					if !strings.HasPrefix(cc.ID, "ctc_") || cc.CallID == "" {
						t.Errorf("custom tool call ids %q, %q", cc.ID, cc.CallID)
					}
				}
			}
			if strings.Join(calls, " ") != strings.Join(tc.wantCalls, " ") {
				t.Errorf("calls %v, want %v", calls, tc.wantCalls)
			}
			if tc.upstream == "usage_cached" {
				u := resp.Usage
				if u.InputTokens != 12400 || u.InputTokensDetails.CachedTokens != 11264 || u.OutputTokens != 96 ||
					u.OutputTokensDetails.ReasoningTokens != 64 || u.TotalTokens != 12496 {
					t.Errorf("usage %+v", u)
				}
			}
			if tc.upstream == "reasoning_no_done" {
				r := resp.Output[0].AsReasoning()
				if len(r.Content) != 1 || r.Content[0].Text != "The user asks 2+2." {
					t.Errorf("reasoning %+v", r)
				}
			}
			if tc.upstream == "refusal" {
				m := resp.Output[0].AsMessage()
				if len(m.Content) != 1 || m.Content[0].Refusal != "I'm sorry, I can't help with that." {
					t.Errorf("refusal %+v", m.Content)
				}
			}
		})
	}
}

// The official SDK reads every non-streamed response lynkr sends.
func TestSDKReadsResponses(t *testing.T) {
	srv := sdkServer(t)
	client := sdkClient(srv)
	tests := []struct {
		upstream, wantStatus, wantText string
		wantCalls                      int
	}{
		{"text", "completed", "Hello! <3 & welcome.", 0},
		{"tool_calls", "completed", "", 2},
		{"length", "incomplete", "Once upon a time, in a land far, far", 0},
		{"reasoning", "completed", "2 + 2 = 4.", 0},
		{"citations", "completed", "Go 1.26 was released in February 2026 ([go.dev](https://go.dev/doc/go1.26)).", 0},
		{"no_call_id", "completed", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.upstream, func(t *testing.T) {
			resp, err := client.Responses.New(context.Background(), sdkParams("gpt-4.1"), option.WithHeader("X-Upstream", tc.upstream))
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.Status) != tc.wantStatus || resp.OutputText() != tc.wantText || resp.Object != "response" {
				t.Errorf("status %q, text %q, object %q", resp.Status, resp.OutputText(), resp.Object)
			}
			calls := 0
			for _, it := range resp.Output {
				if fc := it.AsFunctionCall(); it.Type == "function_call" {
					calls++
					if !gjson.Valid(fc.Arguments) || fc.CallID == "" {
						t.Errorf("call %+v", fc)
					}
				}
			}
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
			if !resp.ParallelToolCalls || resp.Instructions.OfString != "You are a coding agent." || len(resp.Tools) != 2 {
				t.Errorf("echo: parallel_tool_calls %v, instructions %+v, %d tools", resp.ParallelToolCalls, resp.Instructions, len(resp.Tools))
			}
			if tc.upstream == "citations" {
				a := resp.Output[0].AsMessage().Content[0].Annotations
				if len(a) != 1 || a[0].URL != "https://go.dev/doc/go1.26" || a[0].EndIndex != 74 {
					t.Errorf("annotations %+v", a)
				}
			}
		})
	}
}

// A request lynkr cannot serve reaches the SDK as a 400 that says why.
func TestSDKGetsTheProblems(t *testing.T) {
	client := sdkClient(sdkServer(t))
	p := sdkParams("gpt-4.1")
	p.PreviousResponseID = openaisdk.String("resp_123")
	_, err := client.Responses.New(context.Background(), p)
	var apiErr *openaisdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest ||
		!strings.Contains(apiErr.Message, "previous_response_id: not supported") {
		t.Fatalf("error %v", err)
	}
}
