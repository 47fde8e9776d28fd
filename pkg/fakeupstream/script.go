package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Script mode (WithScript) answers each generation from the request itself, so that a real
// coding CLI (Claude Code, Codex CLI, a Chat Completions CLI) can be driven through a
// tool loop:
//
//   - a conversation whose last item is a tool result is answered with the text
//     "Tool output: <result, trimmed>", ending the turn;
//   - else, when the last user-authored text holds "run bash: CMD" (CMD is the rest of that
//     line), with one call of the client's own shell tool running CMD;
//   - else, when it holds "say: WORDS", with exactly WORDS;
//   - else with ScriptHello.
//
// An Anthropic request with thinking enabled or adaptive also gets a thinking block with a
// signature; a Responses request including "reasoning.encrypted_content" a reasoning item
// carrying it.

// ScriptHello is script mode's answer to a request that asks for nothing in particular.
const ScriptHello = "Hello from the fake upstream."

// The answers of script mode that tests may look for.
const (
	ScriptToolOutputPrefix = "Tool output: "
	ScriptNoShellTool      = "run bash: the request offers no shell tool"
	scriptThinking         = "The user wants an answer; the request says which."
)

// wireRequest is what script mode reads of a request in any of the three formats.
type wireRequest struct {
	Messages []wireMessage   `json:"messages"` // Messages, Chat Completions
	Input    json.RawMessage `json:"input"`    // Responses
	Tools    []wireTool      `json:"tools"`
	Thinking *struct {
		Type string `json:"type"`
	} `json:"thinking"` // Messages
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// wireTool is a tool definition of any format: Anthropic's {name, input_schema}, Chat's
// {type: function, function: {name, parameters}}, Responses' {type: function, name,
// parameters} and {type: namespace, name, tools}.
type wireTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
	Parameters  json.RawMessage `json:"parameters"`
	Function    *struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
	Tools []wireTool `json:"tools"`
}

// inputItem is one item of a Responses input.
type inputItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

// stringContent returns the content of an item whose content is a plain string.
func (it inputItem) stringContent() (string, bool) {
	var s string
	return s, json.Unmarshal(it.Content, &s) == nil
}

var errBadInput = errors.New("'input' must be a string or an array of items")

// inputItems reads a Responses input: a string is one user message.
func inputItems(raw json.RawMessage) ([]inputItem, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		content, _ := json.Marshal(s)
		return []inputItem{{Type: "message", Role: "user", Content: content}}, nil
	}
	var items []inputItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errBadInput
	}
	return items, nil
}

// conversation is what script mode decides from.
type conversation struct {
	userText   string // the last user-authored text, context blocks removed
	toolResult string // the text of the trailing tool results
	endsInTool bool   // the conversation's last item is a tool result
	tools      []shellCandidate
	thinking   bool // Anthropic thinking enabled or adaptive
}

// shellCandidate is a tool the request offers, with where its schema is.
type shellCandidate struct {
	namespace, name string
	schema          json.RawMessage
}

// readConversation reads body as a request to ep. A body of the wrong shape reads as an empty
// conversation.
func readConversation(ep Endpoint, body []byte) conversation {
	var req wireRequest
	var conv conversation
	if json.Unmarshal(body, &req) != nil {
		return conv
	}
	conv.tools = flattenTools(req.Tools, "")
	conv.thinking = req.Thinking != nil && (req.Thinking.Type == "enabled" || req.Thinking.Type == "adaptive")
	switch ep {
	case Messages:
		readMessages(&conv, req.Messages)
	case ChatCompletions:
		readChat(&conv, req.Messages)
	case Responses:
		items, _ := inputItems(req.Input)
		readInput(&conv, items)
	}
	return conv
}

func flattenTools(tools []wireTool, namespace string) []shellCandidate {
	var out []shellCandidate
	for _, t := range tools {
		switch {
		case t.Function != nil:
			out = append(out, shellCandidate{namespace: namespace, name: t.Function.Name, schema: t.Function.Parameters})
		case t.Type == "namespace":
			out = append(out, flattenTools(t.Tools, t.Name)...)
		case len(t.InputSchema) > 0:
			out = append(out, shellCandidate{namespace: namespace, name: t.Name, schema: t.InputSchema})
		default:
			out = append(out, shellCandidate{namespace: namespace, name: t.Name, schema: t.Parameters})
		}
	}
	return out
}

// contentPart is one block of a message content in any format.
type contentPart struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Content json.RawMessage `json:"content"` // Anthropic tool_result
}

// parts reads a content that is a string (one text part) or an array of parts.
func parts(raw json.RawMessage) []contentPart {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []contentPart{{Type: "text", Text: s}}
	}
	var ps []contentPart
	_ = json.Unmarshal(raw, &ps)
	return ps
}

// userText joins the text parts of a content, without tool results and with the context
// blocks clients add to user turns (<system-reminder>, <environment_context>) removed.
func userText(raw json.RawMessage) string {
	var texts []string
	for _, p := range parts(raw) {
		if p.Type != "text" && p.Type != "input_text" {
			continue
		}
		if t := strings.TrimSpace(stripContext(p.Text)); t != "" {
			texts = append(texts, t)
		}
	}
	return strings.Join(texts, "\n")
}

// resultText flattens a tool result's content: a string, or its text parts joined.
func resultText(raw json.RawMessage) string {
	var texts []string
	for _, p := range parts(raw) {
		if p.Type == "text" || p.Type == "input_text" || p.Type == "output_text" {
			texts = append(texts, stripContext(p.Text))
		}
	}
	return strings.Join(texts, "\n")
}

// stripContext removes the <system-reminder> and <environment_context> blocks of s.
func stripContext(s string) string {
	for _, tag := range [...]string{"system-reminder", "environment_context"} {
		open, closing := "<"+tag+">", "</"+tag+">"
		for {
			i := strings.Index(s, open)
			if i < 0 {
				break
			}
			j := strings.Index(s[i:], closing)
			if j < 0 {
				s = s[:i]
				break
			}
			s = s[:i] + s[i+j+len(closing):]
		}
	}
	return s
}

func readMessages(conv *conversation, msgs []wireMessage) {
	if n := len(msgs); n > 0 && msgs[n-1].Role == "user" {
		var results []string
		for _, p := range parts(msgs[n-1].Content) {
			if p.Type == "tool_result" {
				results = append(results, resultText(p.Content))
			}
		}
		if len(results) > 0 {
			conv.endsInTool, conv.toolResult = true, strings.Join(results, "\n")
		}
	}
	for i := len(msgs) - 1; i >= 0 && conv.userText == ""; i-- {
		if msgs[i].Role == "user" {
			conv.userText = userText(msgs[i].Content)
		}
	}
}

func readChat(conv *conversation, msgs []wireMessage) {
	start := len(msgs)
	for start > 0 && msgs[start-1].Role == "tool" {
		start--
	}
	if start < len(msgs) {
		results := make([]string, 0, len(msgs)-start)
		for _, m := range msgs[start:] {
			results = append(results, resultText(m.Content))
		}
		conv.endsInTool, conv.toolResult = true, strings.Join(results, "\n")
	}
	for i := start - 1; i >= 0 && conv.userText == ""; i-- {
		if msgs[i].Role == "user" {
			conv.userText = userText(msgs[i].Content)
		}
	}
}

func readInput(conv *conversation, items []inputItem) {
	start := len(items)
	for start > 0 && (items[start-1].Type == "function_call_output" || items[start-1].Type == "custom_tool_call_output") {
		start--
	}
	if start < len(items) {
		results := make([]string, 0, len(items)-start)
		for _, it := range items[start:] {
			results = append(results, resultText(it.Output))
		}
		conv.endsInTool, conv.toolResult = true, strings.Join(results, "\n")
	}
	for i := start - 1; i >= 0 && conv.userText == ""; i-- {
		if it := items[i]; it.Role == "user" && (it.Type == "" || it.Type == "message") {
			conv.userText = userText(it.Content)
		}
	}
}

// directive returns the rest of the line after key in text, trimmed.
func directive(text, key string) (string, bool) {
	i := strings.Index(text, key)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(key):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return strings.TrimSpace(rest), true
}

// shellCall returns the call of the request's shell tool running cmd: the first offered of
// the tool names below, in their order of preference, with its command argument named and
// typed as its schema says.
func shellCall(tools []shellCandidate, cmd string) (ToolCall, bool) {
	names := [...]string{"Bash", "bash", "exec_command", "shell", "run_shell_command", "shell_command", "run_command", "execute_command"}
	for _, name := range names {
		for _, t := range tools {
			if t.name != name {
				continue
			}
			arg, isArray := commandArgument(t.schema)
			b := []byte(`{`)
			b = appendString(b, arg)
			b = append(b, ':')
			if isArray {
				b = append(b, `["bash","-lc",`...)
				b = append(appendString(b, cmd), ']')
			} else {
				b = appendString(b, cmd)
			}
			args := string(append(b, '}'))
			return ToolCall{Name: t.name, Namespace: t.namespace, Arguments: Split(args, 4)}, true
		}
	}
	return ToolCall{}, false
}

// commandArgument returns the name of the command property of a tool's JSON schema (the
// first of command and cmd it has; command when it has neither) and whether it takes an
// argv array.
func commandArgument(schema json.RawMessage) (name string, isArray bool) {
	var s struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s)
	name = "command"
	for _, n := range [...]string{"command", "cmd"} {
		if p, ok := s.Properties[n]; ok {
			var one string
			var many []string
			switch {
			case json.Unmarshal(p.Type, &one) == nil:
				isArray = one == "array"
			case json.Unmarshal(p.Type, &many) == nil:
				for _, m := range many {
					isArray = isArray || m == "array"
				}
			}
			return n, isArray
		}
	}
	return name, false
}

// scriptReply decides script mode's answer to body, a request to ep (seq numbers the call);
// base lends its delays, headers and chunking.
func scriptReply(ep Endpoint, body []byte, info reqInfo, seq int64, base Reply) Reply {
	conv := readConversation(ep, body)
	r := Reply{
		Chunks: base.Chunks, Header: base.Header, HeaderDelay: base.HeaderDelay,
		ChunkDelay: base.ChunkDelay, Model: base.Model,
	}
	switch {
	case conv.endsInTool:
		r.Text = ScriptToolOutputPrefix + strings.TrimSpace(conv.toolResult)
	default:
		if cmd, ok := directive(conv.userText, "run bash:"); ok {
			if call, ok := shellCall(conv.tools, cmd); ok {
				r.ToolCalls = []ToolCall{call}
			} else {
				r.Text = ScriptNoShellTool
			}
		} else if words, ok := directive(conv.userText, "say:"); ok {
			r.Text = words
		} else {
			r.Text = ScriptHello
		}
	}
	if ep == Messages && conv.thinking || ep == Responses && info.encryptedReasoning {
		r.Thinking = scriptThinking
		r.Signature = base64.StdEncoding.EncodeToString([]byte("fakeupstream signature " + strconv.FormatInt(seq, 10)))
	}
	return r
}
