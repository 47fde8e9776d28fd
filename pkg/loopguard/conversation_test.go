package loopguard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

// A conversation written once and rendered in each format, as its clients send it: Claude
// Code for Anthropic Messages, an OpenAI Chat agent, Codex for Responses.

// call is one tool call: the tool's name and its input as the model wrote it (JSON text).
type call struct{ name, input string }

// step is a person writing (person), the assistant answering in text (text), or a tool
// round (calls, in parallel).
type step struct {
	person, text string
	calls        []call
}

func person(text string) step     { return step{person: text} }
func answer(text string) step     { return step{text: text} }
func round(calls ...call) step    { return step{calls: calls} }
func read(path string) call       { return call{"Read", `{"file_path":"` + path + `"}`} }
func bash(command string) call    { return call{"Bash", `{"command":"` + command + `"}`} }
func rounds(n int, c call) []step { return repeat(n, round(c)) }

// repeat returns n copies of s.
func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// distinct returns n rounds, each reading another file.
func distinct(n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = round(read(fmt.Sprintf("/repo/pkg/file%d.go", i)))
	}
	return out
}

// conv joins steps and runs of steps into one conversation.
func conv(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("conv: %T", p))
		}
	}
	return out
}

var formats = []llm.Format{llm.FormatAnthropic, llm.FormatChat, llm.FormatResponses}

// js returns v as JSON text.
func js(v any) string {
	b, err := llm.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// render returns the request body of the conversation in format f, and the number of
// messages (or input items) in it. result is the text of each tool result.
func render(f llm.Format, steps []step, result string) ([]byte, int) {
	var msgs []string
	id := 0
	for i, s := range steps {
		switch {
		case s.person != "":
			switch f {
			case llm.FormatAnthropic:
				msgs = append(msgs, `{"role":"user","content":[{"type":"text","text":`+js(s.person)+`}]}`)
			case llm.FormatChat:
				msgs = append(msgs, `{"role":"user","content":`+js(s.person)+`}`)
			case llm.FormatResponses:
				msgs = append(msgs, `{"type":"message","role":"user","content":[{"type":"input_text","text":`+js(s.person)+`}]}`)
			}
		case s.text != "":
			switch f {
			case llm.FormatAnthropic:
				msgs = append(msgs, `{"role":"assistant","content":`+js(s.text)+`}`)
			case llm.FormatChat:
				msgs = append(msgs, `{"role":"assistant","content":`+js(s.text)+`}`)
			case llm.FormatResponses:
				msgs = append(msgs, `{"type":"message","role":"assistant","content":[{"type":"output_text","text":`+js(s.text)+`}]}`)
			}
		default:
			var calls, results []string
			for _, c := range s.calls {
				id++
				switch f {
				case llm.FormatAnthropic:
					calls = append(calls, fmt.Sprintf(`{"type":"tool_use","id":"toolu_%03d","name":%s,"input":%s}`, id, js(c.name), c.input))
					results = append(results, fmt.Sprintf(`{"type":"tool_result","tool_use_id":"toolu_%03d","content":%s}`, id, js(result)))
				case llm.FormatChat:
					calls = append(calls, fmt.Sprintf(`{"id":"call_%03d","type":"function","function":{"name":%s,"arguments":%s}}`, id, js(c.name), js(c.input)))
					results = append(results, fmt.Sprintf(`{"role":"tool","tool_call_id":"call_%03d","content":%s}`, id, js(result)))
				case llm.FormatResponses:
					calls = append(calls, fmt.Sprintf(`{"type":"function_call","call_id":"call_%03d","name":%s,"arguments":%s}`, id, js(c.name), js(c.input)))
					results = append(results, fmt.Sprintf(`{"type":"function_call_output","call_id":"call_%03d","output":%s}`, id, js(result)))
				}
			}
			switch f {
			case llm.FormatAnthropic:
				msgs = append(msgs, `{"role":"assistant","content":[{"type":"thinking","thinking":"Next I look at the code.","signature":"EqQBCkYIBxgCKkDn"},{"type":"text","text":"Let me check."},`+strings.Join(calls, ",")+`]}`)
				if i%3 == 2 { // Claude Code adds reminders next to tool results
					results = append(results, `{"type":"text","text":"<system-reminder>\nThe TodoWrite tool hasn't been used recently.\n</system-reminder>"}`)
				}
				msgs = append(msgs, `{"role":"user","content":[`+strings.Join(results, ",")+`]}`)
			case llm.FormatChat:
				msgs = append(msgs, `{"role":"assistant","content":null,"tool_calls":[`+strings.Join(calls, ",")+`]}`)
				msgs = append(msgs, results...)
			case llm.FormatResponses:
				msgs = append(msgs, `{"type":"reasoning","summary":[],"encrypted_content":"gAAAAABo"}`)
				msgs = append(msgs, calls...)
				msgs = append(msgs, results...)
			}
		}
	}
	var b bytes.Buffer
	switch f {
	case llm.FormatAnthropic:
		b.WriteString(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,` +
			`"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}}],` +
			`"tools":[{"name":"Read","description":"Reads a file.","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}},` +
			`{"name":"Bash","description":"Runs a command.","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],` +
			`"messages":[`)
	case llm.FormatChat:
		b.WriteString(`{"model":"gpt-4.1","stream":true,"tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object"}}}],` +
			`"messages":[{"role":"system","content":"You are a coding agent."}`)
		msgs = append([]string{""}, msgs...) // the system message
	case llm.FormatResponses:
		b.WriteString(`{"model":"gpt-5-codex","instructions":"You are Codex.","store":false,"stream":true,` +
			`"tools":[{"type":"function","name":"shell","parameters":{"type":"object"}}],"input":[`)
	}
	for i, m := range msgs {
		if m == "" {
			continue
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m)
	}
	b.WriteString(`]}`)
	if !json.Valid(b.Bytes()) {
		panic("render: invalid JSON")
	}
	return b.Bytes(), len(msgs)
}

// body renders steps in format f for a test.
func body(t testing.TB, f llm.Format, steps []step) []byte {
	t.Helper()
	b, _ := render(f, steps, "ok")
	return b
}
