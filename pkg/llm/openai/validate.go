package openai

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/internal/check"
)

// ValidateChat checks a POST /v1/chat/completions body and returns what the gateway routes
// by, and every problem found (none when the request is valid). The summary shares memory
// with body, which the caller must not modify while it uses the summary.
func ValidateChat(body []byte) (llm.Summary, []string) {
	var c checker
	root, ok := c.Object(body)
	if !ok {
		return llm.Summary{}, c.Result()
	}
	var model, stream, streamOptions, maxTokens, maxCompletionTokens, temperature, topP, n,
		presencePenalty, frequencyPenalty, seed, stop, user, reasoningEffort, parallelToolCalls,
		metadata, responseFormat, messages, tools, toolChoice gjson.Result
	check.Lookup(root, field("model", &model), field("stream", &stream), field("stream_options", &streamOptions),
		field("max_tokens", &maxTokens), field("max_completion_tokens", &maxCompletionTokens),
		field("temperature", &temperature), field("top_p", &topP), field("n", &n),
		field("presence_penalty", &presencePenalty), field("frequency_penalty", &frequencyPenalty),
		field("seed", &seed), field("stop", &stop), field("user", &user), field("reasoning_effort", &reasoningEffort),
		field("parallel_tool_calls", &parallelToolCalls), field("metadata", &metadata),
		field("response_format", &responseFormat), field("messages", &messages), field("tools", &tools),
		field("tool_choice", &toolChoice))
	var sum llm.Summary
	if c.Str(named("model"), model, true) {
		sum.Model = check.Unquote(model)
	}
	c.Boolean(named("stream"), stream)
	sum.Stream = stream.Type == gjson.True
	if p := named("stream_options"); c.Obj(p, nonNull(streamOptions), false) {
		c.Boolean(p.At("include_usage"), check.Get(streamOptions, "include_usage"))
	}
	c.Integer(named("max_tokens"), nonNull(maxTokens), false, 1)
	c.Integer(named("max_completion_tokens"), nonNull(maxCompletionTokens), false, 1)
	c.Number(named("temperature"), nonNull(temperature), 0, 2)
	c.Number(named("top_p"), nonNull(topP), 0, 1)
	c.Integer(named("n"), nonNull(n), false, 1)
	c.Number(named("presence_penalty"), nonNull(presencePenalty), -2, 2)
	c.Number(named("frequency_penalty"), nonNull(frequencyPenalty), -2, 2)
	c.Integer(named("seed"), nonNull(seed), false, -1<<53)
	switch p := named("stop"); {
	case !given(stop) || stop.Type == gjson.String:
	case !stop.IsArray():
		c.Add("stop must be a string or an array of strings")
	default:
		for i, s := range check.Node(stop).Elems {
			c.Str(p.Index(i), s, false)
		}
	}
	c.Str(named("user"), nonNull(user), false)
	c.Str(named("reasoning_effort"), nonNull(reasoningEffort), false)
	c.Boolean(named("parallel_tool_calls"), nonNull(parallelToolCalls))
	c.Obj(named("metadata"), nonNull(metadata), false)
	c.responseFormat(named("response_format"), nonNull(responseFormat))
	c.chatMessages(messages)
	c.chatTools(named("tools"), nonNull(tools))
	if given(toolChoice) {
		c.toolChoice(named("tool_choice"), toolChoice)
	}
	return sum, c.Result()
}

// named returns the path of the body's member name.
func named(name string) check.Path { return check.Named(name) }

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
		var role, name, content, toolCalls, functionCall, toolCallID gjson.Result
		check.Lookup(m, field("role", &role), field("name", &name), field("content", &content),
			field("tool_calls", &toolCalls), field("function_call", &functionCall), field("tool_call_id", &toolCallID))
		if !c.Str(q.At("role"), role, true) {
			continue
		}
		c.Str(q.At("name"), nonNull(name), false)
		switch check.Unquote(role) {
		case RoleAssistant:
			hasCalls := toolCalls.IsArray() && !check.Node(toolCalls).Empty()
			c.content(q.At("content"), content, !hasCalls && !functionCall.Exists())
			c.toolCalls(q.At("tool_calls"), nonNull(toolCalls))
		case RoleTool:
			c.Str(q.At("tool_call_id"), toolCallID, true)
			c.content(q.At("content"), content, true)
		case RoleSystem, RoleDeveloper, RoleUser:
			c.content(q.At("content"), content, true)
		default: // a role lynkr does not know: what the conversion reads of it
			c.content(q.At("content"), content, false)
		}
	}
	if n == 0 {
		c.Add("messages must not be empty")
	}
}

// content checks a message's content: a string, or an array of parts.
func (c *checker) content(p check.Path, v gjson.Result, required bool) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		if required {
			c.AddAt(p, "%s is required")
		}
	case v.Type == gjson.String:
	case v.IsArray():
		for j, part := range check.Node(v).Elems {
			c.part(p.Index(j), part)
		}
	default:
		c.AddAt(p, "%s must be a string or an array of content parts")
	}
}

// part checks a content part: an object with a type, and, for the types lynkr converts, the
// members it reads. Parts of other types are not looked into.
func (c *checker) part(p check.Path, part gjson.Result) {
	if !part.IsObject() {
		c.AddAt(p, "%s must be a content part object")
		return
	}
	t := check.Get(part, "type")
	if !c.Str(p.At("type"), t, true) {
		return
	}
	switch check.Unquote(t) {
	case PartText:
		if s := check.Get(part, "text"); !s.Exists() {
			c.AddAt(p, "%s.text is required")
		} else {
			c.Str(p.At("text"), s, false)
		}
	case PartRefusal:
		c.Str(p.At("refusal"), check.Get(part, "refusal"), true)
	case PartImageURL:
		img := check.Get(part, "image_url")
		if img.Type == gjson.String { // accepted by several OpenAI-compatible servers
			return
		}
		if q := p.At("image_url"); c.Obj(q, img, true) {
			var url, detail gjson.Result
			check.Lookup(img, field("url", &url), field("detail", &detail))
			c.Str(q.At("url"), url, true)
			c.Str(q.At("detail"), nonNull(detail), false)
		}
	case PartInputAudio:
		if a, q := check.Get(part, "input_audio"), p.At("input_audio"); c.Obj(q, a, true) {
			var data, format gjson.Result
			check.Lookup(a, field("data", &data), field("format", &format))
			c.Str(q.At("data"), data, true)
			c.Str(q.At("format"), format, true)
		}
	case PartFile:
		if f := check.Get(part, "file"); c.Obj(p.At("file"), f, true) {
			var data, id gjson.Result
			check.Lookup(f, field("file_data", &data), field("file_id", &id))
			if !data.Exists() && !id.Exists() {
				c.AddAt(p, "%s.file needs file_data or file_id")
			}
		}
	}
}

func (c *checker) toolCalls(p check.Path, v gjson.Result) {
	if !c.Array(p, v, false) {
		return
	}
	for i, tc := range check.Node(v).Elems {
		q := p.Index(i)
		if !tc.IsObject() {
			c.AddAt(q, "%s must be an object")
			continue
		}
		var id, typ, custom, function gjson.Result
		check.Lookup(tc, field("id", &id), field("type", &typ), field("custom", &custom), field("function", &function))
		c.Str(q.At("id"), id, true)
		if !c.Str(q.At("type"), nonNull(typ), false) {
			continue
		}
		switch check.Unquote(typ) {
		case "", "function":
		case "custom":
			c.Obj(q.At("custom"), custom, true)
			continue
		default:
			continue
		}
		if f := q.At("function"); c.Obj(f, function, true) {
			var name, arguments gjson.Result
			check.Lookup(function, field("name", &name), field("arguments", &arguments))
			c.Str(f.At("name"), name, true)
			c.Str(f.At("arguments"), arguments, false)
		}
	}
}

func (c *checker) chatTools(p check.Path, v gjson.Result) {
	if !c.Array(p, v, false) {
		return
	}
	for i, t := range check.Node(v).Elems {
		q := p.Index(i)
		if !t.IsObject() {
			c.AddAt(q, "%s must be an object")
			continue
		}
		var typ, custom, function gjson.Result
		check.Lookup(t, field("type", &typ), field("custom", &custom), field("function", &function))
		if !c.Str(q.At("type"), typ, true) {
			continue
		}
		switch check.Unquote(typ) {
		case "function":
		case "custom":
			if ct := q.At("custom"); c.Obj(ct, custom, true) {
				c.Str(ct.At("name"), check.Get(custom, "name"), true)
			}
			continue
		default: // a tool type lynkr does not know: passed on, or dropped by a conversion
			continue
		}
		if f := q.At("function"); c.Obj(f, function, true) {
			var name, description, parameters, strict gjson.Result
			check.Lookup(function, field("name", &name), field("description", &description),
				field("parameters", &parameters), field("strict", &strict))
			c.Str(f.At("name"), name, true)
			c.Str(f.At("description"), nonNull(description), false)
			c.Obj(f.At("parameters"), nonNull(parameters), false)
			c.Boolean(f.At("strict"), nonNull(strict))
		}
	}
}

func (c *checker) toolChoice(p check.Path, v gjson.Result) {
	switch {
	case v.Type == gjson.String:
	case v.IsObject():
		var typ, function, allowedTools, custom gjson.Result
		check.Lookup(v, field("type", &typ), field("function", &function), field("allowed_tools", &allowedTools), field("custom", &custom))
		if !c.Str(p.At("type"), typ, true) {
			return
		}
		switch check.Unquote(typ) {
		case "function":
			if f := p.At("function"); c.Obj(f, function, true) {
				c.Str(f.At("name"), check.Get(function, "name"), true)
			}
		case "allowed_tools":
			c.Obj(p.At("allowed_tools"), allowedTools, true)
		case "custom":
			if f := p.At("custom"); c.Obj(f, custom, true) {
				c.Str(f.At("name"), check.Get(custom, "name"), true)
			}
		}
	default:
		c.AddAt(p, "%s must be a string or an object")
	}
}

func (c *checker) responseFormat(p check.Path, v gjson.Result) {
	if !c.Obj(p, v, false) {
		return
	}
	var typ, jsonSchema gjson.Result
	check.Lookup(v, field("type", &typ), field("json_schema", &jsonSchema))
	if !c.Str(p.At("type"), typ, true) {
		return
	}
	if check.Unquote(typ) == "json_schema" {
		if s := p.At("json_schema"); c.Obj(s, jsonSchema, true) {
			var name, schema gjson.Result
			check.Lookup(jsonSchema, field("name", &name), field("schema", &schema))
			c.Str(s.At("name"), name, true)
			c.Obj(s.At("schema"), nonNull(schema), false)
		}
	}
}

// ValidateEmbeddings checks a POST /v1/embeddings body. The summary shares memory with body,
// which the caller must not modify while it uses the summary.
func ValidateEmbeddings(body []byte) (llm.Summary, []string) {
	var c checker
	root, ok := c.Object(body)
	if !ok {
		return llm.Summary{}, c.Result()
	}
	var model, input, encodingFormat, dimensions, user gjson.Result
	check.Lookup(root, field("model", &model), field("input", &input), field("encoding_format", &encodingFormat),
		field("dimensions", &dimensions), field("user", &user))
	var sum llm.Summary
	if c.Str(named("model"), model, true) {
		sum.Model = check.Unquote(model)
	}
	c.embeddingsInput(input)
	c.OneOf(named("encoding_format"), nonNull(encodingFormat), false, "float", "base64")
	c.Integer(named("dimensions"), nonNull(dimensions), false, 1)
	c.Str(named("user"), nonNull(user), false)
	return sum, c.Result()
}

// embeddingsInput checks input: a string, an array of strings, an array of token ids, or an
// array of arrays of token ids, never empty.
func (c *checker) embeddingsInput(v gjson.Result) {
	const want = "input must be a string, an array of strings, an array of token ids or an array of arrays of token ids"
	switch {
	case !v.Exists():
		c.Add("input is required")
		return
	case v.Type == gjson.String:
		if v.Raw == `""` {
			c.Add("input must not be empty")
		}
		return
	case !v.IsArray():
		c.Add(want)
		return
	}
	var first gjson.Result
	for _, e := range check.Node(v).Elems {
		first = e
		break
	}
	if !first.Exists() {
		c.Add("input must not be empty")
		return
	}
	p := named("input")
	switch {
	case first.Type == gjson.String:
		for i, s := range check.Node(v).Elems {
			if s.Type != gjson.String {
				c.Add("input[%d] must be a string like the others", i)
			} else if s.Raw == `""` {
				c.Add("input[%d] must not be empty", i)
			}
		}
	case first.Type == gjson.Number:
		for i, n := range check.Node(v).Elems {
			c.tokenID(p.Index(i), n)
		}
	case first.IsArray():
		for i, arr := range check.Node(v).Elems {
			q := p.Index(i)
			if !arr.IsArray() {
				c.AddAt(q, "%s must be an array of token ids like the others")
				continue
			}
			if check.Node(arr).Empty() {
				c.AddAt(q, "%s must not be empty")
			}
			for j, n := range check.Node(arr).Elems {
				c.tokenID(q.Index(j), n)
			}
		}
	default:
		c.Add(want)
	}
}

func (c *checker) tokenID(p check.Path, v gjson.Result) {
	if v.Type != gjson.Number {
		c.AddAt(p, "%s must be a token id")
		return
	}
	c.Integer(p, v, false, 0)
}
