package openai

import (
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// ValidateChat checks a POST /v1/chat/completions body and returns what the gateway routes
// by, and every problem found (none when the request is valid).
func ValidateChat(body []byte) (llm.Summary, []string) {
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
	c.boolean("stream", top["stream"])
	sum.Stream = top["stream"].Type == gjson.True
	if v := top["stream_options"]; v.Type != gjson.Null && c.obj("stream_options", v, false) {
		c.boolean("stream_options.include_usage", v.Get("include_usage"))
	}
	c.nullable("max_tokens", top["max_tokens"], func(p string, v gjson.Result) { c.integer(p, v, false, 1) })
	c.nullable("max_completion_tokens", top["max_completion_tokens"], func(p string, v gjson.Result) { c.integer(p, v, false, 1) })
	c.nullable("temperature", top["temperature"], func(p string, v gjson.Result) { c.number(p, v, 0, 2) })
	c.nullable("top_p", top["top_p"], func(p string, v gjson.Result) { c.number(p, v, 0, 1) })
	c.nullable("n", top["n"], func(p string, v gjson.Result) { c.integer(p, v, false, 1) })
	c.nullable("presence_penalty", top["presence_penalty"], func(p string, v gjson.Result) { c.number(p, v, -2, 2) })
	c.nullable("frequency_penalty", top["frequency_penalty"], func(p string, v gjson.Result) { c.number(p, v, -2, 2) })
	c.nullable("seed", top["seed"], func(p string, v gjson.Result) { c.integer(p, v, false, -1<<53) })
	c.nullable("stop", top["stop"], func(p string, v gjson.Result) {
		if v.Type == gjson.String {
			return
		}
		if !v.IsArray() {
			c.add("stop must be a string or an array of strings")
			return
		}
		for i, s := range elems(v) {
			c.str(fmt.Sprintf("stop[%d]", i), s, false)
		}
	})
	c.nullable("user", top["user"], func(p string, v gjson.Result) { c.str(p, v, false) })
	c.nullable("reasoning_effort", top["reasoning_effort"], func(p string, v gjson.Result) { c.str(p, v, false) })
	c.nullable("parallel_tool_calls", top["parallel_tool_calls"], c.boolean)
	c.nullable("metadata", top["metadata"], func(p string, v gjson.Result) { c.obj(p, v, false) })
	c.nullable("response_format", top["response_format"], c.responseFormat)
	c.chatMessages(top["messages"])
	c.nullable("tools", top["tools"], c.chatTools)
	c.nullable("tool_choice", top["tool_choice"], c.toolChoice)
	return sum, c.result()
}

// nullable runs check on v unless v is absent or null, which OpenAI accepts for every
// optional field.
func (c *checker) nullable(p string, v gjson.Result, check func(string, gjson.Result)) {
	if v.Exists() && v.Type != gjson.Null {
		check(p, v)
	}
}

func (c *checker) chatMessages(v gjson.Result) {
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
		if !c.oneOf(p+".role", role, true, RoleSystem, RoleDeveloper, RoleUser, RoleAssistant, RoleTool, RoleFunction) {
			continue
		}
		c.nullable(p+".name", m.Get("name"), func(p string, v gjson.Result) { c.str(p, v, false) })
		content := m.Get("content")
		switch role.Str {
		case RoleSystem, RoleDeveloper:
			c.content(p+".content", content, true, PartText)
		case RoleUser:
			c.content(p+".content", content, true, PartText, PartImageURL, PartInputAudio, PartFile)
		case RoleAssistant:
			calls := m.Get("tool_calls")
			hasCalls := calls.IsArray() && calls.Get("#").Int() > 0
			c.content(p+".content", content, !hasCalls && !m.Get("function_call").Exists(), PartText, PartRefusal)
			c.nullable(p+".tool_calls", calls, c.toolCalls)
		case RoleTool:
			c.str(p+".tool_call_id", m.Get("tool_call_id"), true)
			c.content(p+".content", content, true, PartText)
		case RoleFunction:
			c.str(p+".name", m.Get("name"), true)
			c.content(p+".content", content, false, PartText)
		}
	}
	if n == 0 {
		c.add("messages must not be empty")
	}
}

// content checks a message's content: a string, or an array of parts of the given types.
func (c *checker) content(p string, v gjson.Result, required bool, partTypes ...string) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		if required {
			c.add("%s is required", p)
		}
	case v.Type == gjson.String:
	case v.IsArray():
		for j, part := range elems(v) {
			c.part(fmt.Sprintf("%s[%d]", p, j), part, partTypes)
		}
	default:
		c.add("%s must be a string or an array of content parts", p)
	}
}

func (c *checker) part(p string, part gjson.Result, types []string) {
	if !part.IsObject() {
		c.add("%s must be a content part object", p)
		return
	}
	t := part.Get("type")
	if !c.oneOf(p+".type", t, true, types...) {
		return
	}
	switch t.Str {
	case PartText:
		if !part.Get("text").Exists() {
			c.add("%s.text is required", p)
		} else {
			c.str(p+".text", part.Get("text"), false)
		}
	case PartRefusal:
		c.str(p+".refusal", part.Get("refusal"), true)
	case PartImageURL:
		img := part.Get("image_url")
		if img.Type == gjson.String { // accepted by several OpenAI-compatible servers
			return
		}
		if c.obj(p+".image_url", img, true) {
			c.str(p+".image_url.url", img.Get("url"), true)
			c.nullable(p+".image_url.detail", img.Get("detail"), func(q string, v gjson.Result) { c.oneOf(q, v, false, "auto", "low", "high") })
		}
	case PartInputAudio:
		if a := part.Get("input_audio"); c.obj(p+".input_audio", a, true) {
			c.str(p+".input_audio.data", a.Get("data"), true)
			c.str(p+".input_audio.format", a.Get("format"), true)
		}
	case PartFile:
		if f := part.Get("file"); c.obj(p+".file", f, true) && !f.Get("file_data").Exists() && !f.Get("file_id").Exists() {
			c.add("%s.file needs file_data or file_id", p)
		}
	}
}

func (c *checker) toolCalls(p string, v gjson.Result) {
	if !c.array(p, v, false) {
		return
	}
	for i, tc := range elems(v) {
		q := fmt.Sprintf("%s[%d]", p, i)
		if !tc.IsObject() {
			c.add("%s must be an object", q)
			continue
		}
		c.str(q+".id", tc.Get("id"), true)
		typ := tc.Get("type")
		if typ.Exists() && !c.oneOf(q+".type", typ, false, "function", "custom") {
			continue
		}
		if typ.Str == "custom" {
			c.obj(q+".custom", tc.Get("custom"), true)
			continue
		}
		if f := tc.Get("function"); c.obj(q+".function", f, true) {
			c.str(q+".function.name", f.Get("name"), true)
			c.str(q+".function.arguments", f.Get("arguments"), false)
		}
	}
}

func (c *checker) chatTools(p string, v gjson.Result) {
	if !c.array(p, v, false) {
		return
	}
	for i, t := range elems(v) {
		q := fmt.Sprintf("%s[%d]", p, i)
		if !t.IsObject() {
			c.add("%s must be an object", q)
			continue
		}
		if !c.oneOf(q+".type", t.Get("type"), true, "function", "custom") {
			continue
		}
		if t.Get("type").Str == "custom" {
			if ct := t.Get("custom"); c.obj(q+".custom", ct, true) {
				c.str(q+".custom.name", ct.Get("name"), true)
			}
			continue
		}
		if f := t.Get("function"); c.obj(q+".function", f, true) {
			c.str(q+".function.name", f.Get("name"), true)
			c.nullable(q+".function.description", f.Get("description"), func(p string, v gjson.Result) { c.str(p, v, false) })
			c.nullable(q+".function.parameters", f.Get("parameters"), func(p string, v gjson.Result) { c.obj(p, v, false) })
			c.nullable(q+".function.strict", f.Get("strict"), c.boolean)
		}
	}
}

func (c *checker) toolChoice(p string, v gjson.Result) {
	switch {
	case v.Type == gjson.String:
		c.oneOf(p, v, false, ToolChoiceNone, ToolChoiceAuto, ToolChoiceRequired)
	case v.IsObject():
		if !c.oneOf(p+".type", v.Get("type"), true, "function", "allowed_tools", "custom") {
			return
		}
		switch v.Get("type").Str {
		case "function":
			if f := v.Get("function"); c.obj(p+".function", f, true) {
				c.str(p+".function.name", f.Get("name"), true)
			}
		case "allowed_tools":
			c.obj(p+".allowed_tools", v.Get("allowed_tools"), true)
		case "custom":
			if f := v.Get("custom"); c.obj(p+".custom", f, true) {
				c.str(p+".custom.name", f.Get("name"), true)
			}
		}
	default:
		c.add("%s must be a string or an object", p)
	}
}

func (c *checker) responseFormat(p string, v gjson.Result) {
	if !c.obj(p, v, false) {
		return
	}
	if !c.oneOf(p+".type", v.Get("type"), true, "text", "json_object", "json_schema") {
		return
	}
	if v.Get("type").Str == "json_schema" {
		if s := v.Get("json_schema"); c.obj(p+".json_schema", s, true) {
			c.str(p+".json_schema.name", s.Get("name"), true)
			c.nullable(p+".json_schema.schema", s.Get("schema"), func(p string, v gjson.Result) { c.obj(p, v, false) })
		}
	}
}

// ValidateEmbeddings checks a POST /v1/embeddings body.
func ValidateEmbeddings(body []byte) (llm.Summary, []string) {
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
	c.embeddingsInput(top["input"])
	c.nullable("encoding_format", top["encoding_format"], func(p string, v gjson.Result) { c.oneOf(p, v, false, "float", "base64") })
	c.nullable("dimensions", top["dimensions"], func(p string, v gjson.Result) { c.integer(p, v, false, 1) })
	c.nullable("user", top["user"], func(p string, v gjson.Result) { c.str(p, v, false) })
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
		if v.Str == "" {
			c.add("input must not be empty")
		}
		return
	case !v.IsArray():
		c.add(want)
		return
	}
	items := v.Array()
	if len(items) == 0 {
		c.add("input must not be empty")
		return
	}
	switch first := items[0]; {
	case first.Type == gjson.String:
		for i, s := range items {
			if s.Type != gjson.String {
				c.add("input[%d] must be a string like the others", i)
			} else if s.Str == "" {
				c.add("input[%d] must not be empty", i)
			}
		}
	case first.Type == gjson.Number:
		for i, n := range items {
			c.tokenID(fmt.Sprintf("input[%d]", i), n)
		}
	case first.IsArray():
		for i, arr := range items {
			p := fmt.Sprintf("input[%d]", i)
			if !arr.IsArray() {
				c.add("%s must be an array of token ids like the others", p)
				continue
			}
			ids := arr.Array()
			if len(ids) == 0 {
				c.add("%s must not be empty", p)
			}
			for j, n := range ids {
				c.tokenID(fmt.Sprintf("%s[%d]", p, j), n)
			}
		}
	default:
		c.add(want)
	}
}

func (c *checker) tokenID(p string, v gjson.Result) {
	if v.Type != gjson.Number {
		c.add("%s must be a token id", p)
		return
	}
	c.integer(p, v, false, 0)
}
