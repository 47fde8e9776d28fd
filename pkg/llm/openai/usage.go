package openai

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

// ChatResponseUsage reads the usage of a complete chat completion.
func ChatResponseUsage(body []byte) llm.Usage {
	return usageFrom(gjson.GetBytes(body, "usage"))
}

// ChunkUsage folds the usage a chat completion chunk carries (the last chunk, when the client
// asked for stream_options.include_usage) into u.
func ChunkUsage(ev sse.Event, u *llm.Usage) {
	if ev.IsDone() {
		return
	}
	if v := gjson.GetBytes(ev.Data, "usage"); v.IsObject() {
		*u = usageFrom(v)
	}
}

// usageFrom converts a chat usage object. DeepSeek reports its cached prompt tokens as
// prompt_cache_hit_tokens.
func usageFrom(v gjson.Result) llm.Usage {
	cached := v.Get("prompt_tokens_details.cached_tokens").Int()
	if cached == 0 {
		cached = v.Get("prompt_cache_hit_tokens").Int()
	}
	return llm.Usage{
		InputTokens:     v.Get("prompt_tokens").Int(),
		OutputTokens:    v.Get("completion_tokens").Int(),
		CacheReadTokens: cached,
	}
}
