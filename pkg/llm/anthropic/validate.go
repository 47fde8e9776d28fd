package anthropic

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
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
	root, ok := c.object(body)
	if !ok {
		return llm.Summary{}, c.result()
	}
	var model, maxTokens, stream, temperature, topP, topK, stopSequences, metadata, system,
		messages, tools, toolChoice, thinking gjson.Result
	lookup(root, field{"model", &model}, field{"max_tokens", &maxTokens}, field{"stream", &stream},
		field{"temperature", &temperature}, field{"top_p", &topP}, field{"top_k", &topK},
		field{"stop_sequences", &stopSequences}, field{"metadata", &metadata}, field{"system", &system},
		field{"messages", &messages}, field{"tools", &tools}, field{"tool_choice", &toolChoice},
		field{"thinking", &thinking})
	var sum llm.Summary
	if c.str(named("model"), model, true) {
		sum.Model = unquote(model)
	}
	if full {
		c.integer(named("max_tokens"), maxTokens, true, 1)
		c.boolean(named("stream"), stream)
		sum.Stream = stream.Type == gjson.True
		c.number(named("temperature"), temperature, 0, 1)
		c.number(named("top_p"), topP, 0, 1)
		c.integer(named("top_k"), topK, false, 0)
		if p := named("stop_sequences"); c.array(p, stopSequences, false) {
			for i, s := range node(stopSequences).elems {
				c.str(p.index(i), s, false)
			}
		}
		if p := named("metadata"); c.obj(p, metadata, false) {
			if u := get(metadata, "user_id"); u.Type != gjson.Null {
				c.str(p.at("user_id"), u, false)
			}
		}
	}
	c.system(system)
	c.messages(messages)
	c.tools(tools)
	if p := named("tool_choice"); c.obj(p, toolChoice, false) {
		var typ, name, disableParallel gjson.Result
		lookup(toolChoice, field{"type", &typ}, field{"name", &name}, field{"disable_parallel_tool_use", &disableParallel})
		if c.oneOf(p.at("type"), typ, true, ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone) && unquote(typ) == ToolChoiceTool {
			c.str(p.at("name"), name, true)
		}
		c.boolean(p.at("disable_parallel_tool_use"), disableParallel)
	}
	if p := named("thinking"); c.obj(p, thinking, false) {
		var typ, budget gjson.Result
		lookup(thinking, field{"type", &typ}, field{"budget_tokens", &budget})
		if c.oneOf(p.at("type"), typ, true, "enabled", "disabled", "adaptive") && unquote(typ) == "enabled" {
			c.integer(p.at("budget_tokens"), budget, true, 1024)
		}
	}
	return sum, c.result()
}

// named returns the path of the body's member name.
func named(name string) path { return path{name: name} }

func (c *checker) system(v gjson.Result) {
	switch p := named("system"); {
	case !v.Exists() || v.Type == gjson.String:
	case v.IsArray():
		for i, b := range node(v).elems {
			q := p.index(i)
			if !b.IsObject() {
				c.addAt(q, "%s must be a text block")
				continue
			}
			var typ, txt, cacheControl gjson.Result
			lookup(b, field{"type", &typ}, field{"text", &txt}, field{"cache_control", &cacheControl})
			if c.oneOf(q.at("type"), typ, true, BlockText) {
				c.str(q.at("text"), txt, false)
				if !txt.Exists() {
					c.addAt(q, "%s.text is required")
				}
			}
			c.cacheControl(q, cacheControl)
		}
	default:
		c.add("system must be a string or an array of text blocks")
	}
}

func (c *checker) messages(v gjson.Result) {
	p := named("messages")
	if !c.array(p, v, true) {
		return
	}
	n := 0
	for i, m := range node(v).elems {
		n++
		q := p.index(i)
		if !m.IsObject() {
			c.addAt(q, "%s must be an object")
			continue
		}
		var role, content gjson.Result
		lookup(m, field{"role", &role}, field{"content", &content})
		if !c.oneOf(q.at("role"), role, true, RoleUser, RoleAssistant) {
			role = gjson.Result{}
		}
		switch q := q.at("content"); {
		case !content.Exists():
			c.addAt(q, "%s is required")
		case content.Type == gjson.String:
		case content.IsArray():
			for j, b := range node(content).elems {
				c.block(q.index(j), b, unquote(role))
			}
		default:
			c.addAt(q, "%s must be a string or an array of content blocks")
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
func (c *checker) block(p path, b gjson.Result, role string) {
	if !b.IsObject() {
		c.addAt(p, "%s must be a content block object")
		return
	}
	// One pass over the block reads every member a block type checks.
	var t, cacheControl, txt, source, title, content, id, name, input, toolUseID, isError,
		thinking, signature, data gjson.Result
	lookup(b, field{"type", &t}, field{"cache_control", &cacheControl}, field{"text", &txt},
		field{"source", &source}, field{"title", &title}, field{"content", &content}, field{"id", &id},
		field{"name", &name}, field{"input", &input}, field{"tool_use_id", &toolUseID},
		field{"is_error", &isError}, field{"thinking", &thinking}, field{"signature", &signature},
		field{"data", &data})
	if !c.str(p.at("type"), t, true) {
		return
	}
	typ := unquote(t)
	if !isMessageBlockType(typ) {
		c.addAt(p, "%s.type must be one of %s", messageBlockTypes)
		return
	}
	c.cacheControl(p, cacheControl)
	switch typ {
	case BlockText:
		if !txt.Exists() {
			c.addAt(p, "%s.text is required")
		} else {
			c.str(p.at("text"), txt, false)
		}
	case BlockImage:
		if q := p.at("source"); c.obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceURL, SourceFile)
		}
	case BlockDocument:
		if q := p.at("source"); c.obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceText, SourceContent, SourceURL, SourceFile)
		}
	case BlockSearchResult:
		c.str(p.at("source"), source, true)
		c.str(p.at("title"), title, true)
		c.array(p.at("content"), content, true)
	case BlockToolUse, BlockServerToolUse:
		c.str(p.at("id"), id, true)
		c.str(p.at("name"), name, true)
		c.obj(p.at("input"), input, true)
		c.inRole(p, typ, role, RoleAssistant)
	case BlockToolResult:
		c.str(p.at("tool_use_id"), toolUseID, true)
		c.boolean(p.at("is_error"), isError)
		switch q := p.at("content"); {
		case !content.Exists() || content.Type == gjson.String:
		case content.IsArray():
			for j, rb := range node(content).elems {
				c.resultBlock(q.index(j), rb)
			}
		default:
			c.addAt(q, "%s must be a string or an array of content blocks")
		}
		c.inRole(p, typ, role, RoleUser)
	case BlockThinking:
		if !thinking.Exists() {
			c.addAt(p, "%s.thinking is required")
		} else {
			c.str(p.at("thinking"), thinking, false)
		}
		c.str(p.at("signature"), signature, false)
		c.inRole(p, typ, role, RoleAssistant)
	case BlockRedactedThinking:
		c.str(p.at("data"), data, true)
		c.inRole(p, typ, role, RoleAssistant)
	}
}

// resultBlock checks one block of a tool_result's content.
func (c *checker) resultBlock(p path, b gjson.Result) {
	if !b.IsObject() {
		c.addAt(p, "%s must be a content block object")
		return
	}
	var t, txt, source gjson.Result
	lookup(b, field{"type", &t}, field{"text", &txt}, field{"source", &source})
	if !c.oneOf(p.at("type"), t, true, BlockText, BlockImage, BlockDocument, BlockSearchResult) {
		return
	}
	switch unquote(t) {
	case BlockText:
		if !txt.Exists() {
			c.addAt(p, "%s.text is required")
		} else {
			c.str(p.at("text"), txt, false)
		}
	case BlockImage:
		if q := p.at("source"); c.obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceURL, SourceFile)
		}
	case BlockDocument:
		if q := p.at("source"); c.obj(q, source, true) {
			c.source(q, source, SourceBase64, SourceText, SourceContent, SourceURL, SourceFile)
		}
	}
}

func (c *checker) inRole(p path, typ, role, want string) {
	if role != "" && role != want {
		c.addAt(p, "%s: %s blocks belong in %s messages", typ, want)
	}
}

func (c *checker) source(p path, s gjson.Result, types ...string) {
	var typ, mediaType, data, url, fileID, content gjson.Result
	lookup(s, field{"type", &typ}, field{"media_type", &mediaType}, field{"data", &data},
		field{"url", &url}, field{"file_id", &fileID}, field{"content", &content})
	if !c.oneOf(p.at("type"), typ, true, types...) {
		return
	}
	switch unquote(typ) {
	case SourceBase64, SourceText:
		c.str(p.at("media_type"), mediaType, true)
		c.str(p.at("data"), data, true)
	case SourceURL:
		c.str(p.at("url"), url, true)
	case SourceFile:
		c.str(p.at("file_id"), fileID, true)
	case SourceContent:
		if content.Type != gjson.String {
			c.array(p.at("content"), content, true)
		}
	}
}

// cacheControl checks the cache_control v of the block or tool at p.
func (c *checker) cacheControl(p path, v gjson.Result) {
	if q := p.at("cache_control"); v.Exists() && v.Type != gjson.Null && c.obj(q, v, false) {
		c.oneOf(q.at("type"), get(v, "type"), true, "ephemeral")
	}
}

func (c *checker) tools(v gjson.Result) {
	p := named("tools")
	if !c.array(p, v, false) {
		return
	}
	for i, t := range node(v).elems {
		q := p.index(i)
		if !t.IsObject() {
			c.addAt(q, "%s must be an object")
			continue
		}
		var name, description, cacheControl, typ, inputSchema gjson.Result
		lookup(t, field{"name", &name}, field{"description", &description}, field{"cache_control", &cacheControl},
			field{"type", &typ}, field{"input_schema", &inputSchema})
		c.str(q.at("name"), name, true)
		c.str(q.at("description"), description, false)
		c.cacheControl(q, cacheControl)
		if typ.Exists() && typ.Type != gjson.Null && !c.str(q.at("type"), typ, true) {
			continue
		}
		if s := unquote(typ); s == "" || s == "custom" {
			if r := q.at("input_schema"); c.obj(r, inputSchema, true) {
				if st := get(inputSchema, "type"); st.Exists() && unquote(st) != "object" {
					c.addAt(q, "%s.input_schema.type must be object")
				}
			}
		}
	}
}
