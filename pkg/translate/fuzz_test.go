package translate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/llm/responses"
)

// clientFormats are the formats a client may speak, in the order the fuzzer picks them by.
var clientFormats = []llm.Format{msgs, chat, resp}

// upstreamModels are the upstream models the fuzzer converts for, by format: the first of a
// format exercises its newer rules (reasoning models, mid-conversation system messages), the
// second its older ones.
var upstreamModels = map[llm.Format][2]string{
	msgs: {"claude-opus-4-8", "claude-sonnet-4-5"},
	chat: {"gpt-5", "gpt-4o"},
	resp: {"gpt-5", "gpt-4o"},
	conv: {"anthropic.claude-opus-4-8-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"},
}

// The kinds of injection.
const (
	injectMember     = iota // an unknown member of the body
	injectItemMember        // an unknown member of a message (an item, for Responses)
	injectPartMember        // an unknown member of a content block or part
	injectToolMember        // an unknown member of a tool
	injectElement           // a block, part or item of an unknown type
	injectTool              // a tool of an unknown type
	injectKinds
)

// validate is the gateway's check of a request, by client format.
var validate = map[llm.Format]func([]byte) (llm.Summary, []string){
	msgs: anthropic.ValidateMessages,
	chat: openai.ValidateChat,
	resp: responses.Validate,
}

// knownMembers are the member names each format defines, at any depth; an injected member
// may not be one of them, nor differ from one only in case (Go's decoder matches names so).
var knownMembers = map[llm.Format][]string{
	msgs: {"model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream",
		"temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier",
		"output_config", "role", "content", "type", "text", "citations", "source", "title",
		"context", "id", "name", "input", "tool_use_id", "is_error", "signature", "data",
		"cache_control", "media_type", "url", "file_id", "description", "input_schema", "strict",
		"disable_parallel_tool_use", "budget_tokens", "effort", "format", "user_id", "schema"},
	chat: {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
		"temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "seed",
		"logprobs", "top_logprobs", "logit_bias", "user", "tools", "tool_choice",
		"parallel_tool_calls", "response_format", "reasoning_effort", "verbosity", "metadata",
		"store", "service_tier", "prompt_cache_key", "safety_identifier", "modalities", "role",
		"content", "name", "tool_calls", "tool_call_id", "refusal", "reasoning_content",
		"reasoning", "reasoning_details", "annotations", "audio", "function_call", "type", "text",
		"image_url", "input_audio", "file", "cache_control", "url", "detail", "data", "format",
		"file_data", "file_id", "filename", "function", "custom", "description", "parameters",
		"strict", "id", "arguments", "include_usage", "include_obfuscation", "json_schema",
		"schema", "allowed_tools", "mode", "signature", "summary", "encrypted"},
	resp: {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
		"max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "stream",
		"store", "metadata", "previous_response_id", "reasoning", "text", "include", "truncation",
		"user", "safety_identifier", "prompt_cache_key", "service_tier", "stream_options",
		"conversation", "background", "prompt", "type", "id", "status", "role", "content",
		"call_id", "name", "namespace", "arguments", "output", "summary", "encrypted_content",
		"annotations", "refusal", "image_url", "detail", "file_id", "file_data", "file_url",
		"filename", "description", "parameters", "strict", "format", "syntax", "definition",
		"effort", "verbosity", "schema", "mode"},
}

// knownRoles are the roles of each format's messages.
var knownRoles = map[llm.Format][]string{
	msgs: {"user", "assistant", "system"},
	chat: {"system", "developer", "user", "assistant", "tool"},
	resp: {"user", "assistant", "system", "developer"},
}

// knownTypes are the block, part, item and tool types each format converts; an injected type
// may not be one of them.
var knownTypes = map[llm.Format][]string{
	msgs: {"text", "image", "document", "search_result", "tool_use", "tool_result", "thinking",
		"redacted_thinking", "server_tool_use", "custom"},
	chat: {"text", "image_url", "input_audio", "file", "refusal", "function", "custom"},
	resp: {"message", "function_call", "function_call_output", "reasoning", "item_reference",
		"custom_tool_call", "custom_tool_call_output", "input_text", "input_image", "input_file",
		"output_text", "refusal", "summary_text", "reasoning_text", "text", "function", "custom",
		"namespace"},
}

// fuzzSeeds are small valid requests of each client format, besides the real clients'.
var fuzzSeeds = map[llm.Format][]string{
	msgs: {
		`{"model":"claude-x","max_tokens":100,"system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"text","text":"calling"},{"type":"tool_use","id":"toolu_1","name":"ls","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a b"}]},{"type":"text","text":"and?"}]}],"tools":[{"name":"ls","input_schema":{"type":"object"}}]}`,
		`{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"Be brief."}]}]}`,
	},
	chat: {
		`{"model":"gpt-x","messages":[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},{"role":"assistant","content":"calling","tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"a b"}],"tools":[{"type":"function","function":{"name":"ls","parameters":{"type":"object"}}}]}`,
		`{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"developer","content":[{"type":"text","text":"Be brief."}]}],"max_tokens":50}`,
		`{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"calling"}],"tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"a b"}]}],"tools":[{"type":"function","function":{"name":"ls"}}]}`,
	},
	resp: {
		`{"model":"gpt-x","instructions":"S","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"reasoning","summary":[{"type":"summary_text","text":"s"}]},{"type":"function_call","call_id":"call_1","name":"ls","arguments":"{}"},{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"a b"}]}],"tools":[{"type":"function","name":"ls","parameters":{"type":"object"}},{"type":"namespace","name":"ns","tools":[{"type":"function","name":"f"}]}]}`,
		`{"model":"gpt-x","input":"hi","store":false}`,
	},
}

// FuzzUnknownNeverRefused checks that an unknown member, block, part or item type or tool type
// never makes the gateway answer 400: a request that passes the gateway's validation and
// converts to every upstream format still does after one is added, and when a conversion
// names what it left out, it names it by the added thing's own name.
func FuzzUnknownNeverRefused(f *testing.F) {
	for fi, format := range clientFormats {
		bodies := slices.Clone(fuzzSeeds[format])
		if pattern, ok := clientCaptures[format]; ok {
			files, err := filepath.Glob(pattern)
			if err != nil || len(files) == 0 {
				f.Fatalf("no captures match %s", pattern)
			}
			for _, name := range files {
				b, err := os.ReadFile(name)
				if err != nil {
					f.Fatal(err)
				}
				bodies = append(bodies, string(b))
			}
		}
		for _, body := range bodies {
			for kind := range injectKinds {
				f.Add(uint8(fi), []byte(body), uint8(kind), uint16(3*kind+1), "x_lynkr_probe", `{"a":[1,"b",null]}`)
			}
		}
	}
	f.Fuzz(func(t *testing.T, fi uint8, body []byte, kind uint8, where uint16, name, value string) {
		format := clientFormats[int(fi)%len(clientFormats)]
		older := kind&0x80 != 0
		kind %= injectKinds
		if name == "" || !utf8.ValidString(name) || known(format, kind, name) {
			t.Skip()
		}
		if !utf8.ValidString(value) || !json.Valid([]byte(value)) {
			v, _ := json.Marshal(value)
			value = string(v)
		}
		if _, problems := validate[format](body); len(problems) > 0 {
			t.Skip()
		}
		plans := plansFrom(format)
		before := map[llm.Format][]string{}
		for to, p := range plans {
			call, err := p.Request(body, model(to, older))
			if err != nil {
				delete(plans, to) // refused already, for what it holds
				continue
			}
			before[to] = call.Dropped()
		}
		if len(plans) == 0 {
			t.Skip()
		}

		in, where2, named, ok := inject(format, body, kind, int(where), name, value)
		if !ok {
			t.Skip()
		}
		if !gjson.ValidBytes(in) {
			t.Fatalf("the injection made invalid JSON: %s", in)
		}
		if _, problems := validate[format](in); len(problems) > 0 {
			t.Fatalf("%s with %s: the gateway's validation refuses it: %q", format, where2, problems)
		}
		for to, p := range plans {
			call, err := p.Request(in, model(to, older))
			if err != nil {
				t.Fatalf("%s → %s (%s) with %s: refused: %v", format, to, model(to, older), where2, err)
			}
			out := call.Body()
			if !gjson.ValidBytes(out) {
				t.Fatalf("%s → %s with %s: the upstream body is not JSON: %s", format, to, where2, out)
			}
			dropped := call.Dropped()
			if to == format {
				if len(dropped) > 0 {
					t.Fatalf("%s passthrough drops %q", format, dropped)
				}
				continue
			}
			var added []string
			for _, n := range dropped {
				if !slices.Contains(before[to], n) {
					added = append(added, n)
				}
			}
			for _, n := range added {
				if !sensible(n, name) {
					t.Fatalf("%s → %s with %s: left out and named %q, not by its name", format, to, where2, n)
				}
			}
			if named && (kind != injectMember || value != "null") && !slices.ContainsFunc(dropped, func(n string) bool { return sensible(n, name) }) {
				t.Fatalf("%s → %s with %s: not named in Dropped() %q", format, to, where2, dropped)
			}
		}
	})
}

// model is the upstream model a fuzzed request converts for.
func model(to llm.Format, older bool) string {
	if older {
		return upstreamModels[to][1]
	}
	return upstreamModels[to][0]
}

// plansFrom returns the plans from a client format to every upstream format there is one to.
func plansFrom(from llm.Format) map[llm.Format]Plan {
	out := map[llm.Format]Plan{}
	for _, to := range []llm.Format{msgs, chat, resp, conv} {
		if p, err := For(from, to); err == nil {
			out[to] = p
		}
	}
	return out
}

// known reports whether name is one the format defines for what the injection adds: a member
// name (in any case) or a type.
func known(format llm.Format, kind uint8, name string) bool {
	if kind == injectElement || kind == injectTool {
		return slices.Contains(knownTypes[format], name) || slices.Contains(knownTypes[format], llm.ToolFamily(name))
	}
	return slices.ContainsFunc(knownMembers[format], func(k string) bool { return strings.EqualFold(k, name) })
}

// sensible reports whether dropped is a name for the added thing called name: its own name,
// its family for a versioned tool type, or its name under a prefix ("content.<type>").
func sensible(dropped, name string) bool {
	return dropped == name || dropped == llm.ToolFamily(name) || strings.HasSuffix(dropped, "."+name)
}

// inject adds to body what kind says, at the place where picks among those there are, named
// name with the JSON value. It returns the new body, words for what it added, whether every
// conversion must name it in Dropped (the policy drops and names it), and false when the body
// has no place of the kind.
func inject(format llm.Format, body []byte, kind uint8, where int, name, value string) ([]byte, string, bool, bool) {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, "", false, false
	}
	var err error
	switch kind {
	case injectMember:
		if hasMember(root, name) {
			return nil, "", false, false
		}
		out := insertMember(body, name, value)
		return out, fmt.Sprintf("member %q", name), true, true
	case injectItemMember, injectPartMember, injectToolMember:
		var objects []string
		switch kind {
		case injectItemMember:
			objects = elementPaths(root, messagesPath(format))
		case injectPartMember:
			for _, a := range contentArrays(format, root) {
				objects = append(objects, elementPaths(root, a)...)
			}
		case injectToolMember:
			objects = toolPaths(root)
		}
		objects = slices.DeleteFunc(objects, func(p string) bool { return !root.Get(p).IsObject() })
		if len(objects) == 0 {
			return nil, "", false, false
		}
		p := objects[where%len(objects)]
		if hasMember(root.Get(p), name) {
			return nil, "", false, false
		}
		obj := insertMember([]byte(root.Get(p).Raw), name, value)
		out, err := sjson.SetRawBytes(body, p, obj)
		if err != nil {
			return nil, "", false, false
		}
		return out, fmt.Sprintf("member %q in %s", name, p), false, true
	case injectElement:
		arrays := contentArrays(format, root)
		if format == resp && root.Get("input").IsArray() {
			arrays = append(arrays, "input")
		}
		if len(arrays) == 0 {
			return nil, "", false, false
		}
		a := arrays[where%len(arrays)]
		elem := element(format, name, value)
		out, pos, ok := insertElement(body, a, where/len(arrays), elem)
		if !ok {
			return nil, "", false, false
		}
		// The policy names the blocks of an Anthropic request, the parts of a chat request
		// and the items of a Responses request that it leaves out; the parts of a Responses
		// message it leaves out unnamed.
		named := format != resp || a == "input"
		what := fmt.Sprintf("a %q element at %s.%d", name, a, pos)
		if m, _, ok := strings.Cut(a, ".content"); ok && a != "system" {
			// A message of a role the format lacks is refused, or left out whole.
			role := root.Get(m + ".role").String()
			named = named && slices.Contains(knownRoles[format], role)
			what += fmt.Sprintf(" (in a message of role %q)", role)
		}
		return out, what, named, true
	case injectTool:
		elem := element(format, name, value)
		tools := root.Get("tools")
		var out []byte
		pos := 0
		switch {
		case !tools.Exists():
			out, err = sjson.SetRawBytes(body, "tools", []byte("["+elem+"]"))
			if err != nil {
				return nil, "", false, false
			}
		case tools.IsArray():
			var ok bool
			if out, pos, ok = insertElement(body, "tools", where, elem); !ok {
				return nil, "", false, false
			}
		default:
			return nil, "", false, false
		}
		return out, fmt.Sprintf("a tool of type %q at tools.%d", name, pos), true, true
	}
	return nil, "", false, false
}

// element is a block, part, item or tool of type name: the members of value, when it is an
// object, whose names the format does not define, and the type.
func element(format llm.Format, name, value string) string {
	obj := []byte(`{}`)
	seen := map[string]bool{}
	v := gjson.Parse(value)
	if v.IsObject() {
		v.ForEach(func(k, val gjson.Result) bool {
			key := k.String()
			if seen[key] || known(format, injectMember, key) || strings.EqualFold(key, "type") {
				return true
			}
			seen[key] = true
			obj = insertMember(obj, key, val.Raw)
			return true
		})
	}
	return string(insertMember(obj, "type", mustJSON(name)))
}

// hasMember reports whether the object obj has a member name, in any case: another would
// be a duplicate, which decoders disagree on.
func hasMember(obj gjson.Result, name string) bool {
	found := false
	obj.ForEach(func(k, _ gjson.Result) bool {
		found = strings.EqualFold(k.String(), name)
		return !found
	})
	return found
}

// insertMember adds the member name: value at the start of the JSON object obj.
func insertMember(obj []byte, name, value string) []byte {
	s := strings.TrimSpace(string(obj))
	rest := strings.TrimSpace(s[1:])
	member := mustJSON(name) + ":" + value
	if strings.HasPrefix(rest, "}") {
		return []byte("{" + member + "}")
	}
	return []byte("{" + member + "," + rest)
}

// insertElement inserts the JSON value elem into the array at path, at position where (modulo
// the places there are), and returns the new body and the position.
func insertElement(body []byte, path string, where int, elem string) ([]byte, int, bool) {
	arr := gjson.GetBytes(body, path)
	if !arr.IsArray() {
		return nil, 0, false
	}
	var elems []string
	arr.ForEach(func(_, v gjson.Result) bool {
		elems = append(elems, v.Raw)
		return true
	})
	pos := where % (len(elems) + 1)
	elems = slices.Insert(elems, pos, elem)
	out, err := sjson.SetRawBytes(body, path, []byte("["+strings.Join(elems, ",")+"]"))
	if err != nil {
		return nil, 0, false
	}
	return out, pos, true
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// messagesPath is where a format keeps its conversation.
func messagesPath(format llm.Format) string {
	if format == resp {
		return "input"
	}
	return "messages"
}

// elementPaths returns the paths of the elements of the array at path.
func elementPaths(root gjson.Result, path string) []string {
	var out []string
	for i := range root.Get(path).Array() {
		out = append(out, path+"."+strconv.Itoa(i))
	}
	return out
}

// contentArrays returns the paths of the arrays of blocks or parts in a request: the system
// prompt, each message's content, a tool result's content (Anthropic), a function call's
// output and a reasoning item's summary (Responses).
func contentArrays(format llm.Format, root gjson.Result) []string {
	var out []string
	add := func(p string) {
		if root.Get(p).IsArray() {
			out = append(out, p)
		}
	}
	if format == msgs {
		add("system")
	}
	for _, m := range elementPaths(root, messagesPath(format)) {
		add(m + ".content")
		if format == resp {
			add(m + ".output")
			add(m + ".summary")
		}
		if format == msgs {
			for _, b := range elementPaths(root, m+".content") {
				if root.Get(b+".type").String() == "tool_result" {
					add(b + ".content")
				}
			}
		}
	}
	return out
}

// toolPaths returns the paths of the tools of a request, a Responses namespace's included.
func toolPaths(root gjson.Result) []string {
	var out []string
	for _, p := range elementPaths(root, "tools") {
		out = append(out, p)
		if root.Get(p+".type").String() == "namespace" {
			out = append(out, elementPaths(root, p+".tools")...)
		}
	}
	return out
}
