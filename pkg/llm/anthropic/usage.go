package anthropic

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// ResponseUsage reads the usage of a complete Messages response.
func ResponseUsage(body []byte) llm.Usage {
	return usageFrom(gjson.GetBytes(body, "usage"))
}

// EventUsage folds the usage an upstream stream event carries into u: message_start carries
// the input side, message_delta the running output count (cumulative, so it replaces).
func EventUsage(ev sse.Event, u *llm.Usage) {
	switch ev.Event {
	case "message_start":
		*u = usageFrom(gjson.GetBytes(ev.Data, "message.usage"))
	case "message_delta":
		// A converted stream (and Anthropic itself) may report the input side here too, the
		// cached counts included; counts of zero leave message_start's.
		d := gjson.GetBytes(ev.Data, "usage")
		if v := d.Get("output_tokens"); v.Exists() {
			u.OutputTokens = v.Int()
		}
		uncached := u.InputTokens - u.CacheReadTokens - u.CacheCreateTokens
		if v := d.Get("input_tokens"); v.Int() > 0 {
			uncached = v.Int()
		}
		if v := d.Get("cache_read_input_tokens"); v.Int() > 0 {
			u.CacheReadTokens = v.Int()
		}
		if v := d.Get("cache_creation_input_tokens"); v.Int() > 0 {
			u.CacheCreateTokens = v.Int()
		}
		u.InputTokens = uncached + u.CacheReadTokens + u.CacheCreateTokens
	}
}

// IsLastEvent reports the event that closes a Messages stream.
func IsLastEvent(ev sse.Event) bool { return ev.Event == "message_stop" }

// usageFrom converts Anthropic's usage object. Anthropic counts cached prompt tokens apart from
// input_tokens; llm.Usage counts them inside InputTokens.
func usageFrom(v gjson.Result) llm.Usage {
	read := v.Get("cache_read_input_tokens").Int()
	create := v.Get("cache_creation_input_tokens").Int()
	return llm.Usage{
		InputTokens:       v.Get("input_tokens").Int() + read + create,
		OutputTokens:      v.Get("output_tokens").Int(),
		CacheReadTokens:   read,
		CacheCreateTokens: create,
	}
}
