package anthropic

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// imageTokens is the most one image costs: Anthropic scales images down to about 1.15
// megapixels, about 1,600 tokens, whatever the size of their base64 data.
const imageTokens = 1600

// EstimateInputTokens estimates, on the high side, the input tokens of a Messages (or
// count_tokens) request, for when the upstream cannot count them: the whole body as prompt
// JSON, except that each image counts as the most an image can cost instead of its bytes.
func EstimateInputTokens(body []byte) int64 {
	n, images := len(body), 0
	var visit func(b gjson.Result)
	visit = func(b gjson.Result) {
		switch b.Get("type").Str {
		case BlockImage:
			images++
			if d := b.Get("source.data"); b.Get("source.type").Str == SourceBase64 && d.Type == gjson.String {
				n -= len(d.Raw)
			}
		case BlockToolResult:
			for _, rb := range b.Get("content").Array() {
				visit(rb)
			}
		}
	}
	for _, m := range gjson.GetBytes(body, "messages").Array() {
		for _, b := range m.Get("content").Array() {
			visit(b)
		}
	}
	return llm.EstimateTokens(max(n, 0)) + int64(images)*imageTokens
}
