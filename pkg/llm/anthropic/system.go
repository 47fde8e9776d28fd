package anthropic

import (
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// InlineSystemMessages is the fallback for the Anthropic-format upstreams that take no system
// message inside the conversation (Claude on Bedrock, Vertex AI and Microsoft Foundry, and
// the other hosts of the format): each {"role":"system"} message becomes a user turn at the
// same place whose text blocks wrap its text in <system> tags, cache_control kept. The rest of
// the body is left byte for byte, and a body without such a message is returned as it is.
func InlineSystemMessages(body []byte) ([]byte, error) {
	msgs := gjson.GetBytes(body, "messages")
	if !msgs.IsArray() {
		return body, nil
	}
	out := body
	for i, m := range msgs.Array() {
		if m.Get("role").Str != RoleSystem {
			continue
		}
		turn, err := inlined(m.Get("content"))
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d]: %w", llm.ErrInvalid, i, err)
		}
		if out, err = sjson.SetRawBytes(out, fmt.Sprintf("messages.%d", i), turn); err != nil {
			return nil, fmt.Errorf("%w: messages[%d]: %w", llm.ErrInvalid, i, err)
		}
	}
	return out, nil
}

// inlined is the user turn that stands for a system message of content c.
func inlined(c gjson.Result) ([]byte, error) {
	var blocks []ContentBlock
	switch {
	case c.Type == gjson.String:
		blocks = []ContentBlock{{Type: BlockText, Text: c.Str}}
	case c.IsArray():
		for _, b := range c.Array() {
			if b.Get("type").Str != BlockText {
				continue
			}
			blk := ContentBlock{Type: BlockText, Text: b.Get("text").Str}
			if cc := b.Get("cache_control"); cc.Exists() {
				blk.CacheControl = []byte(cc.Raw)
			}
			blocks = append(blocks, blk)
		}
	}
	for i := range blocks {
		blocks[i].Text = "<system>\n" + blocks[i].Text + "\n</system>"
	}
	if blocks == nil {
		blocks = []ContentBlock{{Type: BlockText, Text: "<system>\n</system>"}}
	}
	return llm.Marshal(Message{Role: RoleUser, Content: Content{Blocks: blocks}})
}
