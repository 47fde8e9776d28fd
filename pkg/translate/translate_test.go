package translate

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

func TestForFindsTheShortestChain(t *testing.T) {
	cases := []struct {
		client, upstream llm.Format
		want             []llm.Format // the formats the request passes through
	}{
		{llm.FormatAnthropic, llm.FormatAnthropic, []llm.Format{llm.FormatAnthropic, llm.FormatAnthropic}},
		{llm.FormatChat, llm.FormatChat, []llm.Format{llm.FormatChat, llm.FormatChat}},
		{llm.FormatAnthropic, llm.FormatChat, []llm.Format{llm.FormatAnthropic, llm.FormatChat}},
		{llm.FormatChat, llm.FormatAnthropic, []llm.Format{llm.FormatChat, llm.FormatAnthropic}},
		{llm.FormatResponses, llm.FormatChat, []llm.Format{llm.FormatResponses, llm.FormatChat}},
		{llm.FormatResponses, llm.FormatAnthropic, []llm.Format{llm.FormatResponses, llm.FormatChat, llm.FormatAnthropic}},
		{llm.FormatAnthropic, llm.FormatConverse, []llm.Format{llm.FormatAnthropic, llm.FormatConverse}},
		{llm.FormatChat, llm.FormatConverse, []llm.Format{llm.FormatChat, llm.FormatAnthropic, llm.FormatConverse}},
		{llm.FormatResponses, llm.FormatConverse, []llm.Format{llm.FormatResponses, llm.FormatChat, llm.FormatAnthropic, llm.FormatConverse}},
	}
	for _, c := range cases {
		p, err := For(c.client, c.upstream)
		if err != nil {
			t.Errorf("%s→%s: %v", c.client, c.upstream, err)
			continue
		}
		got := []llm.Format{p[0].From}
		for _, conv := range p {
			got = append(got, conv.To)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s→%s: chain %v, want %v", c.client, c.upstream, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s→%s: chain %v, want %v", c.client, c.upstream, got, c.want)
				break
			}
		}
	}
	if _, err := For(llm.FormatConverse, llm.FormatChat); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Converse as a client format: %v, want ErrUnsupported", err)
	}
}

func TestIdentityKeepsEveryByteButTheModel(t *testing.T) {
	body := []byte(`{"model":"claude-x","unknown_field":{"a":[1,2]},"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"EqQBCgIYAhIM+/=="}]}],"max_tokens":5}`)
	p, err := For(llm.FormatAnthropic, llm.FormatAnthropic)
	if err != nil {
		t.Fatal(err)
	}
	call, err := p.Request(body, "claude-y")
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Replace(body, []byte(`"claude-x"`), []byte(`"claude-y"`), 1)
	if !bytes.Equal(call.Body(), want) {
		t.Fatalf("got  %s\nwant %s", call.Body(), want)
	}
	for _, model := range []string{"", "claude-x"} {
		same, _ := p.Request(body, model)
		if &same.Body()[0] != &body[0] {
			t.Errorf("model %q, the one asked for: the body was copied (or changed to %s)", model, same.Body())
		}
	}
}

func TestPassthroughStreamReportsTruncation(t *testing.T) {
	p, _ := For(llm.FormatAnthropic, llm.FormatAnthropic)
	call, _ := p.Request([]byte(`{"model":"m"}`), "")
	s := call.Stream()
	start := sse.Event{Event: "message_start", Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":7,"cache_read_input_tokens":3,"output_tokens":1}}}`)}
	if out, err := s.Next(start); err != nil || len(out) != 1 || !bytes.Equal(out[0].Data, start.Data) {
		t.Fatalf("Next: %v %v", out, err)
	}
	if _, err := s.Close(); !errors.Is(err, llm.ErrTruncated) {
		t.Fatalf("Close without message_stop: %v, want ErrTruncated", err)
	}
	if u := s.Usage(); u.InputTokens != 10 || u.CacheReadTokens != 3 {
		t.Fatalf("usage %+v", u)
	}
}

// A Chat stream always asks its upstream for the usage, which spend and budgets are charged
// from: a client that did not ask for it would otherwise stream for free. The usage chunk it
// did not ask for is kept from it; a client that asked gets its body byte for byte and the
// chunk.
func TestChatStreamAlwaysAsksForUsage(t *testing.T) {
	p, err := For(llm.FormatChat, llm.FormatChat)
	if err != nil {
		t.Fatal(err)
	}
	content := sse.Event{Data: []byte(`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}],"usage":null}`)}
	usage := sse.Event{Data: []byte(`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`)}
	done := sse.Event{Data: []byte("[DONE]")}
	for _, c := range []struct {
		name, body string
		asked      bool
	}{
		{"without stream_options", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, false},
		{"include_usage false", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"messages":[]}`, false},
		{"include_usage true", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			call, err := p.Request([]byte(c.body), "")
			if err != nil {
				t.Fatal(err)
			}
			if !gjson.GetBytes(call.Body(), "stream_options.include_usage").Bool() {
				t.Fatalf("the upstream is not asked for the usage: %s", call.Body())
			}
			if c.asked && string(call.Body()) != c.body {
				t.Fatalf("a client that asked got its body changed: %s", call.Body())
			}
			s := call.Stream()
			var sent []sse.Event
			for _, ev := range []sse.Event{content, usage, done} {
				out, err := s.Next(ev)
				if err != nil {
					t.Fatal(err)
				}
				sent = append(sent, out...)
			}
			if _, err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if u := s.Usage(); u.InputTokens != 12 || u.OutputTokens != 3 {
				t.Errorf("usage %+v, want 12 in, 3 out", u)
			}
			want := 2 // the content and [DONE]
			if c.asked {
				want = 3
			}
			if len(sent) != want {
				t.Errorf("the client got %d events, want %d", len(sent), want)
			}
		})
	}
	// Not a stream: nothing to ask, the body passes untouched.
	body := `{"model":"gpt-4o","messages":[]}`
	if call, _ := p.Request([]byte(body), ""); string(call.Body()) != body {
		t.Errorf("a whole answer's request was changed: %s", call.Body())
	}
}

// A Responses client in front of an Anthropic upstream runs two conversions each way; the
// answer must come back whole.
func TestChainedStreamResponsesOverAnthropic(t *testing.T) {
	p, err := For(llm.FormatResponses, llm.FormatAnthropic)
	if err != nil {
		t.Fatal(err)
	}
	call, err := p.Request([]byte(`{"model":"gpt-4o","input":"hi","stream":true}`), "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	if m := gjson.GetBytes(call.Body(), "model").String(); m != "claude-sonnet-4-5" {
		t.Fatalf("upstream request model %q in %s", m, call.Body())
	}
	if !gjson.GetBytes(call.Body(), "max_tokens").Exists() {
		t.Fatalf("upstream Anthropic request lacks max_tokens: %s", call.Body())
	}
	s := call.Stream()
	upstream := []sse.Event{
		{Event: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`)},
		{Event: "content_block_start", Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)},
		{Event: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`)},
		{Event: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`)},
		{Event: "content_block_stop", Data: []byte(`{"type":"content_block_stop","index":0}`)},
		{Event: "message_delta", Data: []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}`)},
		{Event: "message_stop", Data: []byte(`{"type":"message_stop"}`)},
	}
	var out []sse.Event
	for _, ev := range upstream {
		evs, err := s.Next(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	tail, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, tail...)
	var text string
	var completed gjson.Result
	for _, ev := range out {
		switch ev.Event {
		case "response.output_text.delta":
			text += gjson.GetBytes(ev.Data, "delta").String()
		case "response.completed":
			completed = gjson.GetBytes(ev.Data, "response")
		}
	}
	if text != "Hello" {
		t.Errorf("text %q, want Hello", text)
	}
	if !completed.Exists() || completed.Get("usage.output_tokens").Int() != 2 || completed.Get("usage.input_tokens").Int() != 9 {
		t.Errorf("response.completed %s", completed.Raw)
	}
	if u := s.Usage(); u.InputTokens != 9 || u.OutputTokens != 2 {
		t.Errorf("usage %+v", u)
	}
}

// A Codex tool loop on an Anthropic upstream keeps Claude's signed thinking: the thinking of
// one answer reaches the client in a reasoning item's encrypted_content (streamed or not), and
// the client's next request, which hands that item back, reaches Anthropic with the signed
// thinking block first in the assistant turn, so thinking can stay on.
func TestSignedThinkingRoundTripThroughResponses(t *testing.T) {
	p, err := For(llm.FormatResponses, llm.FormatAnthropic)
	if err != nil {
		t.Fatal(err)
	}
	const sig = "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"
	turn1 := []byte(`{"model":"gpt-5-codex","stream":true,"include":["reasoning.encrypted_content"],"reasoning":{"effort":"high"},
		"tools":[{"type":"function","name":"exec_command","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}],
		"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"run ls"}]}]}`)
	call, err := p.Request(turn1, "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(call.Body(), "thinking.type").Str != "enabled" {
		t.Fatalf("first turn asks for no thinking: %s", call.Body())
	}
	upstream := []sse.Event{
		{Event: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`)},
		{Event: "content_block_start", Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`)},
		{Event: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"List the "}}`)},
		{Event: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"directory."}}`)},
		{Event: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"` + sig + `"}}`)},
		{Event: "content_block_stop", Data: []byte(`{"type":"content_block_stop","index":0}`)},
		{Event: "content_block_start", Data: []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"exec_command","input":{}}}`)},
		{Event: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"cmd\":\"ls\"}"}}`)},
		{Event: "content_block_stop", Data: []byte(`{"type":"content_block_stop","index":1}`)},
		{Event: "message_delta", Data: []byte(`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":20}}`)},
		{Event: "message_stop", Data: []byte(`{"type":"message_stop"}`)},
	}
	s := call.Stream()
	var completed gjson.Result
	for _, ev := range upstream {
		evs, err := s.Next(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Event == "response.completed" {
				completed = gjson.GetBytes(e.Data, "response")
			}
		}
	}
	if _, err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var reasoning, fc gjson.Result
	for _, it := range completed.Get("output").Array() {
		switch it.Get("type").Str {
		case "reasoning":
			reasoning = it
		case "function_call":
			fc = it
		}
	}
	enc := reasoning.Get("encrypted_content").Str
	if enc == "" || fc.Get("call_id").Str != "toolu_1" {
		t.Fatalf("answer has no encrypted reasoning or no call: %s", completed.Raw)
	}

	// The client hands the items back with the command's output.
	turn2 := []byte(`{"model":"gpt-5-codex","stream":true,"include":["reasoning.encrypted_content"],"reasoning":{"effort":"high"},
		"tools":[{"type":"function","name":"exec_command","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}],
		"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"run ls"}]},` +
		reasoning.Raw + `,` + fc.Raw + `,{"type":"function_call_output","call_id":"toolu_1","output":"a.go"}]}`)
	call2, err := p.Request(turn2, "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	body := gjson.ParseBytes(call2.Body())
	first := body.Get("messages.1.content.0")
	if body.Get("messages.1.role").Str != "assistant" || first.Get("type").Str != "thinking" ||
		first.Get("signature").Str != sig || first.Get("thinking").Str != "List the directory." {
		t.Fatalf("the assistant turn does not start with the signed thinking: %s", call2.Body())
	}
	if body.Get("thinking.type").Str != "enabled" {
		t.Errorf("thinking is off in the tool loop: %s", call2.Body())
	}
	if d := call2.Dropped(); len(d) > 0 {
		t.Errorf("dropped %v", d)
	}
}

// The same, not streamed: the reasoning item of a whole answer carries the signed thinking.
func TestSignedThinkingInAWholeResponse(t *testing.T) {
	p, err := For(llm.FormatResponses, llm.FormatAnthropic)
	if err != nil {
		t.Fatal(err)
	}
	call, err := p.Request([]byte(`{"model":"m","include":["reasoning.encrypted_content"],"input":"hi"}`), "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := call.Response([]byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"thinking","thinking":"Greet.","signature":"c2ln"},{"type":"redacted_thinking","data":"cmVk"},{"type":"text","text":"Hello"}],
		"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":5}}`))
	if err != nil {
		t.Fatal(err)
	}
	var enc string
	for _, it := range gjson.GetBytes(out, "output").Array() {
		if it.Get("type").Str == "reasoning" {
			enc = it.Get("encrypted_content").Str
		}
	}
	call2, err := p.Request([]byte(`{"model":"m","input":[{"type":"message","role":"user","content":"hi"},
		{"type":"reasoning","summary":[],"encrypted_content":"`+enc+`"},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello"}]},
		{"type":"message","role":"user","content":"again"}]}`), "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	blocks := gjson.GetBytes(call2.Body(), "messages.1.content").Array()
	if len(blocks) != 3 || blocks[0].Get("signature").Str != "c2ln" || blocks[1].Get("data").Str != "cmVk" || blocks[2].Get("text").Str != "Hello" {
		t.Fatalf("assistant turn %s", gjson.GetBytes(call2.Body(), "messages.1").Raw)
	}
}
