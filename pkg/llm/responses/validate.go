package responses

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/internal/check"
)

// maxProblems bounds the list Validate returns, so a hostile request cannot make the answer
// larger than itself many times over.
const maxProblems = 100

// Validate checks a Responses request as the gateway takes it and lists every problem it
// finds, in words a client can act on. The summary is filled in as far as the body allows,
// problems or not. It never panics.
//
// It is a tolerant reader: it checks the types of the members lynkr reads, and refuses
// duplicate members and members that differ from a known name only in case, which JSON
// decoders disagree on. Item, part, role and tool types it does not know are not problems:
// a Responses upstream takes them as they are, and a conversion follows the policy table.
// What a conversion to Chat cannot serve is Convertible's to refuse.
//
// It runs on every request the gateway accepts, so a valid body costs no allocations:
// problem paths are formatted only when a problem is found, members are read in one pass
// without a map, and strings are not unescaped unless their text is compared. The summary
// shares memory with body, which the caller must not modify while it uses the summary.
func Validate(body []byte) (llm.Summary, []string) {
	return validate(body, false)
}

// Convertible checks a Responses request as ResponsesToChatRequest takes it: what Validate
// checks, and what a chat conversation has no room for — state stored upstream
// (previous_response_id, conversation, background, prompt, item_reference), a function call
// without its output, roles chat lacks — since leaving it out would change the conversation.
func Convertible(body []byte) []string {
	_, problems := validate(body, true)
	return problems
}

func validate(body []byte, forChat bool) (llm.Summary, []string) {
	var sum llm.Summary
	if !gjson.ValidBytes(body) {
		return sum, []string{"the body is not valid JSON"}
	}
	if !utf8.Valid(body) {
		return sum, []string{"the body is not valid UTF-8"}
	}
	// Parse a view of body rather than a copy: nothing writes to body while it is checked.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		return sum, []string{"the body must be a JSON object"}
	}
	c := checker{forChat: forChat}
	var model, input, instructions, tools, toolChoice, parallelToolCalls, maxOutputTokens,
		maxToolCalls, temperature, topP, topLogprobs, stream, store, metadata, previousResponseID,
		reasoning, text, include, truncation, user, safetyIdentifier, promptCacheKey, serviceTier,
		conversation, background, prompt gjson.Result
	c.members(root, nil, field{"model", &model}, field{"input", &input}, field{"instructions", &instructions},
		field{"tools", &tools}, field{"tool_choice", &toolChoice}, field{"parallel_tool_calls", &parallelToolCalls},
		field{"max_output_tokens", &maxOutputTokens}, field{"max_tool_calls", &maxToolCalls},
		field{"temperature", &temperature}, field{"top_p", &topP}, field{"top_logprobs", &topLogprobs},
		field{"stream", &stream}, field{"store", &store}, field{"metadata", &metadata},
		field{"previous_response_id", &previousResponseID}, field{"reasoning", &reasoning}, field{"text", &text},
		field{"include", &include}, field{"truncation", &truncation}, field{"user", &user},
		field{"safety_identifier", &safetyIdentifier}, field{"prompt_cache_key", &promptCacheKey},
		field{"service_tier", &serviceTier}, field{"conversation", &conversation},
		field{"background", &background}, field{"prompt", &prompt})

	ok := c.str(nil, "model", model)
	sum.Model = check.Unquote(model)
	if ok && sum.Model == "" {
		c.addf("model: must not be empty")
	} else if !model.Exists() {
		c.addf("model: is required")
	}
	sum.Stream = c.boolean(nil, "stream", stream)

	c.input(input)
	c.str(nil, "instructions", instructions)
	var buf [16]string
	names := c.tools(tools, buf[:0])
	c.toolChoice(toolChoice, names)
	c.boolean(nil, "parallel_tool_calls", parallelToolCalls)
	c.boolean(nil, "store", store)
	c.integer(nil, "max_output_tokens", maxOutputTokens, 1)
	c.integer(nil, "max_tool_calls", maxToolCalls, 0)
	c.integer(nil, "top_logprobs", topLogprobs, 0)
	c.number(nil, "temperature", temperature, 0, 2)
	c.number(nil, "top_p", topP, 0, 1)
	c.str(nil, "truncation", truncation)
	c.str(nil, "user", user)
	c.str(nil, "safety_identifier", safetyIdentifier)
	c.str(nil, "prompt_cache_key", promptCacheKey)
	c.str(nil, "service_tier", serviceTier)
	c.metadata(metadata)
	c.stringList(include, "include")
	c.reasoning(reasoning)
	c.text(text)

	if !forChat {
		c.str(nil, "previous_response_id", previousResponseID)
		return sum, c.list()
	}
	if c.str(nil, "previous_response_id", previousResponseID) && previousResponseID.Raw != `""` {
		c.addf("previous_response_id: not supported: lynkr does not store responses; send the whole conversation in input (store:false)")
	}
	if given(conversation) {
		c.addf("conversation: not supported: lynkr does not store conversations; send the whole conversation in input")
	}
	if background.Type == gjson.True {
		c.addf("background: not supported: lynkr does not store responses to poll later; leave background false")
	}
	if given(prompt) {
		c.addf("prompt: stored prompt templates are not supported; send instructions and input")
	}
	return sum, c.list()
}

// checker collects problems.
type checker struct {
	problems []string
	dropped  int
	forChat  bool // refuse what a conversion to chat cannot serve
}

func (c *checker) addf(format string, args ...any) {
	if len(c.problems) >= maxProblems {
		c.dropped++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// addAt adds a problem at p: the first verb of format is p's name.
func (c *checker) addAt(p *check.Path, format string, args ...any) {
	if len(c.problems) >= maxProblems {
		c.dropped++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, append([]any{p.String()}, args...)...))
}

func (c *checker) list() []string {
	if c.dropped > 0 {
		return append(c.problems, fmt.Sprintf("and %d more problems", c.dropped))
	}
	return c.problems
}

// members reads the members of the object v that fields name into them, the last of
// duplicates. It reports a member given twice and a member whose name differs from a field's
// only in case: Go's decoder matches names without regard to case and keeps the last of
// duplicates, gjson keeps the first. p is the object's path, nil for the body. It reports
// whether a member was given twice.
func (c *checker) members(v gjson.Result, p *check.Path, fields ...field) bool {
	var others table[struct{}] // the names not in fields so far
	dups := false
	for name, val := range check.Node(v).Members {
		var dup, known bool
		for _, f := range fields {
			if name == f.name {
				dup, known = f.v.Exists(), true
				*f.v = val
				break
			}
		}
		if !known {
			_, dup = others.get(name)
			others.set(name, struct{}{})
		}
		if dup {
			dups = true
			c.addf("%s: member %q is given twice", orBody(p), name)
		}
		if known {
			continue // the fields' names differ from each other in more than case
		}
		ascii := isASCII(name) // an ASCII name folds only to one of the same length
		for _, f := range fields {
			if (!ascii || len(name) == len(f.name)) && strings.EqualFold(name, f.name) {
				// A copy, so that escape analysis keeps fields, and the values they point
				// to, on the stack.
				want := strings.Clone(f.name)
				c.addf("%s: member %q is not known; did you mean %q?", orBody(p), name, want)
			}
		}
	}
	return dups
}

// table maps names to values: in arrays while there are few, so that a usual object or
// conversation needs no allocation, in a map beyond.
type table[V any] struct {
	keys [16]string
	vals [16]V
	n    int
	more map[string]V
}

func (t *table[V]) get(k string) (V, bool) {
	if t.more != nil {
		v, ok := t.more[k]
		return v, ok
	}
	if i := slices.Index(t.keys[:t.n], k); i >= 0 {
		return t.vals[i], true
	}
	var zero V
	return zero, false
}

func (t *table[V]) set(k string, v V) {
	if t.more == nil {
		if i := slices.Index(t.keys[:t.n], k); i >= 0 {
			t.vals[i] = v
			return
		}
		if t.n < len(t.keys) {
			t.keys[t.n], t.vals[t.n] = k, v
			t.n++
			return
		}
		t.more = make(map[string]V, 2*len(t.keys))
		for i, k := range t.keys {
			t.more[k] = t.vals[i]
		}
	}
	t.more[k] = v
}

// all ranges over the entries, in no particular order.
func (t *table[V]) all(yield func(string, V) bool) {
	if t.more != nil {
		for k, v := range t.more {
			if !yield(k, v) {
				return
			}
		}
		return
	}
	for i := range t.n {
		if !yield(t.keys[i], t.vals[i]) {
			return
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func orBody(p *check.Path) string {
	if p == nil {
		return "body"
	}
	return p.String()
}

// join names member key of the object at p (nil for the body).
func join(p *check.Path, key string) string {
	q := p.At(key)
	return q.String()
}

// given reports whether v is present and not null.
func given(v gjson.Result) bool {
	return v.Exists() && v.Type != gjson.Null
}

// empty reports whether the array v has no elements.
func empty(v gjson.Result) bool { return check.Node(v).Empty() }

// str checks that v, member key of the object at p, is a string when present and not null,
// and reports whether it is one.
func (c *checker) str(p *check.Path, key string, v gjson.Result) bool {
	if !given(v) {
		return false
	}
	if v.Type != gjson.String {
		c.addf("%s: must be a string, not %s", join(p, key), kind(v))
		return false
	}
	return true
}

// object checks that v, the member at path, is an object when present and not null, and
// reports whether it is one.
func (c *checker) object(path string, v gjson.Result) bool {
	if !given(v) {
		return false
	}
	if !v.IsObject() {
		c.addf("%s: must be an object, not %s", path, kind(v))
		return false
	}
	return true
}

// nonEmpty reports whether v is a string other than "", without unescaping it.
func nonEmpty(v gjson.Result) bool {
	return v.Type == gjson.String && v.Raw != `""`
}

// boolean checks that v, member key of the object at p, is a boolean when present and not
// null, and returns its value.
func (c *checker) boolean(p *check.Path, key string, v gjson.Result) bool {
	if !given(v) {
		return false
	}
	if !v.IsBool() {
		c.addf("%s: must be true or false, not %s", join(p, key), kind(v))
		return false
	}
	return v.Bool()
}

func (c *checker) integer(p *check.Path, key string, v gjson.Result, min int64) {
	if !given(v) {
		return
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	switch {
	case v.Type != gjson.Number || err != nil:
		c.addf("%s: must be an integer, not %s", join(p, key), kind(v))
	case n < min:
		c.addf("%s: must be at least %d, not %d", join(p, key), min, n)
	}
}

func (c *checker) number(p *check.Path, key string, v gjson.Result, lo, hi float64) {
	if !given(v) {
		return
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	switch {
	case v.Type != gjson.Number || err != nil:
		c.addf("%s: must be a number, not %s", join(p, key), kind(v))
	case f < lo || f > hi:
		c.addf("%s: must be between %g and %g, not %g", join(p, key), lo, hi, f)
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
		if v.Raw == `""` {
			c.addf("input: must not be empty")
		}
	case v.IsArray():
		if empty(v) {
			c.addf("input: must not be empty")
		}
		var calls table[int] // call id → index of its function_call, -1 once answered
		p := check.Named("input")
		for i, it := range check.Node(v).Elems {
			q := p.Index(i)
			typ, callID := c.item(it, &q)
			if c.forChat {
				c.pair(it, typ, callID, &q, i, &calls)
			}
		}
		var open []unanswered
		for id, i := range calls.all {
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
// typ and id are the item's type and call_id.
func (c *checker) pair(v, typ, id gjson.Result, p *check.Path, i int, calls *table[int]) {
	if !v.IsObject() || !nonEmpty(id) {
		return
	}
	switch callID := check.Unquote(id); check.Unquote(typ) {
	case ItemFunctionCall, ItemCustomToolCall:
		calls.set(callID, i)
	case ItemFunctionCallOutput, ItemCustomToolCallOutput:
		if _, ok := calls.get(callID); !ok {
			c.addAt(p, "%s.call_id: no function_call before this output has call_id %q", callID)
			return
		}
		calls.set(callID, -1)
	}
}

type unanswered struct {
	index  int
	callID string
}

// item checks one item of input and returns its type and call_id as gjson reads them (the
// first of duplicates), for pair.
func (c *checker) item(v gjson.Result, p *check.Path) (gjson.Result, gjson.Result) {
	if !v.IsObject() {
		c.addAt(p, "%s: must be an object, not %s", kind(v))
		return gjson.Result{}, gjson.Result{}
	}
	var typ, id, status, role, content, callID, name, arguments, input, output, summary,
		encryptedContent gjson.Result
	dups := c.members(v, p, field{"type", &typ}, field{"id", &id}, field{"status", &status}, field{"role", &role},
		field{"content", &content}, field{"call_id", &callID}, field{"name", &name},
		field{"arguments", &arguments}, field{"input", &input}, field{"output", &output},
		field{"summary", &summary}, field{"encrypted_content", &encryptedContent})
	c.str(p, "type", typ)
	hasRole := c.str(p, "role", role)
	c.str(p, "id", id)
	c.str(p, "status", status)
	c.str(p, "call_id", callID)
	c.str(p, "name", name)
	c.str(p, "arguments", arguments)
	c.str(p, "input", input)
	c.str(p, "encrypted_content", encryptedContent)
	t, r := check.Unquote(typ), check.Unquote(role)
	if t == "" && hasRole {
		t = ItemMessage
	}
	switch t {
	case ItemMessage:
		switch r {
		case RoleUser, RoleAssistant, RoleSystem, RoleDeveloper:
		case "":
			c.addAt(p, "%s.role: is required")
		default:
			if c.forChat {
				c.addAt(p, "%s.role: %q has no counterpart in a chat conversation", r)
			}
		}
		c.content(p, "content", content, r, true)
		if c.forChat && r == RoleUser && content.IsArray() && empty(content) {
			c.addAt(p, "%s.content: must not be empty")
		}
	case ItemFunctionCall:
		c.required(p, "call_id", callID)
		c.required(p, "name", name)
		if !given(arguments) {
			c.addAt(p, "%s.arguments: is required")
		}
	case ItemCustomToolCall:
		c.required(p, "call_id", callID)
		c.required(p, "name", name)
		if !given(input) {
			c.addAt(p, "%s.input: is required")
		}
	case ItemFunctionCallOutput, ItemCustomToolCallOutput:
		c.required(p, "call_id", callID)
		c.content(p, "output", output, "", true)
	case ItemReasoning:
		c.parts(p, "summary", summary, []string{PartSummaryText})
		c.parts(p, "content", content, []string{PartReasoningText, "text"})
	case ItemReference:
		if c.forChat {
			c.addAt(p, "%s: item_reference cannot be converted: only the upstream that stored the item can read it; send the item itself")
		}
	case "":
		c.addAt(p, "%s.type: is required")
	default: // an item type lynkr does not convert: passed on, or left out and named
		return typ, callID
	}
	if t != ItemMessage && t != ItemReasoning {
		c.nullOrString(p, "content", content)
	}
	if t != ItemFunctionCallOutput && t != ItemCustomToolCallOutput {
		c.nullOrString(p, "output", output)
	}
	if t != ItemReasoning {
		c.parts(p, "summary", summary, nil)
	}
	if dups {
		return get(v, "type"), get(v, "call_id")
	}
	return typ, callID
}

// nullOrString checks a content-like member the item's type does not read, for the decoder's
// sake: it must still be a string, an array of parts or null.
func (c *checker) nullOrString(p *check.Path, key string, v gjson.Result) {
	if v.Exists() && v.Type != gjson.Null && v.Type != gjson.String {
		c.parts(p, key, v, nil)
	}
}

func (c *checker) required(p *check.Path, key string, v gjson.Result) {
	if c.str(p, key, v) && v.Raw == `""` {
		c.addf("%s: must not be empty", join(p, key))
	} else if !given(v) {
		c.addf("%s: is required", join(p, key))
	}
}

// content checks a message's content or a function call's output, member key of the item at
// p: a string or an array of parts, the parts allowed by role ("" for a function call's
// output).
func (c *checker) content(p *check.Path, key string, v gjson.Result, role string, required bool) {
	if !given(v) {
		if required {
			c.addf("%s: is required", join(p, key))
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
	c.parts(p, key, v, allowed)
}

// parts checks that v, member key of the object at p, is an array of parts of the allowed
// types (any type when allowed is nil), with the members each type needs.
func (c *checker) parts(p *check.Path, key string, v gjson.Result, allowed []string) {
	if !given(v) {
		return
	}
	q := p.At(key)
	switch {
	case v.Type == gjson.String && key != "summary":
		return
	case !v.IsArray() && key == "summary":
		c.addAt(&q, "%s: must be an array of parts, not %s", kind(v))
		return
	case !v.IsArray():
		c.addAt(&q, "%s: must be a string or an array of parts, not %s", kind(v))
		return
	}
	for i, part := range check.Node(v).Elems {
		pp := q.Index(i)
		if !part.IsObject() {
			c.addAt(&pp, "%s: must be an object, not %s", kind(part))
			continue
		}
		var typ, txt, annotations, refusal, imageURL, detail, fileID, fileData, fileURL, filename gjson.Result
		c.members(part, &pp, field{"type", &typ}, field{"text", &txt}, field{"annotations", &annotations},
			field{"refusal", &refusal}, field{"image_url", &imageURL}, field{"detail", &detail},
			field{"file_id", &fileID}, field{"file_data", &fileData}, field{"file_url", &fileURL},
			field{"filename", &filename})
		c.str(&pp, "type", typ)
		t := check.Unquote(typ)
		if t != "" && !convertedPart(t) {
			continue // a part type lynkr does not convert: not looked into
		}
		c.str(&pp, "text", txt)
		c.str(&pp, "refusal", refusal)
		c.str(&pp, "image_url", imageURL)
		c.str(&pp, "detail", detail)
		c.str(&pp, "file_id", fileID)
		c.str(&pp, "file_data", fileData)
		c.str(&pp, "file_url", fileURL)
		c.str(&pp, "filename", filename)
		if given(annotations) && !annotations.IsArray() {
			c.addAt(&pp, "%s.annotations: must be an array, not %s", kind(annotations))
		}
		if allowed == nil {
			continue
		}
		if t == "" {
			c.addAt(&pp, "%s.type: is required")
			continue
		}
		if !contains(allowed, t) {
			continue // a part type lynkr does not convert here: passed on, or left out
		}
		switch t {
		case PartInputText, PartOutputText, PartSummaryText, PartReasoningText, "text":
			if !txt.Exists() {
				c.addAt(&pp, "%s.text: is required")
			}
		case PartRefusal:
			if !refusal.Exists() {
				c.addAt(&pp, "%s.refusal: is required")
			}
		case PartInputImage:
			switch {
			case c.str(&pp, "image_url", imageURL) && nonEmpty(imageURL):
			case fileID.Exists():
				if c.forChat {
					c.addAt(&pp, "%s.file_id: an uploaded image cannot be sent to a chat upstream; send it as image_url (an https or data: URL)")
				}
			default:
				c.addAt(&pp, "%s.image_url: is required")
			}
			c.str(&pp, "detail", detail)
		case PartInputFile:
			data := c.str(&pp, "file_data", fileData) && nonEmpty(fileData)
			id := c.str(&pp, "file_id", fileID) && nonEmpty(fileID)
			if c.str(&pp, "file_url", fileURL) && nonEmpty(fileURL) {
				if c.forChat {
					c.addAt(&pp, "%s.file_url: a file URL cannot be sent to a chat upstream; send the file as file_data")
				}
			} else if !data && !id {
				c.addAt(&pp, "%s: file_data or file_id is required")
			}
		}
	}
}

// convertedPart tells the part types whose members a conversion reads.
func convertedPart(t string) bool {
	switch t {
	case PartInputText, PartOutputText, PartRefusal, PartInputImage, PartInputFile, PartSummaryText,
		PartReasoningText, "text":
		return true
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tools checks the tools and appends their names to names.
func (c *checker) tools(v gjson.Result, names []string) []string {
	if !given(v) {
		return names
	}
	if !v.IsArray() {
		c.addf("tools: must be an array, not %s", kind(v))
		return names
	}
	p := check.Named("tools")
	for i, t := range check.Node(v).Elems {
		q := p.Index(i)
		names = c.tool(t, &q, names, true)
	}
	return names
}

// tool checks one tool (full, with its definition, or as allowed_tools names it) and adds its
// name to names.
func (c *checker) tool(t gjson.Result, p *check.Path, names []string, full bool) []string {
	if !t.IsObject() {
		c.addAt(p, "%s: must be an object, not %s", kind(t))
		return names
	}
	var typ, name, description, parameters, strict, format, inner gjson.Result
	c.members(t, p, field{"type", &typ}, field{"name", &name}, field{"description", &description},
		field{"parameters", &parameters}, field{"strict", &strict}, field{"format", &format},
		field{"tools", &inner})
	c.str(p, "type", typ)
	switch check.Unquote(typ) {
	case ToolFunction, ToolCustom, ToolNamespace, "":
		c.str(p, "name", name)
		c.str(p, "description", description)
		c.boolean(p, "strict", strict)
		q := p.At("format")
		c.customFormat(format, &q)
	}
	switch t := check.Unquote(typ); t {
	case "function", "custom":
		n := check.Unquote(name)
		if n == "" {
			c.addAt(p, "%s.name: is required")
		} else if full && contains(names, n) {
			c.addAt(p, "%s.name: %q names two tools", n)
		}
		if full && given(parameters) && !parameters.IsObject() {
			c.addAt(p, "%s.parameters: must be a JSON Schema object, not %s", kind(parameters))
		}
		return append(names, n)
	case ToolNamespace:
		if !full {
			return names
		}
		if !nonEmpty(name) {
			c.addAt(p, "%s.name: is required")
		}
		if !inner.IsArray() {
			c.addAt(p, "%s.tools: must be an array of tools, not %s", kind(inner))
			return names
		}
		c.namespaceTools(inner, p)
	case "":
		c.addAt(p, "%s.type: is required")
	}
	// Other types are hosted tools, which only OpenAI runs: a Responses upstream takes them,
	// a conversion leaves them out and names them.
	return names
}

// namespaceTools checks the tools of the namespace at p: each an object with a type and a
// name. (Not through tool: a recursive call would make every path escape to the heap.)
func (c *checker) namespaceTools(v gjson.Result, p *check.Path) {
	q := p.At("tools")
	for i, t := range check.Node(v).Elems {
		r := q.Index(i)
		if !t.IsObject() {
			c.addAt(&r, "%s: must be an object, not %s", kind(t))
			continue
		}
		var typ, name, parameters gjson.Result
		c.members(t, &r, field{"type", &typ}, field{"name", &name}, field{"parameters", &parameters})
		c.str(&r, "type", typ)
		if c.str(&r, "name", name); !nonEmpty(name) {
			c.addAt(&r, "%s.name: is required")
		}
		if given(parameters) && !parameters.IsObject() {
			c.addAt(&r, "%s.parameters: must be a JSON Schema object, not %s", kind(parameters))
		}
	}
}

// customFormat checks a custom tool's format.
func (c *checker) customFormat(v gjson.Result, p *check.Path) {
	if !given(v) {
		return
	}
	if !v.IsObject() {
		c.addAt(p, "%s: must be an object, not %s", kind(v))
		return
	}
	var typ, syntax, definition gjson.Result
	c.members(v, p, field{"type", &typ}, field{"syntax", &syntax}, field{"definition", &definition})
	c.str(p, "type", typ)
	c.str(p, "syntax", syntax)
	c.str(p, "definition", definition)
	if check.Unquote(typ) == "grammar" && !nonEmpty(definition) {
		c.addAt(p, "%s.definition: is required")
	}
}

func (c *checker) toolChoice(v gjson.Result, names []string) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
	case v.Type == gjson.String:
	case v.IsObject():
		p := check.Named("tool_choice")
		var typ, name, mode, tools gjson.Result
		c.members(v, &p, field{"type", &typ}, field{"name", &name}, field{"mode", &mode}, field{"tools", &tools})
		c.str(&p, "type", typ)
		c.str(&p, "name", name)
		c.str(&p, "mode", mode)
		q := p.At("tools")
		switch t := check.Unquote(typ); t {
		case "function", "custom":
			if n := check.Unquote(name); n == "" {
				c.addf("tool_choice.name: is required")
			} else if !contains(names, n) {
				c.addf("tool_choice.name: %q is not one of the tools", n)
			}
		case "allowed_tools":
			if !tools.IsArray() || empty(tools) {
				c.addf("tool_choice.tools: must be a non-empty array of tools")
				break
			}
			for i, t := range check.Node(tools).Elems {
				r := q.Index(i)
				var buf [1]string
				one := c.tool(t, &r, buf[:0], false)
				if len(one) == 1 && one[0] != "" && !contains(names, one[0]) {
					c.addf("tool_choice.tools[%d].name: %q is not one of the tools", i, one[0])
				}
			}
		case "":
			c.addf("tool_choice.type: is required")
		}
		if check.Unquote(typ) != "allowed_tools" && given(tools) {
			if !tools.IsArray() {
				c.addf("tool_choice.tools: must be an array, not %s", kind(tools))
			} else {
				for i, el := range check.Node(tools).Elems {
					r := q.Index(i)
					var buf [1]string
					c.tool(el, &r, buf[:0], false)
				}
			}
		}
	default:
		c.addf("tool_choice: must be a string or an object, not %s", kind(v))
	}
}

func (c *checker) metadata(v gjson.Result) {
	if !c.object("metadata", v) {
		return
	}
	p := check.Named("metadata")
	if c.members(v, &p) {
		// A member is given twice: check the last of each, which Go's decoder keeps.
		m := make(map[string]gjson.Result)
		for k, val := range check.Node(v).Members {
			m[k] = val
		}
		for k, val := range m {
			c.metadataValue(k, val)
		}
		return
	}
	for k, val := range check.Node(v).Members {
		c.metadataValue(k, val)
	}
}

func (c *checker) metadataValue(k string, v gjson.Result) {
	if v.Type != gjson.String {
		c.addf("metadata.%s: must be a string, not %s", k, kind(v))
	}
}

func (c *checker) stringList(v gjson.Result, path string) {
	if !given(v) {
		return
	}
	if !v.IsArray() {
		c.addf("%s: must be an array of strings, not %s", path, kind(v))
		return
	}
	for i, s := range check.Node(v).Elems {
		if s.Type != gjson.String {
			c.addf("%s[%d]: must be a string, not %s", path, i, kind(s))
		}
	}
}

func (c *checker) reasoning(v gjson.Result) {
	if !c.object("reasoning", v) {
		return
	}
	p := check.Named("reasoning")
	var effort, summary gjson.Result
	c.members(v, &p, field{"effort", &effort}, field{"summary", &summary})
	c.str(&p, "effort", effort)
	c.str(&p, "summary", summary)
}

func (c *checker) text(v gjson.Result) {
	if !c.object("text", v) {
		return
	}
	p := check.Named("text")
	var format, verbosity gjson.Result
	c.members(v, &p, field{"format", &format}, field{"verbosity", &verbosity})
	c.str(&p, "verbosity", verbosity)
	if !c.object("text.format", format) {
		return
	}
	q := p.At("format")
	var typ, name, description, schema, strict gjson.Result
	c.members(format, &q, field{"type", &typ}, field{"name", &name}, field{"description", &description},
		field{"schema", &schema}, field{"strict", &strict})
	c.str(&q, "type", typ)
	c.str(&q, "name", name)
	c.str(&q, "description", description)
	c.boolean(&q, "strict", strict)
	switch t := check.Unquote(typ); t {
	case "json_schema":
		if !nonEmpty(name) {
			c.addf("text.format.name: is required")
		}
		if !schema.IsObject() {
			c.addf("text.format.schema: must be a JSON Schema object")
		}
	case "":
		c.addf("text.format.type: is required")
	}
}

// Responses keeps the last of duplicate members and reports names that differ only in case,
// so it looks members up itself; it reads the body with pkg/llm/internal/check.

// field names a member to look up and where to store it.
type field struct {
	name string
	v    *gjson.Result
}

// get returns the member name of the object v, the first of duplicates as gjson's Get does,
// or an absent result.
func get(v gjson.Result, name string) gjson.Result {
	for k, val := range check.Node(v).Members {
		if k == name {
			return val
		}
	}
	return gjson.Result{}
}
