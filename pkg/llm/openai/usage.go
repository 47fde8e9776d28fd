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

func usageFrom(v gjson.Result) llm.Usage {
	return llm.Usage{
		InputTokens:     v.Get("prompt_tokens").Int(),
		OutputTokens:    v.Get("completion_tokens").Int(),
		CacheReadTokens: v.Get("prompt_tokens_details.cached_tokens").Int(),
	}
}
