package openai

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// ValidateChat checks a POST /v1/chat/completions body and returns what the gateway routes
// by, and every problem found (none when the request is valid). The summary shares memory
// with body, which the caller must not modify while it uses the summary.
func ValidateChat(body []byte) (llm.Summary, []string) {
	var c checker
	root, ok := c.object(body)
	if !ok {
		return llm.Summary{}, c.result()
	}
	var model, stream, streamOptions, maxTokens, maxCompletionTokens, temperature, topP, n,
		presencePenalty, frequencyPenalty, seed, stop, user, reasoningEffort, parallelToolCalls,
		metadata, responseFormat, messages, tools, toolChoice gjson.Result
	lookup(root, field{"model", &model}, field{"stream", &stream}, field{"stream_options", &streamOptions},
		field{"max_tokens", &maxTokens}, field{"max_completion_tokens", &maxCompletionTokens},
		field{"temperature", &temperature}, field{"top_p", &topP}, field{"n", &n},
		field{"presence_penalty", &presencePenalty}, field{"frequency_penalty", &frequencyPenalty},
		field{"seed", &seed}, field{"stop", &stop}, field{"user", &user}, field{"reasoning_effort", &reasoningEffort},
		field{"parallel_tool_calls", &parallelToolCalls}, field{"metadata", &metadata},
		field{"response_format", &responseFormat}, field{"messages", &messages}, field{"tools", &tools},
		field{"tool_choice", &toolChoice})
	var sum llm.Summary
	if c.str(named("model"), model, true) {
		sum.Model = unquote(model)
	}
	c.boolean(named("stream"), stream)
	sum.Stream = stream.Type == gjson.True
	if p := named("stream_options"); c.obj(p, nonNull(streamOptions), false) {
		c.boolean(p.at("include_usage"), get(streamOptions, "include_usage"))
	}
	c.integer(named("max_tokens"), nonNull(maxTokens), false, 1)
	c.integer(named("max_completion_tokens"), nonNull(maxCompletionTokens), false, 1)
	c.number(named("temperature"), nonNull(temperature), 0, 2)
	c.number(named("top_p"), nonNull(topP), 0, 1)
	c.integer(named("n"), nonNull(n), false, 1)
	c.number(named("presence_penalty"), nonNull(presencePenalty), -2, 2)
	c.number(named("frequency_penalty"), nonNull(frequencyPenalty), -2, 2)
	c.integer(named("seed"), nonNull(seed), false, -1<<53)
	switch p := named("stop"); {
	case !given(stop) || stop.Type == gjson.String:
	case !stop.IsArray():
		c.add("stop must be a string or an array of strings")
	default:
		for i, s := range node(stop).elems {
			c.str(p.index(i), s, false)
		}
	}
	c.str(named("user"), nonNull(user), false)
	c.str(named("reasoning_effort"), nonNull(reasoningEffort), false)
	c.boolean(named("parallel_tool_calls"), nonNull(parallelToolCalls))
	c.obj(named("metadata"), nonNull(metadata), false)
	c.responseFormat(named("response_format"), nonNull(responseFormat))
	c.chatMessages(messages)
	c.chatTools(named("tools"), nonNull(tools))
	if given(toolChoice) {
		c.toolChoice(named("tool_choice"), toolChoice)
	}
	return sum, c.result()
}

// named returns the path of the body's member name.
func named(name string) path { return path{name: name} }

// given reports whether v is present and not null.
func given(v gjson.Result) bool {
	return v.Exists() && v.Type != gjson.Null
}

// nonNull returns v, or an absent value when v is null: OpenAI accepts null for every
// optional field.
func nonNull(v gjson.Result) gjson.Result {
	if v.Type == gjson.Null {
		return gjson.Result{}
	}
	return v
}

func (c *checker) chatMessages(v gjson.Result) {
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
		var role, name, content, toolCalls, functionCall, toolCallID gjson.Result
		lookup(m, field{"role", &role}, field{"name", &name}, field{"content", &content},
			field{"tool_calls", &toolCalls}, field{"function_call", &functionCall}, field{"tool_call_id", &toolCallID})
		if !c.oneOf(q.at("role"), role, true, RoleSystem, RoleDeveloper, RoleUser, RoleAssistant, RoleTool, RoleFunction) {
			continue
		}
		c.str(q.at("name"), nonNull(name), false)
		switch unquote(role) {
		case RoleSystem, RoleDeveloper:
			c.content(q.at("content"), content, true, PartText)
		case RoleUser:
			c.content(q.at("content"), content, true, PartText, PartImageURL, PartInputAudio, PartFile)
		case RoleAssistant:
			hasCalls := toolCalls.IsArray() && !empty(toolCalls)
			c.content(q.at("content"), content, !hasCalls && !functionCall.Exists(), PartText, PartRefusal)
			c.toolCalls(q.at("tool_calls"), nonNull(toolCalls))
		case RoleTool:
			c.str(q.at("tool_call_id"), toolCallID, true)
			c.content(q.at("content"), content, true, PartText)
		case RoleFunction:
			c.str(q.at("name"), name, true)
			c.content(q.at("content"), content, false, PartText)
		}
	}
	if n == 0 {
		c.add("messages must not be empty")
	}
}

// empty reports whether the array v has no elements.
func empty(v gjson.Result) bool {
	s := v.Raw
	i := skipSpace(s, 0)
	if i < len(s) && s[i] == '[' {
		i = skipSpace(s, i+1)
	}
	return i >= len(s) || s[i] == ']'
}

// content checks a message's content: a string, or an array of parts of the given types.
func (c *checker) content(p path, v gjson.Result, required bool, partTypes ...string) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		if required {
			c.addAt(p, "%s is required")
		}
	case v.Type == gjson.String:
	case v.IsArray():
		for j, part := range node(v).elems {
			c.part(p.index(j), part, partTypes)
		}
	default:
		c.addAt(p, "%s must be a string or an array of content parts")
	}
}

func (c *checker) part(p path, part gjson.Result, types []string) {
	if !part.IsObject() {
		c.addAt(p, "%s must be a content part object")
		return
	}
	t := get(part, "type")
	if !c.oneOf(p.at("type"), t, true, types...) {
		return
	}
	switch unquote(t) {
	case PartText:
		if s := get(part, "text"); !s.Exists() {
			c.addAt(p, "%s.text is required")
		} else {
			c.str(p.at("text"), s, false)
		}
	case PartRefusal:
		c.str(p.at("refusal"), get(part, "refusal"), true)
	case PartImageURL:
		img := get(part, "image_url")
		if img.Type == gjson.String { // accepted by several OpenAI-compatible servers
			return
		}
		if q := p.at("image_url"); c.obj(q, img, true) {
			var url, detail gjson.Result
			lookup(img, field{"url", &url}, field{"detail", &detail})
			c.str(q.at("url"), url, true)
			c.oneOf(q.at("detail"), nonNull(detail), false, "auto", "low", "high")
		}
	case PartInputAudio:
		if a, q := get(part, "input_audio"), p.at("input_audio"); c.obj(q, a, true) {
			var data, format gjson.Result
			lookup(a, field{"data", &data}, field{"format", &format})
			c.str(q.at("data"), data, true)
			c.str(q.at("format"), format, true)
		}
	case PartFile:
		if f := get(part, "file"); c.obj(p.at("file"), f, true) {
			var data, id gjson.Result
			lookup(f, field{"file_data", &data}, field{"file_id", &id})
			if !data.Exists() && !id.Exists() {
				c.addAt(p, "%s.file needs file_data or file_id")
			}
		}
	}
}

func (c *checker) toolCalls(p path, v gjson.Result) {
	if !c.array(p, v, false) {
		return
	}
	for i, tc := range node(v).elems {
		q := p.index(i)
		if !tc.IsObject() {
			c.addAt(q, "%s must be an object")
			continue
		}
		var id, typ, custom, function gjson.Result
		lookup(tc, field{"id", &id}, field{"type", &typ}, field{"custom", &custom}, field{"function", &function})
		c.str(q.at("id"), id, true)
		if typ.Exists() && !c.oneOf(q.at("type"), typ, false, "function", "custom") {
			continue
		}
		if unquote(typ) == "custom" {
			c.obj(q.at("custom"), custom, true)
			continue
		}
		if f := q.at("function"); c.obj(f, function, true) {
			var name, arguments gjson.Result
			lookup(function, field{"name", &name}, field{"arguments", &arguments})
			c.str(f.at("name"), name, true)
			c.str(f.at("arguments"), arguments, false)
		}
	}
}

func (c *checker) chatTools(p path, v gjson.Result) {
	if !c.array(p, v, false) {
		return
	}
	for i, t := range node(v).elems {
		q := p.index(i)
		if !t.IsObject() {
			c.addAt(q, "%s must be an object")
			continue
		}
		var typ, custom, function gjson.Result
		lookup(t, field{"type", &typ}, field{"custom", &custom}, field{"function", &function})
		if !c.oneOf(q.at("type"), typ, true, "function", "custom") {
			continue
		}
		if unquote(typ) == "custom" {
			if ct := q.at("custom"); c.obj(ct, custom, true) {
				c.str(ct.at("name"), get(custom, "name"), true)
			}
			continue
		}
		if f := q.at("function"); c.obj(f, function, true) {
			var name, description, parameters, strict gjson.Result
			lookup(function, field{"name", &name}, field{"description", &description},
				field{"parameters", &parameters}, field{"strict", &strict})
			c.str(f.at("name"), name, true)
			c.str(f.at("description"), nonNull(description), false)
			c.obj(f.at("parameters"), nonNull(parameters), false)
			c.boolean(f.at("strict"), nonNull(strict))
		}
	}
}

func (c *checker) toolChoice(p path, v gjson.Result) {
	switch {
	case v.Type == gjson.String:
		c.oneOf(p, v, false, ToolChoiceNone, ToolChoiceAuto, ToolChoiceRequired)
	case v.IsObject():
		var typ, function, allowedTools, custom gjson.Result
		lookup(v, field{"type", &typ}, field{"function", &function}, field{"allowed_tools", &allowedTools}, field{"custom", &custom})
		if !c.oneOf(p.at("type"), typ, true, "function", "allowed_tools", "custom") {
			return
		}
		switch unquote(typ) {
		case "function":
			if f := p.at("function"); c.obj(f, function, true) {
				c.str(f.at("name"), get(function, "name"), true)
			}
		case "allowed_tools":
			c.obj(p.at("allowed_tools"), allowedTools, true)
		case "custom":
			if f := p.at("custom"); c.obj(f, custom, true) {
				c.str(f.at("name"), get(custom, "name"), true)
			}
		}
	default:
		c.addAt(p, "%s must be a string or an object")
	}
}

func (c *checker) responseFormat(p path, v gjson.Result) {
	if !c.obj(p, v, false) {
		return
	}
	var typ, jsonSchema gjson.Result
	lookup(v, field{"type", &typ}, field{"json_schema", &jsonSchema})
	if !c.oneOf(p.at("type"), typ, true, "text", "json_object", "json_schema") {
		return
	}
	if unquote(typ) == "json_schema" {
		if s := p.at("json_schema"); c.obj(s, jsonSchema, true) {
			var name, schema gjson.Result
			lookup(jsonSchema, field{"name", &name}, field{"schema", &schema})
			c.str(s.at("name"), name, true)
			c.obj(s.at("schema"), nonNull(schema), false)
		}
	}
}

// ValidateEmbeddings checks a POST /v1/embeddings body. The summary shares memory with body,
// which the caller must not modify while it uses the summary.
func ValidateEmbeddings(body []byte) (llm.Summary, []string) {
	var c checker
	root, ok := c.object(body)
	if !ok {
		return llm.Summary{}, c.result()
	}
	var model, input, encodingFormat, dimensions, user gjson.Result
	lookup(root, field{"model", &model}, field{"input", &input}, field{"encoding_format", &encodingFormat},
		field{"dimensions", &dimensions}, field{"user", &user})
	var sum llm.Summary
	if c.str(named("model"), model, true) {
		sum.Model = unquote(model)
	}
	c.embeddingsInput(input)
	c.oneOf(named("encoding_format"), nonNull(encodingFormat), false, "float", "base64")
	c.integer(named("dimensions"), nonNull(dimensions), false, 1)
	c.str(named("user"), nonNull(user), false)
	return sum, c.result()
}

// embeddingsInput checks input: a string, an array of strings, an array of token ids, or an
// array of arrays of token ids, never empty.
func (c *checker) embeddingsInput(v gjson.Result) {
	const want = "input must be a string, an array of strings, an array of token ids or an array of arrays of token ids"
	switch {
	case !v.Exists():
		c.add("input is required")
		return
	case v.Type == gjson.String:
		if v.Raw == `""` {
			c.add("input must not be empty")
		}
		return
	case !v.IsArray():
		c.add(want)
		return
	}
	var first gjson.Result
	for _, e := range node(v).elems {
		first = e
		break
	}
	if !first.Exists() {
		c.add("input must not be empty")
		return
	}
	p := named("input")
	switch {
	case first.Type == gjson.String:
		for i, s := range node(v).elems {
			if s.Type != gjson.String {
				c.add("input[%d] must be a string like the others", i)
			} else if s.Raw == `""` {
				c.add("input[%d] must not be empty", i)
			}
		}
	case first.Type == gjson.Number:
		for i, n := range node(v).elems {
			c.tokenID(p.index(i), n)
		}
	case first.IsArray():
		for i, arr := range node(v).elems {
			q := p.index(i)
			if !arr.IsArray() {
				c.addAt(q, "%s must be an array of token ids like the others")
				continue
			}
			if empty(arr) {
				c.addAt(q, "%s must not be empty")
			}
			for j, n := range node(arr).elems {
				c.tokenID(q.index(j), n)
			}
		}
	default:
		c.add(want)
	}
}

func (c *checker) tokenID(p path, v gjson.Result) {
	if v.Type != gjson.Number {
		c.addAt(p, "%s must be a token id")
		return
	}
	c.integer(p, v, false, 0)
}
