package responses

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

func TestResponseUsage(t *testing.T) {
	body := []byte(`{"id":"resp_1","status":"completed","usage":{"input_tokens":1520,"input_tokens_details":{"cached_tokens":1408},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":1532}}`)
	if got, want := ResponseUsage(body), (llm.Usage{InputTokens: 1520, OutputTokens: 12, CacheReadTokens: 1408}); got != want {
		t.Fatalf("usage %+v, want %+v", got, want)
	}
	if got := ResponseUsage([]byte(`{"usage":null}`)); got != (llm.Usage{}) {
		t.Fatalf("usage %+v", got)
	}
}

func TestEventUsage(t *testing.T) {
	usage := `{"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":3}}`
	want := llm.Usage{InputTokens: 10, OutputTokens: 3, CacheReadTokens: 4}
	tests := []struct {
		name string
		ev   sse.Event
		want llm.Usage
	}{
		{"completed", sse.Event{Event: EventCompleted, Data: []byte(`{"type":"response.completed","response":` + usage + `}`)}, want},
		{"incomplete", sse.Event{Event: EventIncomplete, Data: []byte(`{"type":"response.incomplete","response":` + usage + `}`)}, want},
		{"failed", sse.Event{Event: EventFailed, Data: []byte(`{"type":"response.failed","response":` + usage + `}`)}, want},
		{"data only", sse.Event{Data: []byte(`{"type":"response.completed","response":` + usage + `}`)}, want},
		{"created carries none", sse.Event{Event: EventCreated, Data: []byte(`{"type":"response.created","response":` + usage + `}`)}, llm.Usage{}},
		{"delta", sse.Event{Data: []byte(`{"type":"response.output_text.delta","delta":"\"response.completed\""}`)}, llm.Usage{}},
		{"null usage", sse.Event{Event: EventCompleted, Data: []byte(`{"response":{"usage":null}}`)}, llm.Usage{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var u llm.Usage
			EventUsage(tc.ev, &u)
			if u != tc.want {
				t.Fatalf("usage %+v, want %+v", u, tc.want)
			}
		})
	}
}

func TestIsLastEvent(t *testing.T) {
	tests := []struct {
		ev   sse.Event
		want bool
	}{
		{sse.Event{Event: EventCompleted}, true},
		{sse.Event{Event: EventIncomplete}, true},
		{sse.Event{Event: EventFailed}, true},
		{sse.Event{Event: "error"}, true},
		{sse.Event{Data: []byte(`{"type":"error","code":"server_error","message":"x"}`)}, true},
		{sse.Event{Data: []byte(`{"type":"response.incomplete","response":{}}`)}, true},
		{sse.Event{Event: EventCreated}, false},
		{sse.Event{Event: EventOutputItemDone}, false},
		{sse.Event{Data: []byte(`{"type":"response.output_text.delta","delta":"an \"error\""}`)}, false},
		{sse.Event{Data: sse.Done}, false},
	}
	for _, tc := range tests {
		if got := IsLastEvent(tc.ev); got != tc.want {
			t.Errorf("IsLastEvent(%q, %s) = %v, want %v", tc.ev.Event, tc.ev.Data, got, tc.want)
		}
	}
}

func BenchmarkEventUsageDelta(b *testing.B) {
	ev := sse.Event{Event: EventOutputTextDelta, Data: []byte(`{"type":"response.output_text.delta","sequence_number":7,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello","logprobs":[]}`)}
	var u llm.Usage
	b.ReportAllocs()
	for b.Loop() {
		EventUsage(ev, &u)
		IsLastEvent(ev)
	}
}
