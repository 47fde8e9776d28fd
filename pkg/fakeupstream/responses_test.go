package fakeupstream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func responsesParams(include bool) responses.ResponseNewParams {
	p := responses.ResponseNewParams{
		Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	}
	if include {
		p.Include = []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent}
	}
	return p
}

// TestResponsesSDK holds the Responses endpoint to the official SDK: the JSON answer decodes
// to what the reply scripted, and the stream's deltas, done events and response.completed
// agree with it.
func TestResponsesSDK(t *testing.T) {
	replies := map[string]fakeupstream.Reply{
		"text": {Text: "Hello there, world", Chunks: 4},
		"function calls": {ToolCalls: []fakeupstream.ToolCall{
			{Name: "get_weather", Arguments: fakeupstream.Split(`{"city":"Paris","n":[1,2]}`, 4)},
			{ID: "call_given", Name: "exec_command", Namespace: "container", Arguments: []string{`{"cmd"`, `:"ls"}`}},
		}},
		"all": goldenReply,
	}
	for name, reply := range replies {
		for _, include := range []bool{false, true} {
			t.Run(name, func(t *testing.T) {
				srv := fakeupstream.New()
				defer srv.Close()
				client := openAIClient(srv)
				srv.Enqueue(reply, reply)

				resp, err := client.Responses.New(t.Context(), responsesParams(include))
				if err != nil {
					t.Fatal(err)
				}
				checkResponse(t, reply, include, resp)

				stream := client.Responses.NewStreaming(t.Context(), responsesParams(include))
				var text strings.Builder
				var done []string
				var completed *responses.Response
				for stream.Next() {
					ev := stream.Current()
					switch ev.Type {
					case "response.output_text.delta":
						text.WriteString(ev.Delta)
					case "response.function_call_arguments.done":
						done = append(done, ev.Arguments)
					case "response.completed":
						r := ev.AsResponseCompleted().Response
						completed = &r
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("stream: %v", err)
				}
				if completed == nil {
					t.Fatal("no response.completed")
				}
				checkResponse(t, reply, include, completed)
				if text.String() != reply.Text {
					t.Errorf("streamed text %q, want %q", text.String(), reply.Text)
				}
				for i, tc := range reply.ToolCalls {
					if want := strings.Join(tc.Arguments, ""); i >= len(done) || tc.Arguments != nil && done[i] != want {
						t.Errorf("function_call_arguments.done %d: %q, want %q", i, done, want)
					}
				}
				if compactJSON(t, []byte(resp.Usage.RawJSON())) != compactJSON(t, []byte(completed.Usage.RawJSON())) || resp.Status != completed.Status {
					t.Errorf("stream and non-stream differ: %s, %s", resp.Usage.RawJSON(), completed.Usage.RawJSON())
				}
			})
		}
	}
}

// checkResponse checks r holds exactly what reply scripted.
func checkResponse(t *testing.T, reply fakeupstream.Reply, include bool, r *responses.Response) {
	t.Helper()
	if r.Model != "gpt-test" || !strings.HasPrefix(r.ID, "resp_") || r.Object != "response" || r.Status != "completed" {
		t.Errorf("response id %q object %q model %q status %q", r.ID, r.Object, r.Model, r.Status)
	}
	var want, got []string
	if reply.Thinking != "" {
		enc := ""
		if include {
			enc = reply.Signature
		}
		want = append(want, "reasoning:"+reply.Thinking+"|"+enc)
	}
	if reply.Text != "" || len(reply.ToolCalls) == 0 {
		want = append(want, "message:"+reply.Text)
	}
	for _, tc := range reply.ToolCalls {
		args := strings.Join(tc.Arguments, "")
		if args == "" {
			args = "{}"
		}
		want = append(want, "function_call:"+tc.Namespace+"."+tc.Name+args)
	}
	calls := 0
	for i, item := range r.Output {
		switch item.Type {
		case "reasoning":
			rs := item.AsReasoning()
			var summary strings.Builder
			for _, s := range rs.Summary {
				summary.WriteString(s.Text)
			}
			got = append(got, "reasoning:"+summary.String()+"|"+rs.EncryptedContent)
		case "message":
			m := item.AsMessage()
			var text strings.Builder
			for _, c := range m.Content {
				text.WriteString(c.Text)
			}
			if m.Role != "assistant" || m.Status != "completed" {
				t.Errorf("item %d: message role %q status %q", i, m.Role, m.Status)
			}
			got = append(got, "message:"+text.String())
		case "function_call":
			fc := item.AsFunctionCall()
			wantCallID := "call_fake"
			if calls < len(reply.ToolCalls) && reply.ToolCalls[calls].ID != "" {
				wantCallID = reply.ToolCalls[calls].ID
			}
			calls++
			if !strings.HasPrefix(fc.ID, "fc_") || !strings.HasPrefix(fc.CallID, wantCallID) || fc.Status != "completed" {
				t.Errorf("item %d: function call id %q call_id %q status %q", i, fc.ID, fc.CallID, fc.Status)
			}
			got = append(got, "function_call:"+fc.Namespace+"."+fc.Name+fc.Arguments)
		default:
			got = append(got, "unexpected:"+item.Type)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("output\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if u := reply.Usage; u != (fakeupstream.Usage{}) {
		if r.Usage.InputTokens != u.InputTokens+u.CacheReadTokens+u.CacheWriteTokens || r.Usage.OutputTokens != u.OutputTokens ||
			r.Usage.InputTokensDetails.CachedTokens != u.CacheReadTokens || r.Usage.OutputTokensDetails.ReasoningTokens != u.ReasoningTokens ||
			r.Usage.TotalTokens != r.Usage.InputTokens+r.Usage.OutputTokens {
			t.Errorf("usage %+v, want %+v", r.Usage, u)
		}
	}
}

func TestResponsesIncomplete(t *testing.T) {
	srv := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "cut", StopReason: "max_tokens"}))
	defer srv.Close()
	client := openAIClient(srv)
	resp, err := client.Responses.New(t.Context(), responsesParams(false))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "incomplete" || resp.IncompleteDetails.Reason != "max_output_tokens" || resp.OutputText() != "cut" {
		t.Errorf("response %s", resp.RawJSON())
	}
	stream := client.Responses.NewStreaming(t.Context(), responsesParams(false))
	last := ""
	for stream.Next() {
		last = stream.Current().Type
	}
	if stream.Err() != nil || last != "response.incomplete" {
		t.Errorf("stream ends with %q: %v", last, stream.Err())
	}
}

func TestResponsesSDKErrors(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()

	srv.FailNext(1, fakeupstream.Fault{Status: 429, RetryAfter: "20"})
	_, err := openAIClient(srv).Responses.New(t.Context(), responsesParams(false))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" ||
		apiErr.Response.Header.Get("Retry-After") != "20" {
		t.Errorf("429: %#v", err)
	}

	// an in-stream failure is an error event, then the terminal response.failed
	srv.FailNext(1, fakeupstream.Fault{Kind: fakeupstream.FailStreamError, AfterChunks: 3, Message: "boom"})
	stream := openAIClient(srv).Responses.NewStreaming(t.Context(), responsesParams(false))
	var events []responses.ResponseStreamEventUnion
	for stream.Next() {
		events = append(events, stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(events) != 5 {
		t.Fatalf("%d events", len(events))
	}
	e, failed := events[3].AsError(), events[4].AsResponseFailed()
	if e.Type != "error" || e.Code != "server_error" || e.Message != "boom" || e.SequenceNumber != 3 {
		t.Errorf("error event %s", events[3].RawJSON())
	}
	if failed.Type != "response.failed" || failed.SequenceNumber != 4 || failed.Response.Status != "failed" ||
		failed.Response.Error.Message != "boom" || failed.Response.ID != events[0].Response.ID || failed.Response.Model != "gpt-test" {
		t.Errorf("response.failed event %s", events[4].RawJSON())
	}
}

func TestResponsesCompactSDK(t *testing.T) {
	srv := fakeupstream.New()
	defer srv.Close()
	client := openAIClient(srv)
	// a compaction neither takes a queued reply nor counts as one
	srv.Enqueue(fakeupstream.Reply{Text: "queued"})
	res, err := client.Responses.Compact(t.Context(), responses.ResponseCompactParams{
		Model: "gpt-test",
		Input: responses.ResponseCompactParamsInputUnion{OfResponseInputItemArray: []responses.ResponseInputItemUnionParam{
			responses.ResponseInputItemParamOfMessage("first question", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfMessage("an answer", responses.EasyInputMessageRoleAssistant),
			responses.ResponseInputItemParamOfFunctionCallOutput("tool says hi"),
			responses.ResponseInputItemParamOfMessage("second question", responses.EasyInputMessageRoleUser),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ID, "resp_") || res.Object != "response.compaction" || res.CreatedAt == 0 || len(res.Output) != 3 ||
		res.Usage.TotalTokens != res.Usage.InputTokens+res.Usage.OutputTokens || res.Usage.InputTokens == 0 {
		t.Fatalf("compaction %s", res.RawJSON())
	}
	for i, want := range []string{"first question", "second question"} {
		m := res.Output[i]
		if m.Type != "message" || m.Role != "user" || len(m.Content) != 1 || m.Content[0].Text != want {
			t.Errorf("output %d: %s", i, m.RawJSON())
		}
	}
	if c := res.Output[2].AsCompaction(); c.Type != "compaction" || !strings.HasPrefix(c.ID, "cmp_") || c.EncryptedContent == "" {
		t.Errorf("compaction item %s", res.Output[2].RawJSON())
	}
	r, b := post(t, srv.URL()+"/v1/responses", responsesBody)
	if !strings.HasPrefix(r.Header.Get("X-Request-Id"), "req_") || !strings.Contains(b, `"text": "queued"`) {
		t.Errorf("after the compaction: %v %s", r.Header, b)
	}
	if reqs := srv.Requests(); len(reqs) != 2 || reqs[0].Endpoint != fakeupstream.ResponsesCompact || reqs[1].Endpoint != fakeupstream.Responses {
		t.Errorf("recorded %+v", reqs)
	}
}
