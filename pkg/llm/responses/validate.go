package responses

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// maxProblems bounds the list Validate returns, so a hostile request cannot make the answer
// larger than itself many times over.
const maxProblems = 100

// Validate checks a Responses request and lists every problem it finds, in words a client can
// act on; a request with no problems converts. The summary is filled in as far as the body
// allows, problems or not. It never panics.
//
// Besides the types and values of the members lynkr reads, it refuses what needs stored
// responses (previous_response_id, conversation, background, item_reference) and what only
// OpenAI can run (hosted tools). It also refuses duplicate members and members that differ
// from a known name only in case, which JSON decoders disagree on.
func Validate(body []byte) (llm.Summary, []string) {
	var sum llm.Summary
	if !gjson.ValidBytes(body) {
		return sum, []string{"the body is not valid JSON"}
	}
	if !utf8.Valid(body) {
		return sum, []string{"the body is not valid UTF-8"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return sum, []string{"the body must be a JSON object"}
	}
	c := &checker{}
	m := c.object(root, "", "model", "input", "instructions", "tools", "tool_choice",
		"parallel_tool_calls", "max_output_tokens", "max_tool_calls", "temperature", "top_p",
		"top_logprobs", "stream", "store", "metadata", "previous_response_id", "reasoning", "text",
		"include", "truncation", "user", "safety_identifier", "prompt_cache_key", "service_tier",
		"conversation", "background", "prompt")

	model, ok := c.str(m, "", "model")
	sum.Model = model
	if ok && model == "" {
		c.addf("model: must not be empty")
	} else if _, present := m["model"]; !present {
		c.addf("model: is required")
	}
	sum.Stream, _ = c.boolean(m, "", "stream")

	c.input(m["input"])
	c.str(m, "", "instructions")
	names := c.tools(m["tools"])
	c.toolChoice(m["tool_choice"], names)
	c.boolean(m, "", "parallel_tool_calls")
	c.boolean(m, "", "store")
	c.integer(m, "", "max_output_tokens", 1)
	c.integer(m, "", "max_tool_calls", 0)
	c.integer(m, "", "top_logprobs", 0)
	c.number(m, "", "temperature", 0, 2)
	c.number(m, "", "top_p", 0, 1)
	for _, k := range []string{"truncation", "user", "safety_identifier", "prompt_cache_key", "service_tier"} {
		c.str(m, "", k)
	}
	c.metadata(m["metadata"])
	c.stringList(m["include"], "include")
	c.reasoning(m["reasoning"])
	c.text(m["text"])

	if id, _ := c.str(m, "", "previous_response_id"); id != "" {
		c.addf("previous_response_id: not supported: lynkr does not store responses; send the whole conversation in input (store:false)")
	}
	if v, ok := m["conversation"]; ok && v.Type != gjson.Null {
		c.addf("conversation: not supported: lynkr does not store conversations; send the whole conversation in input")
	}
	if v, ok := m["background"]; ok && v.Type == gjson.True {
		c.addf("background: not supported: lynkr does not store responses to poll later; leave background false")
	}
	if v, ok := m["prompt"]; ok && v.Type != gjson.Null {
		c.addf("prompt: stored prompt templates are not supported; send instructions and input")
	}
	return sum, c.list()
}

// checker collects problems.
type checker struct {
	problems []string
	dropped  int
}

func (c *checker) addf(format string, args ...any) {
	if len(c.problems) >= maxProblems {
		c.dropped++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) list() []string {
	if c.dropped > 0 {
		return append(c.problems, fmt.Sprintf("and %d more problems", c.dropped))
	}
	return c.problems
}

// object returns the members of the object v by name. It reports a member given twice and a
// member whose name differs from a known one only in case: Go's decoder matches names without
// regard to case and keeps the last of duplicates, gjson keeps the first.
func (c *checker) object(v gjson.Result, path string, known ...string) map[string]gjson.Result {
	m := make(map[string]gjson.Result, len(known))
	v.ForEach(func(k, val gjson.Result) bool {
		name := k.String()
		if _, dup := m[name]; dup {
			c.addf("%s: member %q is given twice", orBody(path), name)
		}
		for _, kn := range known {
			if name != kn && strings.EqualFold(name, kn) {
				c.addf("%s: member %q is not known; did you mean %q?", orBody(path), name, kn)
			}
		}
		m[name] = val
		return true
	})
	return m
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str checks that member key of m, when present and not null, is a string, and returns it.
// ok reports a string.
func (c *checker) str(m map[string]gjson.Result, path, key string) (string, bool) {
	v, present := m[key]
	if !present || v.Type == gjson.Null {
		return "", false
	}
	if v.Type != gjson.String {
		c.addf("%s: must be a string, not %s", join(path, key), kind(v))
		return "", false
	}
	return v.String(), true
}

func (c *checker) boolean(m map[string]gjson.Result, path, key string) (bool, bool) {
	v, present := m[key]
	if !present || v.Type == gjson.Null {
		return false, false
	}
	if !v.IsBool() {
		c.addf("%s: must be true or false, not %s", join(path, key), kind(v))
		return false, false
	}
	return v.Bool(), true
}

func (c *checker) integer(m map[string]gjson.Result, path, key string, min int64) {
	v, present := m[key]
	if !present || v.Type == gjson.Null {
		return
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	switch {
	case v.Type != gjson.Number || err != nil:
		c.addf("%s: must be an integer, not %s", join(path, key), kind(v))
	case n < min:
		c.addf("%s: must be at least %d, not %d", join(path, key), min, n)
	}
}

func (c *checker) number(m map[string]gjson.Result, path, key string, lo, hi float64) {
	v, present := m[key]
	if !present || v.Type == gjson.Null {
		return
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	switch {
	case v.Type != gjson.Number || err != nil:
		c.addf("%s: must be a number, not %s", join(path, key), kind(v))
	case f < lo || f > hi:
		c.addf("%s: must be between %g and %g, not %g", join(path, key), lo, hi, f)
	}
}

// kind names the JSON type of v for a problem message.
func kind(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return "a string"
	case gjson.Number:
		if _, err := strconv.ParseFloat(v.Raw, 64); err != nil {
			return "a number out of range"
		}
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "an array"
	}
	return "an object"
}

func (c *checker) input(v gjson.Result) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		c.addf("input: is required")
	case v.Type == gjson.String:
		if v.String() == "" {
			c.addf("input: must not be empty")
		}
	case v.IsArray():
		items := v.Array()
		if len(items) == 0 {
			c.addf("input: must not be empty")
		}
		calls := map[string]int{} // call_id → index of its function_call, -1 once answered
		for i, it := range items {
			path := fmt.Sprintf("input[%d]", i)
			c.item(it, path)
			c.pair(it, path, i, calls)
		}
		var open []unanswered
		for id, i := range calls {
			if i >= 0 {
				open = append(open, unanswered{i, id})
			}
		}
		slices.SortFunc(open, func(a, b unanswered) int { return a.index - b.index })
		for _, u := range open {
			c.addf("input[%d]: function_call %q has no function_call_output after it; chat models need the result of every call", u.index, u.callID)
		}
	default:
		c.addf("input: must be a string or an array of items, not %s", kind(v))
	}
}

// pair checks that every function_call_output answers a function_call that came before it
// (or a custom tool call's output a custom_tool_call), as chat requires of tool messages.
func (c *checker) pair(v gjson.Result, path string, i int, calls map[string]int) {
	if !v.IsObject() {
		return
	}
	typ, id := v.Get("type"), v.Get("call_id")
	if id.Type != gjson.String || id.String() == "" {
		return
	}
	switch typ.String() {
	case ItemFunctionCall, ItemCustomToolCall:
		calls[id.String()] = i
	case ItemFunctionCallOutput, ItemCustomToolCallOutput:
		if _, ok := calls[id.String()]; !ok {
			c.addf("%s.call_id: no function_call before this output has call_id %q", path, id.String())
			return
		}
		calls[id.String()] = -1
	}
}

type unanswered struct {
	index  int
	callID string
}

func (c *checker) item(v gjson.Result, path string) {
	if !v.IsObject() {
		c.addf("%s: must be an object, not %s", path, kind(v))
		return
	}
	m := c.object(v, path, "type", "id", "status", "role", "content", "call_id", "name",
		"arguments", "input", "output", "summary", "encrypted_content")
	typ, _ := c.str(m, path, "type")
	role, hasRole := c.str(m, path, "role")
	for _, k := range []string{"id", "status", "call_id", "name", "arguments", "input", "encrypted_content"} {
		c.str(m, path, k)
	}
	if typ == "" && hasRole {
		typ = ItemMessage
	}
	switch typ {
	case ItemMessage:
		switch role {
		case RoleUser, RoleAssistant, RoleSystem, RoleDeveloper:
		case "":
			c.addf("%s.role: is required", path)
		default:
			c.addf("%s.role: must be user, assistant, system or developer, not %q", path, role)
		}
		c.content(m, path, "content", role, true)
		if v := m["content"]; role == RoleUser && v.IsArray() && len(v.Array()) == 0 {
			c.addf("%s.content: must not be empty", path)
		}
	case ItemFunctionCall:
		c.required(m, path, "call_id")
		c.required(m, path, "name")
		if v, present := m["arguments"]; !present || v.Type == gjson.Null {
			c.addf("%s.arguments: is required", path)
		}
	case ItemCustomToolCall:
		c.required(m, path, "call_id")
		c.required(m, path, "name")
		if v, present := m["input"]; !present || v.Type == gjson.Null {
			c.addf("%s.input: is required", path)
		}
	case ItemFunctionCallOutput, ItemCustomToolCallOutput:
		c.required(m, path, "call_id")
		c.content(m, path, "output", "", true)
	case ItemReasoning:
		c.parts(m, path, "summary", []string{PartSummaryText})
		c.parts(m, path, "content", []string{PartReasoningText, "text"})
	case ItemReference:
		c.addf("%s: item_reference is not supported: lynkr does not store items; send the item itself", path)
	case "":
		c.addf("%s.type: is required", path)
	default:
		c.addf("%s.type: %q items are not supported; lynkr converts message, function_call, function_call_output, custom_tool_call, custom_tool_call_output and reasoning items", path, typ)
	}
	if typ != ItemMessage && typ != ItemReasoning {
		c.nullOrString(m, path, "content")
	}
	if typ != ItemFunctionCallOutput && typ != ItemCustomToolCallOutput {
		c.nullOrString(m, path, "output")
	}
	if typ != ItemReasoning {
		c.parts(m, path, "summary", nil)
	}
}

// nullOrString checks a content-like member the item's type does not read, for the decoder's
// sake: it must still be a string, an array of parts or null.
func (c *checker) nullOrString(m map[string]gjson.Result, path, key string) {
	if v, ok := m[key]; ok && v.Type != gjson.Null && v.Type != gjson.String {
		c.parts(m, path, key, nil)
	}
}

func (c *checker) required(m map[string]gjson.Result, path, key string) {
	if s, ok := c.str(m, path, key); ok && s == "" {
		c.addf("%s: must not be empty", join(path, key))
	} else if v, present := m[key]; !present || v.Type == gjson.Null {
		c.addf("%s: is required", join(path, key))
	}
}

// content checks a message's content or a function call's output: a string or an array of
// parts, the parts allowed by role ("" for a function call's output).
func (c *checker) content(m map[string]gjson.Result, path, key, role string, required bool) {
	v, present := m[key]
	if !present || v.Type == gjson.Null {
		if required {
			c.addf("%s: is required", join(path, key))
		}
		return
	}
	if v.Type == gjson.String {
		return
	}
	var allowed []string
	switch role {
	case RoleUser, "":
		allowed = []string{PartInputText, PartOutputText, PartInputImage, PartInputFile}
	case RoleAssistant:
		allowed = []string{PartOutputText, PartInputText, PartRefusal}
	default: // system, developer
		allowed = []string{PartInputText, PartOutputText}
	}
	c.parts(m, path, key, allowed)
}

// parts checks that member key is an array of parts of the allowed types (any type when
// allowed is nil), with the members each type needs.
func (c *checker) parts(m map[string]gjson.Result, path, key string, allowed []string) {
	v, present := m[key]
	if !present || v.Type == gjson.Null {
		return
	}
	path = join(path, key)
	switch {
	case v.Type == gjson.String && key != "summary":
		return
	case !v.IsArray() && key == "summary":
		c.addf("%s: must be an array of parts, not %s", path, kind(v))
		return
	case !v.IsArray():
		c.addf("%s: must be a string or an array of parts, not %s", path, kind(v))
		return
	}
	for i, p := range v.Array() {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if !p.IsObject() {
			c.addf("%s: must be an object, not %s", pp, kind(p))
			continue
		}
		pm := c.object(p, pp, "type", "text", "annotations", "refusal", "image_url", "detail",
			"file_id", "file_data", "file_url", "filename")
		typ, _ := c.str(pm, pp, "type")
		for _, k := range []string{"text", "refusal", "image_url", "detail", "file_id", "file_data", "file_url", "filename"} {
			c.str(pm, pp, k)
		}
		if a, ok := pm["annotations"]; ok && a.Type != gjson.Null && !a.IsArray() {
			c.addf("%s.annotations: must be an array, not %s", pp, kind(a))
		}
		if allowed == nil {
			continue
		}
		if typ == "" {
			c.addf("%s.type: is required", pp)
			continue
		}
		if !contains(allowed, typ) {
			c.addf("%s.type: must be %s here, not %q", pp, strings.Join(allowed, ", "), typ)
			continue
		}
		switch typ {
		case PartInputText, PartOutputText, PartSummaryText, PartReasoningText, "text":
			if _, ok := pm["text"]; !ok {
				c.addf("%s.text: is required", pp)
			}
		case PartRefusal:
			if _, ok := pm["refusal"]; !ok {
				c.addf("%s.refusal: is required", pp)
			}
		case PartInputImage:
			url, _ := c.str(pm, pp, "image_url")
			switch {
			case url != "":
			case pm["file_id"].Exists():
				c.addf("%s.file_id: uploaded files are not supported; send the image as image_url (an https or data: URL)", pp)
			default:
				c.addf("%s.image_url: is required", pp)
			}
			if d, _ := c.str(pm, pp, "detail"); d != "" && d != "low" && d != "high" && d != "auto" {
				c.addf("%s.detail: must be low, high or auto, not %q", pp, d)
			}
		case PartInputFile:
			data, _ := c.str(pm, pp, "file_data")
			id, _ := c.str(pm, pp, "file_id")
			if url, _ := c.str(pm, pp, "file_url"); url != "" {
				c.addf("%s.file_url: file URLs are not supported; send the file as file_data", pp)
			} else if data == "" && id == "" {
				c.addf("%s: file_data or file_id is required", pp)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tools checks the tools and returns their names.
func (c *checker) tools(v gjson.Result) []string {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		c.addf("tools: must be an array, not %s", kind(v))
		return nil
	}
	var names []string
	for i, t := range v.Array() {
		names = c.tool(t, fmt.Sprintf("tools[%d]", i), names, true)
	}
	return names
}

// tool checks one tool (full, with its definition, or as allowed_tools names it) and adds its
// name to names.
func (c *checker) tool(t gjson.Result, path string, names []string, full bool) []string {
	if !t.IsObject() {
		c.addf("%s: must be an object, not %s", path, kind(t))
		return names
	}
	m := c.object(t, path, "type", "name", "description", "parameters", "strict", "format")
	typ, _ := c.str(m, path, "type")
	name, _ := c.str(m, path, "name")
	c.str(m, path, "description")
	c.boolean(m, path, "strict")
	c.customFormat(m["format"], path+".format")
	switch typ {
	case "function", "custom":
		if name == "" {
			c.addf("%s.name: is required", path)
		} else if full && contains(names, name) {
			c.addf("%s.name: %q names two tools", path, name)
		}
		if p, ok := m["parameters"]; full && ok && p.Type != gjson.Null && !p.IsObject() {
			c.addf("%s.parameters: must be a JSON Schema object, not %s", path, kind(p))
		}
		return append(names, name)
	case "":
		c.addf("%s.type: is required", path)
	default:
		c.addf("%s.type: %q tools are not supported: lynkr forwards function and custom tools, hosted tools run inside OpenAI", path, typ)
	}
	return names
}

// customFormat checks a custom tool's format.
func (c *checker) customFormat(v gjson.Result, path string) {
	if !v.Exists() || v.Type == gjson.Null {
		return
	}
	if !v.IsObject() {
		c.addf("%s: must be an object, not %s", path, kind(v))
		return
	}
	m := c.object(v, path, "type", "syntax", "definition")
	typ, _ := c.str(m, path, "type")
	syntax, _ := c.str(m, path, "syntax")
	def, _ := c.str(m, path, "definition")
	switch typ {
	case "text":
	case "grammar":
		if syntax != "lark" && syntax != "regex" {
			c.addf("%s.syntax: must be lark or regex, not %q", path, syntax)
		}
		if def == "" {
			c.addf("%s.definition: is required", path)
		}
	default:
		c.addf("%s.type: must be text or grammar, not %q", path, typ)
	}
}

func (c *checker) toolChoice(v gjson.Result, names []string) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
	case v.Type == gjson.String:
		switch s := v.String(); s {
		case "none", "auto", "required":
		default:
			c.addf("tool_choice: must be none, auto or required, not %q", s)
		}
	case v.IsObject():
		m := c.object(v, "tool_choice", "type", "name", "mode", "tools")
		typ, _ := c.str(m, "tool_choice", "type")
		name, _ := c.str(m, "tool_choice", "name")
		mode, _ := c.str(m, "tool_choice", "mode")
		switch typ {
		case "function", "custom":
			if name == "" {
				c.addf("tool_choice.name: is required")
			} else if !contains(names, name) {
				c.addf("tool_choice.name: %q is not one of the tools", name)
			}
		case "allowed_tools":
			if mode != "auto" && mode != "required" {
				c.addf("tool_choice.mode: must be auto or required, not %q", mode)
			}
			ts := m["tools"]
			if !ts.IsArray() || len(ts.Array()) == 0 {
				c.addf("tool_choice.tools: must be a non-empty array of tools")
				break
			}
			for i, t := range ts.Array() {
				var one []string
				one = c.tool(t, fmt.Sprintf("tool_choice.tools[%d]", i), one, false)
				if len(one) == 1 && one[0] != "" && !contains(names, one[0]) {
					c.addf("tool_choice.tools[%d].name: %q is not one of the tools", i, one[0])
				}
			}
		case "":
			c.addf("tool_choice.type: is required")
		default:
			c.addf("tool_choice.type: %q is not supported: lynkr forwards function and custom tools", typ)
		}
		if t, ok := m["tools"]; ok && typ != "allowed_tools" && t.Type != gjson.Null {
			if !t.IsArray() {
				c.addf("tool_choice.tools: must be an array, not %s", kind(t))
			} else {
				for i, el := range t.Array() {
					c.tool(el, fmt.Sprintf("tool_choice.tools[%d]", i), nil, false)
				}
			}
		}
	default:
		c.addf("tool_choice: must be a string or an object, not %s", kind(v))
	}
}

func (c *checker) metadata(v gjson.Result) {
	if !v.Exists() || v.Type == gjson.Null {
		return
	}
	if !v.IsObject() {
		c.addf("metadata: must be an object, not %s", kind(v))
		return
	}
	m := c.object(v, "metadata")
	for k, val := range m {
		if val.Type != gjson.String {
			c.addf("metadata.%s: must be a string, not %s", k, kind(val))
		}
	}
}

func (c *checker) stringList(v gjson.Result, path string) {
	if !v.Exists() || v.Type == gjson.Null {
		return
	}
	if !v.IsArray() {
		c.addf("%s: must be an array of strings, not %s", path, kind(v))
		return
	}
	for i, s := range v.Array() {
		if s.Type != gjson.String {
			c.addf("%s[%d]: must be a string, not %s", path, i, kind(s))
		}
	}
}

func (c *checker) reasoning(v gjson.Result) {
	if !v.Exists() || v.Type == gjson.Null {
		return
	}
	if !v.IsObject() {
		c.addf("reasoning: must be an object, not %s", kind(v))
		return
	}
	m := c.object(v, "reasoning", "effort", "summary")
	c.str(m, "reasoning", "effort")
	c.str(m, "reasoning", "summary")
}

func (c *checker) text(v gjson.Result) {
	if !v.Exists() || v.Type == gjson.Null {
		return
	}
	if !v.IsObject() {
		c.addf("text: must be an object, not %s", kind(v))
		return
	}
	m := c.object(v, "text", "format", "verbosity")
	c.str(m, "text", "verbosity")
	f, ok := m["format"]
	if !ok || f.Type == gjson.Null {
		return
	}
	if !f.IsObject() {
		c.addf("text.format: must be an object, not %s", kind(f))
		return
	}
	fm := c.object(f, "text.format", "type", "name", "description", "schema", "strict")
	typ, _ := c.str(fm, "text.format", "type")
	name, _ := c.str(fm, "text.format", "name")
	c.str(fm, "text.format", "description")
	c.boolean(fm, "text.format", "strict")
	switch typ {
	case "text", "json_object":
	case "json_schema":
		if name == "" {
			c.addf("text.format.name: is required")
		}
		if s := fm["schema"]; !s.IsObject() {
			c.addf("text.format.schema: must be a JSON Schema object")
		}
	case "":
		c.addf("text.format.type: is required")
	default:
		c.addf("text.format.type: must be text, json_object or json_schema, not %q", typ)
	}
}
