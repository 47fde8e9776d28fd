package loopguard

import "github.com/lynkr/lynkr/pkg/llm"

// How each format's conversation reads: who wrote each message, which turns call tools, and
// the calls of a round. Each reader is handed the offset of the conversation (messages or
// input) in the body s and returns the offset just after it.

// read tallies the conversation of the body s in format f. A conversation given twice is
// read twice: the second wins, as it does when encoding/json decodes the body.
func (t *tally) read(f llm.Format, s string) {
	object(s, skipSpace(s, 0), func(k string, v int) int {
		switch {
		case f == llm.FormatAnthropic && is(k, "messages"):
			return t.anthropic(s, v)
		case f == llm.FormatChat && is(k, "messages"):
			return t.chat(s, v)
		case f == llm.FormatResponses && is(k, "input"):
			return t.responses(s, v)
		}
		return skip(s, v)
	})
}

// anthropic reads the messages of an Anthropic Messages request.
func (t *tally) anthropic(s string, v int) int {
	t.reset()
	return array(s, v, func(m int) int {
		t.messages++
		var role string
		var results, uses bool // content holds tool_result, tool_use blocks
		end := object(s, m, func(k string, v int) int {
			switch {
			case is(k, "role"):
				return field(s, v, &role)
			case is(k, "content"):
				results, uses = false, false
				return array(s, v, func(b int) int {
					var typ string
					end := object(s, b, func(k string, v int) int {
						if is(k, "type") {
							return field(s, v, &typ)
						}
						return skip(s, v)
					})
					switch str(typ) {
					case "tool_result":
						results = true
					case "tool_use":
						uses = true
					}
					return end
				})
			}
			return skip(s, v)
		})
		if end < 0 {
			return -1
		}
		switch str(role) {
		case "user":
			if !results {
				t.person()
			}
		case "assistant":
			if uses {
				t.round(s[m:end])
			}
		}
		return end
	})
}

// anthropicCalls calls add with each tool_use block of the assistant message m.
func anthropicCalls(m string, add func(name, args string)) {
	content := get(m, "content")
	array(content, 0, func(b int) int {
		var typ, name, input string
		end := object(content, b, func(k string, v int) int {
			switch {
			case is(k, "type"):
				return field(content, v, &typ)
			case is(k, "name"):
				return field(content, v, &name)
			case is(k, "input"):
				return field(content, v, &input)
			}
			return skip(content, v)
		})
		if str(typ) == "tool_use" {
			add(str(name), input)
		}
		return end
	})
}

// chat reads the messages of an OpenAI Chat Completions request.
func (t *tally) chat(s string, v int) int {
	t.reset()
	return array(s, v, func(m int) int {
		t.messages++
		var role string
		var calls, functionCall bool // tool_calls is not empty, function_call is set
		end := object(s, m, func(k string, v int) int {
			switch {
			case is(k, "role"):
				return field(s, v, &role)
			case is(k, "tool_calls"):
				calls = false
				return array(s, v, func(c int) int {
					calls = true
					return skip(s, c)
				})
			case is(k, "function_call"):
				functionCall = v < len(s) && s[v] == '{'
			}
			return skip(s, v)
		})
		if end < 0 {
			return -1
		}
		switch str(role) {
		case "user":
			t.person()
		case "assistant":
			if calls || functionCall {
				t.round(s[m:end])
			}
		}
		return end
	})
}

// chatCalls calls add with each tool call of the assistant message m: its tool_calls, of
// type function or custom, and the deprecated function_call.
func chatCalls(m string, add func(name, args string)) {
	var toolCalls, functionCall string
	object(m, 0, func(k string, v int) int {
		switch {
		case is(k, "tool_calls"):
			return field(m, v, &toolCalls)
		case is(k, "function_call"):
			return field(m, v, &functionCall)
		}
		return skip(m, v)
	})
	array(toolCalls, 0, func(c int) int {
		var function, custom string
		end := object(toolCalls, c, func(k string, v int) int {
			switch {
			case is(k, "function"):
				return field(toolCalls, v, &function)
			case is(k, "custom"):
				return field(toolCalls, v, &custom)
			}
			return skip(toolCalls, v)
		})
		if isObject(function) {
			add(str(get(function, "name")), get(function, "arguments"))
		} else if isObject(custom) {
			add(str(get(custom, "name")), get(custom, "input"))
		}
		return end
	})
	if isObject(functionCall) {
		add(str(get(functionCall, "name")), get(functionCall, "arguments"))
	}
}

// Responses item types that call a tool, and that answer a call.
const (
	itemFunctionCall       = "function_call"
	itemCustomToolCall     = "custom_tool_call"
	itemFunctionCallOutput = "function_call_output"
	itemCustomToolOutput   = "custom_tool_call_output"
)

// responses reads the input of an OpenAI Responses request. A round is the run of call items
// from the first call after an output (or a person's message) to the last call before the
// next output, so parallel calls are one round even with reasoning items between them; its
// JSON text is the run's text in the input array.
func (t *tally) responses(s string, v int) int {
	t.reset()
	if v < len(s) && s[v] == '"' {
		t.messages++
		t.person()
		return skip(s, v)
	}
	inRound, start := false, 0
	return array(s, v, func(it int) int {
		t.messages++
		var typ, role string
		end := object(s, it, func(k string, v int) int {
			switch {
			case is(k, "type"):
				return field(s, v, &typ)
			case is(k, "role"):
				return field(s, v, &role)
			}
			return skip(s, v)
		})
		if end < 0 {
			return -1
		}
		switch str(typ) {
		case itemFunctionCall, itemCustomToolCall:
			if !inRound {
				inRound, start = true, it
				t.round(s[it:end])
			} else {
				t.extend(s[start:end])
			}
		case itemFunctionCallOutput, itemCustomToolOutput:
			inRound = false
		case "", "message":
			if str(role) == "user" {
				inRound = false
				t.person()
			}
		}
		return end
	})
}

// responsesCalls calls add with each call item of run, a run of input items.
func responsesCalls(run string, add func(name, args string)) {
	elements(run, 0, func(it int) int {
		var typ, name, arguments, input string
		end := object(run, it, func(k string, v int) int {
			switch {
			case is(k, "type"):
				return field(run, v, &typ)
			case is(k, "name"):
				return field(run, v, &name)
			case is(k, "arguments"):
				return field(run, v, &arguments)
			case is(k, "input"):
				return field(run, v, &input)
			}
			return skip(run, v)
		})
		switch str(typ) {
		case itemFunctionCall:
			add(str(name), arguments)
		case itemCustomToolCall:
			add(str(name), input)
		}
		return end
	})
}
