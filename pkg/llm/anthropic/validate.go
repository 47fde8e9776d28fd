package anthropic

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/internal/check"
)

// ValidateMessages checks a POST /v1/messages body and returns what the gateway routes by,
// and every problem found (none when the request is valid). The summary shares memory with
// body, which the caller must not modify while it uses the summary.
//
// It is a tolerant reader: it checks what lynkr reads to route and convert a request (the
// body is a JSON object, the model a string, the members and blocks it converts of the
// types it reads), and nothing else. A member, role, block type or tool type it does not
// know is not a problem: it reaches an Anthropic-format upstream untouched, and a conversion
// to another format maps, drops or refuses it as the conversion policy says.
func ValidateMessages(body []byte) (llm.Summary, []string) {
	return validate(body, true)
}

// ValidateCountTokens checks a POST /v1/messages/count_tokens body as ValidateMessages does.
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
		messages, tools, toolChoice, thinking, outputConfig gjson.Result
	check.Lookup(root, field("model", &model), field("max_tokens", &maxTokens), field("stream", &stream),
		field("temperature", &temperature), field("top_p", &topP), field("top_k", &topK),
		field("stop_sequences", &stopSequences), field("metadata", &metadata), field("system", &system),
		field("messages", &messages), field("tools", &tools), field("tool_choice", &toolChoice),
		field("thinking", &thinking), field("output_config", &outputConfig))
	var sum llm.Summary
	if c.Str(named("model"), model, true) {
		sum.Model = check.Unquote(model)
	}
	if full {
		c.Integer(named("max_tokens"), maxTokens, false, 1)
		c.Boolean(named("stream"), stream)
		sum.Stream = stream.Type == gjson.True
		c.Number(named("temperature"), temperature, 0, 2)
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
		if c.Str(p.At("type"), typ, true) && check.Unquote(typ) == ToolChoiceTool {
			c.Str(p.At("name"), name, true)
		}
		c.Boolean(p.At("disable_parallel_tool_use"), disableParallel)
	}
	if p := named("thinking"); c.Obj(p, thinking, false) {
		var typ, budget gjson.Result
		check.Lookup(thinking, field("type", &typ), field("budget_tokens", &budget))
		c.Str(p.At("type"), typ, true)
		c.Integer(p.At("budget_tokens"), budget, false, 1)
	}
	if p := named("output_config"); c.Obj(p, outputConfig, false) {
		var effort, format gjson.Result
		check.Lookup(outputConfig, field("effort", &effort), field("format", &format))
		c.Str(p.At("effort"), effort, false)
		if given(format) {
			c.Obj(p.At("format"), format, false)
		}
	}
	return sum, c.Result()
}

// named returns the path of the body's member name.
func named(name string) check.Path { return check.Named(name) }

// given reports whether v is present and not null.
func given(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

func (c *checker) system(v gjson.Result) {
	switch p := named("system"); {
	case !given(v) || v.Type == gjson.String:
	case v.IsArray():
		for i, b := range check.Node(v).Elems {
			c.block(p.Index(i), b)
		}
	default:
		c.Add("system must be a string or an array of content blocks")
	}
}

func (c *checker) messages(v gjson.Result) {
	p := named("messages")
	if !c.Array(p, v, true) {
		return
	}
	if check.Node(v).Empty() {
		c.Add("messages must not be empty")
		return
	}
	for i, m := range check.Node(v).Elems {
		q := p.Index(i)
		if !m.IsObject() {
			c.AddAt(q, "%s must be an object")
			continue
		}
		var role, content gjson.Result
		check.Lookup(m, field("role", &role), field("content", &content))
		c.Str(q.At("role"), role, true)
		c.content(q.At("content"), content)
	}
}

// content checks a message's or a tool result's content: a string or an array of blocks.
func (c *checker) content(p check.Path, v gjson.Result) {
	switch {
	case !given(v) || v.Type == gjson.String:
	case v.IsArray():
		for j, b := range check.Node(v).Elems {
			c.block(p.Index(j), b)
		}
	default:
		c.AddAt(p, "%s must be a string or an array of content blocks")
	}
}

// block checks one content block: an object with a type, and, for the types lynkr converts,
// the members it reads of the types it reads them as. Blocks of other types are not looked
// into.
func (c *checker) block(p check.Path, b gjson.Result) {
	if !b.IsObject() {
		c.AddAt(p, "%s must be a content block object")
		return
	}
	// One pass over the block reads every member a block type checks.
	var t, txt, source, content, id, name, input, toolUseID, isError, thinking, signature,
		data, title gjson.Result
	check.Lookup(b, field("type", &t), field("text", &txt), field("source", &source),
		field("content", &content), field("id", &id), field("name", &name), field("input", &input),
		field("tool_use_id", &toolUseID), field("is_error", &isError), field("thinking", &thinking),
		field("signature", &signature), field("data", &data), field("title", &title))
	if !c.Str(p.At("type"), t, true) {
		return
	}
	switch check.Unquote(t) {
	case BlockText:
		c.Str(p.At("text"), txt, false)
	case BlockImage, BlockDocument:
		if q := p.At("source"); c.Obj(q, source, true) {
			c.source(q, source)
		}
		if given(title) {
			c.Str(p.At("title"), title, false)
		}
	case BlockSearchResult:
		c.Str(p.At("source"), source, false)
		c.Str(p.At("title"), title, false)
		c.content(p.At("content"), content)
	case BlockToolUse:
		c.Str(p.At("id"), id, true)
		c.Str(p.At("name"), name, true)
		if given(input) {
			c.Obj(p.At("input"), input, false)
		}
	case BlockToolResult:
		c.Str(p.At("tool_use_id"), toolUseID, true)
		c.Boolean(p.At("is_error"), isError)
		c.content(p.At("content"), content)
	case BlockThinking:
		c.Str(p.At("thinking"), thinking, false)
		c.Str(p.At("signature"), signature, false)
	case BlockRedactedThinking:
		c.Str(p.At("data"), data, false)
	}
}

// source checks the members of an image's or a document's source that lynkr reads.
func (c *checker) source(p check.Path, s gjson.Result) {
	var typ, mediaType, data, url, fileID, content gjson.Result
	check.Lookup(s, field("type", &typ), field("media_type", &mediaType), field("data", &data),
		field("url", &url), field("file_id", &fileID), field("content", &content))
	c.Str(p.At("type"), typ, true)
	c.Str(p.At("media_type"), mediaType, false)
	c.Str(p.At("data"), data, false)
	c.Str(p.At("url"), url, false)
	c.Str(p.At("file_id"), fileID, false)
	c.content(p.At("content"), content)
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
		var name, description, typ, inputSchema gjson.Result
		check.Lookup(t, field("name", &name), field("description", &description),
			field("type", &typ), field("input_schema", &inputSchema))
		// A custom tool (no type, or "custom") is called by its name: Anthropic requires it, and
		// so does every format it converts to. Other types are the API's own tools.
		custom := !given(typ) || typ.Str == "custom"
		c.Str(q.At("name"), name, custom)
		c.Str(q.At("description"), description, false)
		if given(typ) {
			c.Str(q.At("type"), typ, false)
		}
		if given(inputSchema) {
			c.Obj(q.At("input_schema"), inputSchema, false)
		}
	}
}
