package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func responsesParams(sc scenario) responses.ResponseNewParams {
	p := responses.ResponseNewParams{
		Model:           "gpt-4o",
		Instructions:    openai.String("You are terse."),
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("What now? (" + sc.name + ")")},
		MaxOutputTokens: openai.Int(1024),
		Store:           openai.Bool(false),
	}
	if sc.tools {
		for _, name := range toolNames {
			p.Tools = append(p.Tools, responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
				Name:        name,
				Description: openai.String("the " + name + " tool"),
				Parameters:  toolSchemas[name],
				Strict:      openai.Bool(false),
			}})
		}
	}
	return p
}

// TestResponsesSDK sends every scenario through lynkr with openai-go's Responses API,
// streamed and not, to both upstream families.
func TestResponsesSDK(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, nil)
			client := s.openai()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					s.Fake.Enqueue(sc.reply, sc.reply)
					params := responsesParams(sc)

					resp, err := client.Responses.New(t.Context(), params)
					if err != nil {
						t.Fatalf("non-stream: %v", err)
					}
					checkResponse(t, s, sc, resp)

					stream := client.Responses.NewStreaming(t.Context(), params)
					final := readResponseStream(t, stream.Next, stream.Current, stream.Err)
					if final != nil {
						checkResponse(t, s, sc, final)
					}
				})
			}
		})
	}
}

// readResponseStream reads a Responses stream, checks its events are well-formed and agree
// with each other (deltas add up to their done events and to the final response), and returns
// the final response.
func readResponseStream(t *testing.T, next func() bool, current func() responses.ResponseStreamEventUnion, errf func() error) *responses.Response {
	t.Helper()
	var types []string
	text := map[string]*strings.Builder{} // by item id
	argDeltas := map[string]*strings.Builder{}
	doneText, doneArgs := map[string]string{}, map[string]string{}
	var final *responses.Response
	lastSeq := int64(-1)
	for next() {
		ev := current()
		types = append(types, ev.Type)
		if ev.SequenceNumber <= lastSeq {
			t.Errorf("event %s sequence_number %d after %d", ev.Type, ev.SequenceNumber, lastSeq)
		}
		lastSeq = ev.SequenceNumber
		if final != nil {
			t.Errorf("event %s after the response ended", ev.Type)
		}
		switch ev.Type {
		case "response.output_text.delta":
			b := text[ev.ItemID]
			if b == nil {
				b = &strings.Builder{}
				text[ev.ItemID] = b
			}
			b.WriteString(ev.Delta)
		case "response.output_text.done":
			doneText[ev.ItemID] = ev.Text
		case "response.function_call_arguments.delta":
			b := argDeltas[ev.ItemID]
			if b == nil {
				b = &strings.Builder{}
				argDeltas[ev.ItemID] = b
			}
			b.WriteString(ev.Delta)
		case "response.function_call_arguments.done":
			doneArgs[ev.ItemID] = ev.Arguments
		case "response.completed", "response.incomplete":
			r := ev.Response
			final = &r
		case "response.failed", "error":
			t.Fatalf("stream failed: %s", ev.RawJSON())
		}
	}
	if err := errf(); err != nil {
		t.Fatalf("stream: %v (events %v)", err, types)
	}
	if len(types) == 0 || types[0] != "response.created" || final == nil {
		t.Fatalf("events %v: want response.created first and response.completed or response.incomplete last", types)
	}
	for id, b := range text {
		if doneText[id] != b.String() {
			t.Errorf("item %s: text deltas %q, done %q", id, b.String(), doneText[id])
		}
	}
	for id, b := range argDeltas {
		if doneArgs[id] != b.String() {
			t.Errorf("item %s: argument deltas %q, done %q", id, b.String(), doneArgs[id])
		}
	}
	// The final response holds what the deltas said.
	for _, item := range final.Output {
		switch item.Type {
		case "message":
			if b := text[item.ID]; b != nil && item.Content[0].Text != b.String() {
				t.Errorf("final message %q, deltas %q", item.Content[0].Text, b.String())
			}
		case "function_call":
			if b := argDeltas[item.ID]; b == nil || item.Arguments.OfString != b.String() {
				t.Errorf("final function_call %s arguments %q, deltas %v", item.Name, item.Arguments.OfString, b)
			}
		}
	}
	return final
}

// checkResponse checks r holds what the scenario's upstream answer said.
func checkResponse(t *testing.T, s *stack, sc scenario, r *responses.Response) {
	t.Helper()
	reply := sc.reply
	var want []string
	if reply.Text != "" {
		want = append(want, "message:"+reply.Text)
	}
	for _, tc := range reply.ToolCalls {
		want = append(want, "function_call:"+tc.Name+":"+canonical(t, []byte(args(tc))))
	}
	var got []string
	ids := map[string]bool{}
	for _, item := range r.Output {
		switch item.Type {
		case "message":
			var b strings.Builder
			for _, c := range item.Content {
				if c.Type != "output_text" {
					t.Errorf("message content of type %q", c.Type)
				}
				b.WriteString(c.Text)
			}
			got = append(got, "message:"+b.String())
		case "function_call":
			if item.CallID == "" || ids[item.CallID] {
				t.Errorf("function_call call_id %q empty or repeated", item.CallID)
			}
			ids[item.CallID] = true
			got = append(got, "function_call:"+item.Name+":"+canonical(t, []byte(item.Arguments.OfString)))
		default:
			got = append(got, "unexpected "+item.Type+": "+item.RawJSON())
		}
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("output:\n%s\nwant:\n%s\nresponse: %s", g, w, r.RawJSON())
	}
	if r.OutputText() != reply.Text {
		t.Errorf("OutputText() %q, want %q", r.OutputText(), reply.Text)
	}
	wantStatus, wantReason := responses.ResponseStatusCompleted, ""
	if reply.StopReason == "max_tokens" {
		wantStatus, wantReason = responses.ResponseStatusIncomplete, "max_output_tokens"
	}
	if r.Status != wantStatus || r.IncompleteDetails.Reason != wantReason {
		t.Errorf("status %q incomplete_details %q, want %q %q", r.Status, r.IncompleteDetails.Reason, wantStatus, wantReason)
	}
	if r.ID == "" || r.Object != "response" {
		t.Errorf("response id %q object %q", r.ID, r.Object)
	}
	checkResponsesUsage(t, reply.Usage, r.Usage)
}

func checkResponsesUsage(t *testing.T, u fakeupstream.Usage, got responses.ResponseUsage) {
	t.Helper()
	in := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens
	want := fmt.Sprintf("input=%d cached=%d output=%d total=%d", in, u.CacheReadTokens, u.OutputTokens, in+u.OutputTokens)
	g := fmt.Sprintf("input=%d cached=%d output=%d total=%d", got.InputTokens, got.InputTokensDetails.CachedTokens, got.OutputTokens, got.TotalTokens)
	if g != want {
		t.Errorf("usage %s, want %s", g, want)
	}
}
