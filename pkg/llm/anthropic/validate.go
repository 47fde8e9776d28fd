package anthropic

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/internal/check"
)

// ValidateMessages checks a POST /v1/messages body and returns what the gateway routes by,
// and every problem found (none when the request is valid). The summary shares memory with
// body, which the caller must not modify while it uses the summary.
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
	root, ok := c.Object(body)
	if !ok {
		return llm.Summary{}, c.Result()
	}
	var model, maxTokens, stream, temperature, topP, topK, stopSequences, metadata, system,
		messages, tools, toolChoice, thinking gjson.Result
	check.Lookup(root, field("model", &model), field("max_tokens", &maxTokens), field("stream", &stream),
		field("temperature", &temperature), field("top_p", &topP), field("top_k", &topK),
		field("stop_sequences", &stopSequences), field("metadata", &metadata), field("system", &system),
		field("messages", &messages), field("tools", &tools), field("tool_choice", &toolChoice),
		field("thinking", &thinking))
	var sum llm.Summary
	if c.Str(named("model"), model, true) {
		sum.Model = check.Unquote(model)
	}
	if full {
		c.Integer(named("max_tokens"), maxTokens, true, 1)
		c.Boolean(named("stream"), stream)
		sum.Stream = stream.Type == gjson.True
		c.Number(named("temperature"), temperature, 0, 1)
		c.Number(named("top_p"), topP, 0, 1)
		c.Integer(named("top_k"), topK, false, 0)
		if p := named("stop_sequences"); c.Array(p, stopSequences, false) {
			for i, s := range check.Node(stopSequences).Elems {
				c.Str(p.Index(i), s, false)
			}
		}
		if p := named("metadata"); c.Obj(p, metadata, false) {
			if u := check.Get(metadata, "user_id"); u.Type != gjson.Null {
				c.Str(p.At("user_id"), u, false)
			}
		}
	}
	c.system(system)
	c.messages(messages)
	c.tools(tools)
	if p := named("tool_choice"); c.Obj(p, toolChoice, false) {
		var typ, name, disableParallel gjson.Result
		check.Lookup(toolChoice, field("type", &typ), field("name", &name), field("disable_parallel_tool_use", &disableParallel))
		if c.OneOf(p.At("type"), typ, true, ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone) && check.Unquote(typ) == ToolChoiceTool {
			c.Str(p.At("name"), name, true)
		}
		c.Boolean(p.At("disable_parallel_tool_use"), disableParallel)
	}
	if p := named("thinking"); c.Obj(p, thinking, false) {
		var typ, budget gjson.Result
		check.Lookup(thinking, field("type", &typ), field("budget_tokens", &budget))
		if c.OneOf(p.At("type"), typ, true, "enabled", "disabled", "adaptive") && check.Unquote(typ) == "enabled" {
			c.Integer(p.At("budget_tokens"), budget, true, 1024)
		}
	}
	return sum, c.Result()
}

// named returns the path of the body's member name.
func named(name string) check.Path { return check.Named(name) }

func (c *checker) system(v gjson.Result) {
	switch p := named("system"); {
	case !v.Exists() || v.Type == gjson.String:
	case v.IsArray():
		for i, b := range check.Node(v).Elems {
			q := p.Index(i)
			if !b.IsObject() {
				c.AddAt(q, "%s must be a text block")
				continue
			}
			var typ, txt, cacheControl gjson.Result
			check.Lookup(b, field("type", &typ), field("text", &txt), field("cache_control", &cacheControl))
			if c.OneOf(q.At("type"), typ, true, BlockText) {
				c.Str(q.At("text"), txt, false)
				if !txt.Exists() {
					c.AddAt(q, "%s.text is required")
				}
			}
			c.cacheControl(q, cacheControl)
		}
	default:
		c.Add("system must be a string or an array of text blocks")
	}
}

func (c *checker) messages(v gjson.Result) {
	p := named("messages")
	if !c.Array(p, v, true) {
		return
	}
	n := 0
	for i, m := range check.Node(v).Elems {
		n++
		q := p.Index(i)
		if !m.IsObject() {
			c.AddAt(q, "%s must be an object")
			continue
		}
		var role, content gjson.Result
		check.Lookup(m, field("role", &role), field("content", &content))
		if !c.OneOf(q.At("role"), role, true, RoleUser, RoleAssistant) {
			role = gjson.Result{}
		}
		switch q := q.At("content"); {
		case !content.Exists():
			c.AddAt(q, "%s is required")
		case content.Type == gjson.String:
		case content.IsArray():
			for j, b := range check.Node(content).Elems {
				c.block(q.Index(j), b, check.Unquote(role))
			}
		default:
			c.AddAt(q, "%s must be a string or an array of content blocks")
		}
	}
	if n == 0 {
		c.Add("messages must not be empty")
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
func (c *checker) block(p check.Path, b gjson.Result, role string) {
	if !b.IsObject() {
		c.AddAt(p, "%s must be a content block object")
		return
	}
	// One pass over the block reads every member a block type checks.
	var t, cacheControl, txt, source, title, content, id, name, input, toolUseID, isError,
		thinking, signature, data gjson.Result
	check.Lookup(b, field("type", &t), field("cache_control", &cacheControl), field("text", &txt),
		field("source", &source), field("title", &title), field("content", &content), field("id", &id),
		field("name", &name), field("input", &input), field("tool_use_id", &toolUseID),
		field("is_error", &isError), field("thinking", &thinking), field("signature", &signature),
		field("data", &data))
	if !c.Str(p.At("type"), t, true) {
		return
	}
	typ := check.Unquote(t)
	if !isMessageBlockType(typ) {
		c.AddAt(p, "%s.type must be one of %s", messageBlockTypes)
		return
	}
	c.cacheControl(p, cacheControl)
	switch typ {
	case BlockText:
		if !txt.Exists() {
			c.AddAt(p, "%s.text is required")
		} else {
			c.Str(p.At("text"), txt, false)
		}
	case BlockImage:
		if q := p.At("source"); c.Obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceURL, SourceFile)
		}
	case BlockDocument:
		if q := p.At("source"); c.Obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceText, SourceContent, SourceURL, SourceFile)
		}
	case BlockSearchResult:
		c.Str(p.At("source"), source, true)
		c.Str(p.At("title"), title, true)
		c.Array(p.At("content"), content, true)
	case BlockToolUse, BlockServerToolUse:
		c.Str(p.At("id"), id, true)
		c.Str(p.At("name"), name, true)
		c.Obj(p.At("input"), input, true)
		c.inRole(p, typ, role, RoleAssistant)
	case BlockToolResult:
		c.Str(p.At("tool_use_id"), toolUseID, true)
		c.Boolean(p.At("is_error"), isError)
		switch q := p.At("content"); {
		case !content.Exists() || content.Type == gjson.String:
		case content.IsArray():
			for j, rb := range check.Node(content).Elems {
				c.resultBlock(q.Index(j), rb)
			}
		default:
			c.AddAt(q, "%s must be a string or an array of content blocks")
		}
		c.inRole(p, typ, role, RoleUser)
	case BlockThinking:
		if !thinking.Exists() {
			c.AddAt(p, "%s.thinking is required")
		} else {
			c.Str(p.At("thinking"), thinking, false)
		}
		c.Str(p.At("signature"), signature, false)
		c.inRole(p, typ, role, RoleAssistant)
	case BlockRedactedThinking:
		c.Str(p.At("data"), data, true)
		c.inRole(p, typ, role, RoleAssistant)
	}
}

// resultBlock checks one block of a tool_result's content.
func (c *checker) resultBlock(p check.Path, b gjson.Result) {
	if !b.IsObject() {
		c.AddAt(p, "%s must be a content block object")
		return
	}
	var t, txt, source gjson.Result
	check.Lookup(b, field("type", &t), field("text", &txt), field("source", &source))
	if !c.OneOf(p.At("type"), t, true, BlockText, BlockImage, BlockDocument, BlockSearchResult) {
		return
	}
	switch check.Unquote(t) {
	case BlockText:
		if !txt.Exists() {
			c.AddAt(p, "%s.text is required")
		} else {
			c.Str(p.At("text"), txt, false)
		}
	case BlockImage:
		if q := p.At("source"); c.Obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceURL, SourceFile)
		}
	case BlockDocument:
		if q := p.At("source"); c.Obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceText, SourceContent, SourceURL, SourceFile)
		}
	}
}

func (c *checker) inRole(p check.Path, typ, role, want string) {
	if role != "" && role != want {
		c.AddAt(p, "%s: %s blocks belong in %s messages", typ, want)
	}
}

func (c *checker) source(p check.Path, s gjson.Result, types ...string) {
	var typ, mediaType, data, url, fileID, content gjson.Result
	check.Lookup(s, field("type", &typ), field("media_type", &mediaType), field("data", &data),
		field("url", &url), field("file_id", &fileID), field("content", &content))
	if !c.OneOf(p.At("type"), typ, true, types...) {
		return
	}
	switch check.Unquote(typ) {
	case SourceBase64, SourceText:
		c.Str(p.At("media_type"), mediaType, true)
		c.Str(p.At("data"), data, true)
	case SourceURL:
		c.Str(p.At("url"), url, true)
	case SourceFile:
		c.Str(p.At("file_id"), fileID, true)
	case SourceContent:
		if content.Type != gjson.String {
			c.Array(p.At("content"), content, true)
		}
	}
}

// cacheControl checks the cache_control v of the block or tool at p.
func (c *checker) cacheControl(p check.Path, v gjson.Result) {
	if q := p.At("cache_control"); v.Exists() && v.Type != gjson.Null && c.Obj(q, v, false) {
		c.OneOf(q.At("type"), check.Get(v, "type"), true, "ephemeral")
	}
}

func (c *checker) tools(v gjson.Result) {
	p := named("tools")
	if !c.Array(p, v, false) {
		return
	}
	for i, t := range check.Node(v).Elems {
		q := p.Index(i)
		if !t.IsObject() {
			c.AddAt(q, "%s must be an object")
			continue
		}
		var name, description, cacheControl, typ, inputSchema gjson.Result
		check.Lookup(t, field("name", &name), field("description", &description), field("cache_control", &cacheControl),
			field("type", &typ), field("input_schema", &inputSchema))
		c.Str(q.At("name"), name, true)
		c.Str(q.At("description"), description, false)
		c.cacheControl(q, cacheControl)
		if typ.Exists() && typ.Type != gjson.Null && !c.Str(q.At("type"), typ, true) {
			continue
		}
		if s := check.Unquote(typ); s == "" || s == "custom" {
			if r := q.At("input_schema"); c.Obj(r, inputSchema, true) {
				if st := check.Get(inputSchema, "type"); st.Exists() && check.Unquote(st) != "object" {
					c.AddAt(q, "%s.input_schema.type must be object")
				}
			}
		}
	}
}
