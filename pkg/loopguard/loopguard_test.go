package loopguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

// The same conversations, in each format.
func TestCheck(t *testing.T) {
	grep := call{"Grep", `{"pattern":"func Check"}`}
	session := conv( // a working session: many rounds, a person writing now and then
		person("Fix the failing test in pkg/llm."), distinct(8), answer("Fixed."),
		person("Now run the tests."), distinct(10), rounds(2, bash("go test ./...")), answer("All pass."),
		person("Refactor the reader."), distinct(12))
	tests := []struct {
		name  string
		steps []step
		l     Limits
		want  string
	}{
		{"session passes", session, Limits{MaxMessages: 200, MaxToolRounds: 12, MaxRepeats: 3}, ""},
		{"off", conv(person("go"), rounds(50, bash("ls"))), Limits{}, ""},
		{"tool rounds at the limit", conv(person("go"), distinct(12)), Limits{MaxToolRounds: 12}, ""},
		{"tool rounds past the limit", conv(person("go"), distinct(13)), Limits{MaxToolRounds: 12}, ReasonToolRounds},
		{"tool rounds since the person wrote", conv(person("go"), distinct(10), answer("done"), person("again"), distinct(10)),
			Limits{MaxToolRounds: 12}, ""},
		{"answers do not end rounds", conv(person("go"), distinct(7), answer("halfway"), distinct(6)), Limits{MaxToolRounds: 12}, ReasonToolRounds},
		{"no person yet", distinct(13), Limits{MaxToolRounds: 12}, ReasonToolRounds},
		{"parallel calls are one round", conv(person("go"), repeat(6, round(read("/a"), read("/b"), grep))),
			Limits{MaxToolRounds: 6}, ""},
		{"repeats", conv(person("go"), distinct(3), rounds(5, read("/a"))), Limits{MaxRepeats: 5}, ReasonRepeats},
		{"repeats below the limit", conv(person("go"), distinct(3), rounds(4, read("/a"))), Limits{MaxRepeats: 5}, ""},
		{"repeats before tool rounds", conv(person("go"), distinct(20), rounds(5, read("/a"))),
			Limits{MaxMessages: 10, MaxToolRounds: 12, MaxRepeats: 5}, ReasonRepeats},
		{"repeats ignore white space", conv(person("go"), rounds(2, read("/a")), round(call{"Read", "{ \"file_path\" :\n \"/a\" }"}), rounds(2, read("/a"))),
			Limits{MaxRepeats: 5}, ReasonRepeats},
		{"repeats differ in input", conv(person("go"), rounds(4, read("/a")), round(read("/b"))), Limits{MaxRepeats: 2}, ""},
		{"repeats differ in tool", conv(person("go"), rounds(4, call{"Read", `{}`}), round(call{"LS", `{}`})), Limits{MaxRepeats: 2}, ""},
		{"repeats broken by another tool", conv(person("go"), rounds(2, read("/a")), round(grep), rounds(2, read("/a"))),
			Limits{MaxRepeats: 3}, ""},
		{"repeats broken by a person", conv(person("go"), rounds(2, read("/a")), answer("?"), person("go on"), rounds(2, read("/a"))),
			Limits{MaxRepeats: 3}, ""},
		{"repeats not at the end", conv(person("go"), rounds(5, read("/a")), round(read("/b"))), Limits{MaxRepeats: 3}, ""},
		{"repeated parallel calls", conv(person("go"), repeat(3, round(read("/a"), grep))), Limits{MaxRepeats: 3}, ReasonRepeats},
		{"repeated parallel calls in any order", conv(person("go"), round(read("/a"), grep), round(grep, read("/a")), round(read("/a"), grep)),
			Limits{MaxRepeats: 3}, ReasonRepeats},
		{"parallel calls compared as a set", conv(person("go"), round(read("/a"), grep), round(read("/a")), round(read("/a"), grep)),
			Limits{MaxRepeats: 3}, ""},
		{"parallel calls compared as a multiset", conv(person("go"), round(read("/a"), read("/a")), round(read("/a")), round(read("/a"), read("/a"))),
			Limits{MaxRepeats: 3}, ""},
		{"many repeats", conv(person("go"), rounds(40, read("/a"))), Limits{MaxRepeats: 30}, ReasonRepeats},
		{"many repeats broken", conv(person("go"), rounds(20, read("/a")), round(grep), rounds(19, read("/a"))), Limits{MaxRepeats: 20}, ""},
		{"more repeats than the ring on the stack", conv(person("go"), rounds(80, read("/a"))), Limits{MaxRepeats: 70}, ReasonRepeats},
		{"more repeats than the ring on the stack, broken", conv(person("go"), rounds(20, read("/a")), round(grep), rounds(69, read("/a"))),
			Limits{MaxRepeats: 70}, ""},
		{"repeats past any round the body holds", conv(person("go"), rounds(3, read("/a"))), Limits{MaxRepeats: 1 << 40}, ""},
	}
	for _, f := range formats {
		for _, tt := range tests {
			t.Run(string(f)+"/"+tt.name, func(t *testing.T) {
				v := Check(f, body(t, f, tt.steps), tt.l)
				if v.Reason != tt.want {
					t.Fatalf("Check = %+v, want reason %q", v, tt.want)
				}
				if v.Refused() != (v.Detail != "") {
					t.Fatalf("Check = %+v: a refusal has a detail, and only a refusal", v)
				}
			})
		}
	}
}

func TestCheckMessages(t *testing.T) {
	steps := conv(person("go"), distinct(4), answer("done"), person("more"), round(read("/a"), read("/b")))
	for _, f := range formats {
		b, n := render(f, steps, "ok")
		if v := Check(f, b, Limits{MaxMessages: n}); v.Refused() {
			t.Errorf("%s: %d messages at the limit: %+v", f, n, v)
		}
		if v := Check(f, b, Limits{MaxMessages: n - 1}); v.Reason != ReasonMessages {
			t.Errorf("%s: %d messages past the limit of %d: %+v", f, n, n-1, v)
		}
	}
}

func TestCheckDetail(t *testing.T) {
	tests := []struct {
		steps []step
		l     Limits
		want  string
	}{
		{conv(person("go"), distinct(40)), Limits{MaxToolRounds: 30},
			"the conversation has 40 consecutive tool rounds since the last user message, past the limit of 30 (LOOP_GUARD_MAX_TOOL_ROUNDS): " +
				"the agent may be looping; start a new turn or raise the limit"},
		{conv(person("go"), rounds(5, read("/a"))), Limits{MaxRepeats: 5},
			`the tool "Read" was called with the same input in the last 5 rounds in a row (LOOP_GUARD_MAX_REPEATS): ` +
				"the agent is repeating itself; interrupt it with new instructions or raise the limit"},
		{conv(person("go"), repeat(2, round(read("/a"), read("/b"), bash("ls")))), Limits{MaxRepeats: 2},
			`the same 3 tool calls (to "Bash", "Read") were made in the last 2 rounds in a row (LOOP_GUARD_MAX_REPEATS): ` +
				"the agent is repeating itself; interrupt it with new instructions or raise the limit"},
		{conv(person("go"), answer("hi"), person("go")), Limits{MaxMessages: 2},
			"the conversation has 3 messages, past the limit of 2 (LOOP_GUARD_MAX_MESSAGES): start a new conversation, compact this one, or raise the limit"},
	}
	for _, tt := range tests {
		// Anthropic: the message count of the last case is that of the steps.
		if v := Check(llm.FormatAnthropic, body(t, llm.FormatAnthropic, tt.steps), tt.l); v.Detail != tt.want {
			t.Errorf("Detail = %q\nwant     %q", v.Detail, tt.want)
		}
	}
}

// Cases only one format can express.
func TestCheckFormats(t *testing.T) {
	const (
		anthropic = llm.FormatAnthropic
		chat      = llm.FormatChat
		responses = llm.FormatResponses
	)
	aUse := `{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Read","input":{"file_path":"/a"}}]}`
	aResult := `{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]}`
	cCall := `{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"/a\"}"}}]}`
	cResult := `{"role":"tool","tool_call_id":"c","content":"ok"}`
	rCall := `{"type":"function_call","call_id":"c","name":"shell","arguments":"{\"command\":[\"ls\"]}"}`
	rResult := `{"type":"function_call_output","call_id":"c","output":"ok"}`
	rep := func(n int, s ...string) string {
		return strings.Repeat(strings.Join(s, ",")+",", n-1) + strings.Join(s, ",")
	}

	tests := []struct {
		name string
		f    llm.Format
		body string
		l    Limits
		want string
	}{
		{"anthropic string content is a person", anthropic,
			`{"messages":[` + rep(3, aUse, aResult) + `,{"role":"assistant","content":"done"},{"role":"user","content":"go on"},` + rep(2, aUse, aResult) + `]}`,
			Limits{MaxToolRounds: 2}, ""},
		{"anthropic text beside tool results is not a person", anthropic,
			`{"messages":[` + rep(2, aUse, aResult) + `,` + aUse + `,{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"},{"type":"text","text":"also check b"}]},` + rep(2, aUse, aResult) + `]}`,
			Limits{MaxToolRounds: 4}, ReasonToolRounds},
		{"anthropic image from a person", anthropic,
			`{"messages":[` + rep(3, aUse, aResult) + `,{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]},` + aUse + `]}`,
			Limits{MaxToolRounds: 1}, ""},
		{"anthropic server tools are not rounds", anthropic,
			`{"messages":[{"role":"user","content":"search"},{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{"query":"q"}}]}]}`,
			Limits{MaxToolRounds: 0, MaxRepeats: 2, MaxMessages: 5}, ""},
		{"anthropic names ignore case", anthropic,
			`{"Messages":[` + rep(3, strings.ReplaceAll(aUse, `"role"`, `"ROLE"`), aResult) + `]}`,
			Limits{MaxRepeats: 3}, ReasonRepeats},
		{"anthropic last duplicate wins", anthropic,
			`{"messages":[{"role":"user","content":"x"}],"messages":[` + rep(3, aUse, aResult) + `]}`,
			Limits{MaxToolRounds: 2}, ReasonToolRounds},
		{"chat arguments that are not JSON compare as text", chat,
			`{"messages":[` + rep(3, `{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"sh","arguments":"ls -la"}}]}`, cResult) + `]}`,
			Limits{MaxRepeats: 3}, ReasonRepeats},
		{"chat arguments that are not JSON differ in spaces", chat,
			`{"messages":[` + rep(2, `{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"sh","arguments":"ls -la"}}]}`, cResult) +
				`,{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"sh","arguments":"ls  -la"}}]}]}`,
			Limits{MaxRepeats: 3}, ""},
		{"chat arguments compare as compact JSON", chat,
			`{"messages":[` + cCall + `,` + cResult + `,{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"Read","arguments":"{ \"file_path\": \"/a\" }\n"}}]}]}`,
			Limits{MaxRepeats: 2}, ReasonRepeats},
		{"chat custom tool calls", chat,
			`{"messages":[` + rep(2, `{"role":"assistant","tool_calls":[{"type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch"}}]}`, cResult) + `]}`,
			Limits{MaxRepeats: 2}, ReasonRepeats},
		{"chat function_call", chat,
			`{"messages":[` + rep(2, `{"role":"assistant","content":null,"function_call":{"name":"Read","arguments":"{}"}}`, `{"role":"function","name":"Read","content":"ok"}`) + `]}`,
			Limits{MaxRepeats: 2}, ReasonRepeats},
		{"chat empty tool_calls is no round", chat,
			`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello","tool_calls":[]}]}`,
			Limits{MaxToolRounds: 0, MaxRepeats: 2, MaxMessages: 2}, ""},
		{"chat system messages are not a person", chat,
			`{"messages":[` + rep(2, cCall, cResult) + `,{"role":"system","content":"Be brief."},` + cCall + `]}`,
			Limits{MaxRepeats: 3}, ReasonRepeats},
		{"chat user content parts", chat,
			`{"messages":[` + rep(2, cCall, cResult) + `,{"role":"user","content":[{"type":"text","text":"stop"}]},` + cCall + `]}`,
			Limits{MaxRepeats: 2, MaxToolRounds: 1}, ""},
		{"responses string input", responses, `{"model":"gpt-5","input":"Hello"}`, Limits{MaxMessages: 1, MaxToolRounds: 1, MaxRepeats: 2}, ""},
		{"responses items without a type", responses,
			`{"input":[` + rep(2, rCall, rResult) + `,{"role":"user","content":"stop"},` + rCall + `]}`,
			Limits{MaxRepeats: 2}, ""},
		{"responses items without a type from the assistant", responses,
			`{"input":[` + rep(2, rCall, rResult) + `,{"role":"assistant","content":"hm"},` + rCall + `]}`,
			Limits{MaxRepeats: 3}, ReasonRepeats},
		{"responses parallel calls with reasoning between", responses,
			`{"input":[` + rep(3, `{"type":"reasoning","summary":[]}`, rCall, `{"type":"reasoning","summary":[]}`,
				`{"type":"custom_tool_call","call_id":"p","name":"apply_patch","input":"*** Begin Patch"}`, rResult,
				`{"type":"custom_tool_call_output","call_id":"p","output":"ok"}`) + `]}`,
			Limits{MaxToolRounds: 3, MaxRepeats: 3}, ReasonRepeats},
		{"responses parallel calls differ", responses,
			`{"input":[` + rep(2, rCall, `{"type":"custom_tool_call","name":"apply_patch","input":"a"}`, rResult) +
				`,` + rCall + `,{"type":"custom_tool_call","name":"apply_patch","input":"b"}]}`,
			Limits{MaxToolRounds: 3, MaxRepeats: 3}, ""},
		{"responses calls without outputs are one round", responses,
			`{"input":[` + rep(4, rCall) + `]}`, Limits{MaxToolRounds: 1}, ""},
		{"converse is not read", llm.FormatConverse, `{"messages":[` + rep(3, aUse, aResult) + `]}`, Limits{MaxMessages: 1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Check(tt.f, []byte(tt.body), tt.l)
			if v.Reason != tt.want {
				t.Fatalf("Check = %+v, want reason %q", v, tt.want)
			}
		})
	}
}

// Bodies Check cannot read pass, whatever the limits.
func TestCheckMalformed(t *testing.T) {
	loop := string(body(t, llm.FormatAnthropic, conv(person("go"), rounds(5, read("/a")))))
	bodies := []string{
		"", "null", "[]", `"messages"`, "{", `{"messages":`, `{"messages":[`, `{"messages":{}}`, `{"messages":"x"}`,
		`{"messages":[{"role":1}]}`, `{"input":7}`,
		loop[:len(loop)-1], loop[:len(loop)/2], loop + "x", strings.Replace(loop, `"role":"user"`, `"role":"user",`, 1),
	}
	for _, f := range formats {
		for _, b := range bodies {
			if v := Check(f, []byte(b), Limits{MaxMessages: 1, MaxToolRounds: 1, MaxRepeats: 2}); v.Refused() {
				t.Errorf("%s: Check(%.60q) = %+v, want it to pass", f, b, v)
			}
		}
	}
	if v := Check(llm.FormatAnthropic, []byte(loop), Limits{MaxRepeats: 5}); !v.Refused() {
		t.Fatal("the valid loop passes")
	}
	// Every prefix of a loop, cut anywhere.
	l := Limits{MaxMessages: 1, MaxToolRounds: 1, MaxRepeats: 2}
	for _, f := range formats {
		b := body(t, f, conv(person("go"), round(read("/a"), bash("ls")), round(bash("ls"), read("/a"))))
		if !Check(f, b, l).Refused() {
			t.Fatalf("%s: the valid loop passes", f)
		}
		for n := range len(b) {
			if v := Check(f, b[:n], l); v.Refused() {
				t.Fatalf("%s: Check(%q) = %+v, want it to pass", f, b[:n], v)
			}
		}
	}
}

// Conversations recorded from the clients, ending in a loop.
func TestCheckFixtures(t *testing.T) {
	tests := []struct {
		file string
		f    llm.Format
		l    Limits
		want string
	}{
		{"claude_code_loop.json", llm.FormatAnthropic, Limits{MaxMessages: 500, MaxToolRounds: 30, MaxRepeats: 3}, ReasonRepeats},
		{"claude_code_loop.json", llm.FormatAnthropic, Limits{MaxMessages: 500, MaxToolRounds: 30, MaxRepeats: 4}, ""},
		{"claude_code_loop.json", llm.FormatAnthropic, Limits{MaxToolRounds: 5}, ReasonToolRounds},
		{"claude_code_loop.json", llm.FormatAnthropic, Limits{MaxToolRounds: 6}, ""},
		{"codex_loop.json", llm.FormatResponses, Limits{MaxMessages: 500, MaxToolRounds: 30, MaxRepeats: 4}, ReasonRepeats},
		{"codex_loop.json", llm.FormatResponses, Limits{MaxMessages: 500, MaxToolRounds: 30, MaxRepeats: 5}, ""},
		{"codex_loop.json", llm.FormatResponses, Limits{MaxToolRounds: 6}, ReasonToolRounds},
		{"codex_loop.json", llm.FormatResponses, Limits{MaxToolRounds: 7}, ""},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if v := Check(tt.f, b, tt.l); v.Reason != tt.want {
			t.Errorf("%s with %+v: Check = %+v, want reason %q", tt.file, tt.l, v, tt.want)
		}
	}
}

func TestLimits(t *testing.T) {
	if (Limits{}).Enabled() {
		t.Error("zero limits are enabled")
	}
	for _, l := range []Limits{{MaxMessages: 1}, {MaxToolRounds: 1}, {MaxRepeats: 2}} {
		if !l.Enabled() {
			t.Errorf("%+v is not enabled", l)
		}
		if err := l.Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
	for _, l := range []Limits{{MaxMessages: -1}, {MaxToolRounds: -1}, {MaxRepeats: -1}, {MaxRepeats: 1}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v is valid", l)
		}
	}
}

// Letting a conversation through allocates nothing.
func TestCheckAllocs(t *testing.T) {
	steps := conv(person("go"), distinct(30), answer("done"), person("more"), distinct(15)) // fewer rounds than MaxRepeats: nothing to compare
	for _, f := range formats {
		b := body(t, f, steps)
		l := Limits{MaxMessages: 1000, MaxToolRounds: 100, MaxRepeats: 16}
		if n := testing.AllocsPerRun(20, func() { Check(f, b, l) }); n != 0 {
			t.Errorf("%s: %v allocations", f, n)
		}
	}
}
