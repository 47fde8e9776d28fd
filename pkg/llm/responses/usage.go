package responses

import (
	"bytes"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/sse"
)

// EventError is the type of the event a Responses stream ends with when it fails outside a
// response (a refused request, an overloaded server).
const EventError = "error"

// ResponseUsage reads the usage of a complete Responses object.
func ResponseUsage(body []byte) llm.Usage {
	return usageOf(gjson.GetBytes(body, "usage"))
}

// EventUsage folds the usage a Responses stream event carries into u. Only the events that
// end a response carry it (response.completed, response.incomplete, response.failed), in
// their response; the others are passed over without parsing.
func EventUsage(ev sse.Event, u *llm.Usage) {
	switch eventType(ev) {
	case EventCompleted, EventIncomplete, EventFailed:
		if v := gjson.GetBytes(ev.Data, "response.usage"); v.IsObject() {
			*u = usageOf(v)
		}
	}
}

// IsLastEvent reports the event that ends a Responses stream: response.completed,
// response.incomplete, response.failed or error.
func IsLastEvent(ev sse.Event) bool {
	switch eventType(ev) {
	case EventCompleted, EventIncomplete, EventFailed, EventError:
		return true
	}
	return false
}

// lastMarks are in the data of the events that end a stream. eventType parses the data of an
// event without an event: line only when one is in it, so deltas pass without parsing.
var lastMarks = [][]byte{
	[]byte(`"response.completed"`), []byte(`"response.incomplete"`), []byte(`"response.failed"`), []byte(`"error"`),
}

// eventType is the type of ev: its event: line, or, for a data-only event that may end the
// stream, the type member of its data; "" for other data-only events.
func eventType(ev sse.Event) string {
	if ev.Event != "" {
		return ev.Event
	}
	for _, m := range lastMarks {
		if bytes.Contains(ev.Data, m) {
			return gjson.GetBytes(ev.Data, "type").String()
		}
	}
	return ""
}

// usageOf converts a Responses usage object. Like llm.Usage, Responses counts the cached
// tokens inside input_tokens.
func usageOf(v gjson.Result) llm.Usage {
	return llm.Usage{
		InputTokens:     v.Get("input_tokens").Int(),
		OutputTokens:    v.Get("output_tokens").Int(),
		CacheReadTokens: v.Get("input_tokens_details.cached_tokens").Int(),
	}
}

// chatUsage converts a Responses usage into the usage of a chat completion, with the cached
// and the reasoning tokens in their details.
func chatUsage(u Usage) openai.Usage {
	total := u.TotalTokens
	if total == 0 {
		total = u.InputTokens + u.OutputTokens
	}
	return openai.Usage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             total,
		PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: u.InputTokensDetails.CachedTokens},
		CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: u.OutputTokensDetails.ReasoningTokens},
	}
}
