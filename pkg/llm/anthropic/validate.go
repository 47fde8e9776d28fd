package anthropic

import (
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// ValidateMessages checks a POST /v1/messages body and returns what the gateway routes by,
// and every problem found (none when the request is valid).
func ValidateMessages(body []byte) (llm.Summary, []string) {
	return validate(body, true)
}

// ValidateCountTokens checks a POST /v1/messages/count_tokens body: a messages request
// without max_tokens and the sampling fields.
func ValidateCountTokens(body []byte) (llm.Summary, []string) {
	return validate(body, false)
}

func validate(body []byte, full bool) (llm.Summary, []string) {
	var c checker
	root, ok := c.object(body)
	if !ok {
		return llm.Summary{}, c.result()
	}
	top := members(root)
	var sum llm.Summary
	if m := top["model"]; c.str("model", m, true) {
		sum.Model = m.Str
	}
	if full {
		c.integer("max_tokens", top["max_tokens"], true, 1)
		c.boolean("stream", top["stream"])
		sum.Stream = top["stream"].Type == gjson.True
		c.number("temperature", top["temperature"], 0, 1)
		c.number("top_p", top["top_p"], 0, 1)
		c.integer("top_k", top["top_k"], false, 0)
		if v := top["stop_sequences"]; c.array("stop_sequences", v, false) {
			for i, s := range elems(v) {
				c.str(fmt.Sprintf("stop_sequences[%d]", i), s, false)
			}
		}
		if v := top["metadata"]; c.obj("metadata", v, false) {
			if u := v.Get("user_id"); u.Type != gjson.Null {
				c.str("metadata.user_id", u, false)
			}
		}
	}
	c.system(top["system"])
	c.messages(top["messages"])
	c.tools(top["tools"])
	if v := top["tool_choice"]; c.obj("tool_choice", v, false) {
		if c.oneOf("tool_choice.type", v.Get("type"), true, ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone) && v.Get("type").Str == ToolChoiceTool {
			c.str("tool_choice.name", v.Get("name"), true)
		}
		c.boolean("tool_choice.disable_parallel_tool_use", v.Get("disable_parallel_tool_use"))
	}
	if v := top["thinking"]; c.obj("thinking", v, false) {
		if c.oneOf("thinking.type", v.Get("type"), true, "enabled", "disabled", "adaptive") && v.Get("type").Str == "enabled" {
			c.integer("thinking.budget_tokens", v.Get("budget_tokens"), true, 1024)
		}
	}
	return sum, c.result()
}

func (c *checker) system(v gjson.Result) {
	switch {
	case !v.Exists() || v.Type == gjson.String:
	case v.IsArray():
		for i, b := range elems(v) {
			p := fmt.Sprintf("system[%d]", i)
			if !b.IsObject() {
				c.add("%s must be a text block", p)
				continue
			}
			if c.oneOf(p+".type", b.Get("type"), true, BlockText) {
				c.str(p+".text", b.Get("text"), false)
				if !b.Get("text").Exists() {
					c.add("%s.text is required", p)
				}
			}
			c.cacheControl(p, b)
		}
	default:
		c.add("system must be a string or an array of text blocks")
	}
}

func (c *checker) messages(v gjson.Result) {
	if !c.array("messages", v, true) {
		return
	}
	n := 0
	for i, m := range elems(v) {
		n++
		p := fmt.Sprintf("messages[%d]", i)
		if !m.IsObject() {
			c.add("%s must be an object", p)
			continue
		}
		role := m.Get("role")
		if !c.oneOf(p+".role", role, true, RoleUser, RoleAssistant) {
			role = gjson.Result{}
		}
		content := m.Get("content")
		switch {
		case !content.Exists():
			c.add("%s.content is required", p)
		case content.Type == gjson.String:
		case content.IsArray():
			for j, b := range elems(content) {
				c.block(fmt.Sprintf("%s.content[%d]", p, j), b, role.Str)
			}
		default:
			c.add("%s.content must be a string or an array of content blocks", p)
		}
	}
	if n == 0 {
		c.add("messages must not be empty")
	}
}

// messageBlockTypes lists the block types a message may hold, for the problem sentence.
// The first eight are checked in depth; the others are server tool blocks, checked only for
// their type.
const messageBlockTypes = "text, image, document, search_result, tool_use, tool_result, thinking, " +
	"redacted_thinking, server_tool_use, web_search_tool_result, web_fetch_tool_result, " +
	"code_execution_tool_result, bash_code_execution_tool_result, " +
	"text_editor_code_execution_tool_result, tool_search_tool_result, mcp_tool_use, " +
	"mcp_tool_result, container_upload"

func isMessageBlockType(t string) bool {
	switch t {
	case BlockText, BlockImage, BlockDocument, BlockSearchResult, BlockToolUse, BlockToolResult,
		BlockThinking, BlockRedactedThinking, BlockServerToolUse, "web_search_tool_result",
		"web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result",
		"text_editor_code_execution_tool_result", "tool_search_tool_result", "mcp_tool_use",
		"mcp_tool_result", "container_upload":
		return true
	}
	return false
}

// block checks one content block of a message whose role is role ("" when the role is
// itself wrong, or inside a tool result).
func (c *checker) block(p string, b gjson.Result, role string) {
	if !b.IsObject() {
		c.add("%s must be a content block object", p)
		return
	}
	t := b.Get("type")
	if !c.str(p+".type", t, true) {
		return
	}
	if !isMessageBlockType(t.Str) {
		c.add("%s.type must be one of %s", p, messageBlockTypes)
		return
	}
	c.cacheControl(p, b)
	switch t.Str {
	case BlockText:
		if !b.Get("text").Exists() {
			c.add("%s.text is required", p)
		} else {
			c.str(p+".text", b.Get("text"), false)
		}
	case BlockImage:
		if s := b.Get("source"); c.obj(p+".source", s, true) {
			c.source(p+".source", s, SourceBase64, SourceURL, SourceFile)
		}
	case BlockDocument:
		if s := b.Get("source"); c.obj(p+".source", s, true) {
			c.source(p+".source", s, SourceBase64, SourceText, SourceContent, SourceURL, SourceFile)
		}
	case BlockSearchResult:
		c.str(p+".source", b.Get("source"), true)
		c.str(p+".title", b.Get("title"), true)
		c.array(p+".content", b.Get("content"), true)
	case BlockToolUse, BlockServerToolUse:
		c.str(p+".id", b.Get("id"), true)
		c.str(p+".name", b.Get("name"), true)
		c.obj(p+".input", b.Get("input"), true)
		c.inRole(p, t.Str, role, RoleAssistant)
	case BlockToolResult:
		c.str(p+".tool_use_id", b.Get("tool_use_id"), true)
		c.boolean(p+".is_error", b.Get("is_error"))
		switch content := b.Get("content"); {
		case !content.Exists() || content.Type == gjson.String:
		case content.IsArray():
			for j, rb := range elems(content) {
				c.resultBlock(fmt.Sprintf("%s.content[%d]", p, j), rb)
			}
		default:
			c.add("%s.content must be a string or an array of content blocks", p)
		}
		c.inRole(p, t.Str, role, RoleUser)
	case BlockThinking:
		if !b.Get("thinking").Exists() {
			c.add("%s.thinking is required", p)
		} else {
			c.str(p+".thinking", b.Get("thinking"), false)
		}
		c.str(p+".signature", b.Get("signature"), false)
		c.inRole(p, t.Str, role, RoleAssistant)
	case BlockRedactedThinking:
		c.str(p+".data", b.Get("data"), true)
		c.inRole(p, t.Str, role, RoleAssistant)
	}
}

// resultBlock checks one block of a tool_result's content.
func (c *checker) resultBlock(p string, b gjson.Result) {
	if !b.IsObject() {
		c.add("%s must be a content block object", p)
		return
	}
	t := b.Get("type")
	if !c.oneOf(p+".type", t, true, BlockText, BlockImage, BlockDocument, BlockSearchResult) {
		return
	}
	switch t.Str {
	case BlockText:
		if !b.Get("text").Exists() {
			c.add("%s.text is required", p)
		} else {
			c.str(p+".text", b.Get("text"), false)
		}
	case BlockImage:
		if s := b.Get("source"); c.obj(p+".source", s, true) {
			c.source(p+".source", s, SourceBase64, SourceURL, SourceFile)
		}
	case BlockDocument:
		if s := b.Get("source"); c.obj(p+".source", s, true) {
			c.source(p+".source", s, SourceBase64, SourceText, SourceContent, SourceURL, SourceFile)
		}
	}
}

func (c *checker) inRole(p, typ, role, want string) {
	if role != "" && role != want {
		c.add("%s: %s blocks belong in %s messages", p, typ, want)
	}
}

func (c *checker) source(p string, s gjson.Result, types ...string) {
	if !c.oneOf(p+".type", s.Get("type"), true, types...) {
		return
	}
	switch s.Get("type").Str {
	case SourceBase64, SourceText:
		c.str(p+".media_type", s.Get("media_type"), true)
		c.str(p+".data", s.Get("data"), true)
	case SourceURL:
		c.str(p+".url", s.Get("url"), true)
	case SourceFile:
		c.str(p+".file_id", s.Get("file_id"), true)
	case SourceContent:
		if v := s.Get("content"); v.Type != gjson.String {
			c.array(p+".content", v, true)
		}
	}
}

func (c *checker) cacheControl(p string, b gjson.Result) {
	if v := b.Get("cache_control"); v.Exists() && v.Type != gjson.Null && c.obj(p+".cache_control", v, false) {
		c.oneOf(p+".cache_control.type", v.Get("type"), true, "ephemeral")
	}
}

func (c *checker) tools(v gjson.Result) {
	if !c.array("tools", v, false) {
		return
	}
	for i, t := range elems(v) {
		p := fmt.Sprintf("tools[%d]", i)
		if !t.IsObject() {
			c.add("%s must be an object", p)
			continue
		}
		c.str(p+".name", t.Get("name"), true)
		c.str(p+".description", t.Get("description"), false)
		c.cacheControl(p, t)
		typ := t.Get("type")
		if typ.Exists() && typ.Type != gjson.Null && !c.str(p+".type", typ, true) {
			continue
		}
		if typ.Str == "" || typ.Str == "custom" {
			if s := t.Get("input_schema"); c.obj(p+".input_schema", s, true) {
				if st := s.Get("type"); st.Exists() && st.Str != "object" {
					c.add("%s.input_schema.type must be object", p)
				}
			}
		}
	}
}
