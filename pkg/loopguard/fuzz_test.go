package loopguard

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Check never panics, refuses only JSON, and on JSON agrees with reference, which reads the
// conversation as the converters do, with encoding/json.
func FuzzCheck(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(20), uint8(5), uint8(3))
	}
	steps := conv(person("go"), round(read("/a"), bash("ls")), round(bash("ls"), read("/a")), answer("ok"), person("again"),
		rounds(2, read("/b")), round(call{"Read", "{ \"file_path\" : \"/b\" }"}))
	for _, fm := range formats {
		f.Add(body(f, fm, steps), uint8(10), uint8(2), uint8(3))
	}
	f.Add([]byte(`{"input":"hi"}`), uint8(1), uint8(1), uint8(2))
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"a","arguments":"{\"x\":\"\\ud800\"}"}}]}]}`), uint8(0), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, maxMessages, maxToolRounds, maxRepeats uint8) {
		l := Limits{MaxMessages: int(maxMessages % 32), MaxToolRounds: int(maxToolRounds % 16), MaxRepeats: int(maxRepeats % 8)}
		for _, fm := range formats {
			v := Check(fm, body, l)
			if v.Refused() {
				if !json.Valid(body) {
					t.Fatalf("%s: refused a body that is not JSON: %+v", fm, v)
				}
				if v.Detail == "" || !slices.Contains([]string{ReasonMessages, ReasonToolRounds, ReasonRepeats}, v.Reason) {
					t.Fatalf("%s: %+v", fm, v)
				}
			}
			if !json.Valid(body) || !utf8.Valid(body) { // encoding/json replaces bad UTF-8
				continue
			}
			if want := reference(fm, body, l); v.Reason != want {
				t.Fatalf("%s with %+v: Check = %+v, reference says %q", fm, l, v, want)
			}
		}
	})
}

// reference is Check written plainly: it decodes the body with encoding/json, as the
// converters do, and compares the calls of every round.
func reference(f llm.Format, body []byte, l Limits) string {
	if !l.Enabled() {
		return ""
	}
	var root struct{ Messages, Input json.RawMessage }
	_ = json.Unmarshal(body, &root)
	var items []json.RawMessage
	messages, rounds := 0, [][]string(nil) // the calls of each round since a person wrote
	isPerson := func() { rounds = nil }
	switch f {
	case llm.FormatAnthropic, llm.FormatChat:
		_ = json.Unmarshal(root.Messages, &items)
		for _, m := range items {
			messages++
			var msg struct {
				Role, Content json.RawMessage
				ToolCalls     json.RawMessage `json:"tool_calls"`
				FunctionCall  json.RawMessage `json:"function_call"`
			}
			_ = json.Unmarshal(m, &msg)
			switch {
			case f == llm.FormatAnthropic && refStr(msg.Role) == "user" && !refHasBlock(msg.Content, "tool_result"):
				isPerson()
			case f == llm.FormatAnthropic && refStr(msg.Role) == "assistant" && refHasBlock(msg.Content, "tool_use"):
				var calls []string
				for _, b := range refArray(msg.Content) {
					var blk struct{ Type, Name, Input json.RawMessage }
					_ = json.Unmarshal(b, &blk)
					if refStr(blk.Type) == "tool_use" {
						calls = append(calls, refCall(blk.Name, blk.Input))
					}
				}
				rounds = append(rounds, calls)
			case f == llm.FormatChat && refStr(msg.Role) == "user":
				isPerson()
			case f == llm.FormatChat && refStr(msg.Role) == "assistant" &&
				(len(refArray(msg.ToolCalls)) > 0 || bytes.HasPrefix(msg.FunctionCall, []byte("{"))):
				var calls []string
				for _, tc := range refArray(msg.ToolCalls) {
					var c struct{ Function, Custom json.RawMessage }
					_ = json.Unmarshal(tc, &c)
					var fn struct{ Name, Arguments, Input json.RawMessage }
					switch {
					case bytes.HasPrefix(c.Function, []byte("{")):
						_ = json.Unmarshal(c.Function, &fn)
						calls = append(calls, refCall(fn.Name, fn.Arguments))
					case bytes.HasPrefix(c.Custom, []byte("{")):
						_ = json.Unmarshal(c.Custom, &fn)
						calls = append(calls, refCall(fn.Name, fn.Input))
					}
				}
				if bytes.HasPrefix(msg.FunctionCall, []byte("{")) {
					var fn struct{ Name, Arguments json.RawMessage }
					_ = json.Unmarshal(msg.FunctionCall, &fn)
					calls = append(calls, refCall(fn.Name, fn.Arguments))
				}
				rounds = append(rounds, calls)
			}
		}
	case llm.FormatResponses:
		if bytes.HasPrefix(root.Input, []byte(`"`)) {
			messages = 1
			break
		}
		inRound := false
		for _, it := range refArray(root.Input) {
			messages++
			var item struct{ Type, Role, Name, Arguments, Input json.RawMessage }
			_ = json.Unmarshal(it, &item)
			switch refStr(item.Type) {
			case "function_call", "custom_tool_call":
				args := item.Arguments
				if refStr(item.Type) == "custom_tool_call" {
					args = item.Input
				}
				if !inRound {
					inRound = true
					rounds = append(rounds, nil)
				}
				rounds[len(rounds)-1] = append(rounds[len(rounds)-1], refCall(item.Name, args))
			case "function_call_output", "custom_tool_call_output":
				inRound = false
			case "", "message":
				if refStr(item.Role) == "user" {
					inRound = false
					isPerson()
				}
			}
		}
	}
	// A round whose calls name no tool (a tool_calls entry of neither kind) repeats nothing.
	if n := l.MaxRepeats; n > 0 && len(rounds) >= n && len(rounds[len(rounds)-1]) > 0 {
		last := rounds[len(rounds)-1]
		slices.Sort(last)
		same := true
		for _, r := range rounds[len(rounds)-n:] {
			slices.Sort(r)
			same = same && slices.Equal(r, last)
		}
		if same {
			return ReasonRepeats
		}
	}
	if l.MaxToolRounds > 0 && len(rounds) > l.MaxToolRounds {
		return ReasonToolRounds
	}
	if l.MaxMessages > 0 && messages > l.MaxMessages {
		return ReasonMessages
	}
	return ""
}

func refStr(v json.RawMessage) string {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

func refArray(v json.RawMessage) []json.RawMessage {
	var a []json.RawMessage
	if len(v) == 0 || v[0] != '[' {
		return nil
	}
	_ = json.Unmarshal(v, &a)
	return a
}

func refHasBlock(content json.RawMessage, typ string) bool {
	for _, b := range refArray(content) {
		var blk struct{ Type json.RawMessage }
		_ = json.Unmarshal(b, &blk)
		if refStr(blk.Type) == typ {
			return true
		}
	}
	return false
}

// refCall is a call as repeats compare it: the name, quoted, then the arguments as compact
// JSON, or as text when they are a string that is not JSON.
func refCall(name, args json.RawMessage) string {
	var b bytes.Buffer
	if len(args) > 0 && args[0] == '"' {
		if s := refStr(args); json.Valid([]byte(s)) {
			_ = json.Compact(&b, []byte(s))
		} else {
			b.WriteString(s)
		}
	} else {
		_ = json.Compact(&b, args)
	}
	return strconv.Quote(refStr(name)) + b.String()
}

// Check agrees with reference on conversations made of persons, answers and rounds of a few
// calls, some the same but for white space.
func FuzzConversation(f *testing.F) {
	f.Add([]byte{0, 2, 2, 2, 3, 1, 0, 4, 4, 4, 4}, uint8(12), uint8(3), uint8(3))
	f.Add([]byte{0, 0x22, 0x42, 0x22, 0x62, 0x22}, uint8(5), uint8(2), uint8(2))
	calls := []call{read("/a"), {"Read", "{ \"file_path\":\t\"/a\" }"}, read("/b"), bash("ls"), {"Read", `{"file_path":"/a","limit":10}`}, {"LS", "{}"}}
	f.Fuzz(func(t *testing.T, script []byte, maxMessages, maxToolRounds, maxRepeats uint8) {
		var steps []step
		for _, b := range script {
			switch b % 8 {
			case 0:
				steps = append(steps, person("go"))
			case 1:
				steps = append(steps, answer("ok"))
			default: // a round of one to three calls
				var cs []call
				for i := range int(b>>3)%3 + 1 {
					cs = append(cs, calls[(int(b%8)+i*int(b>>5))%len(calls)])
				}
				steps = append(steps, round(cs...))
			}
		}
		l := Limits{MaxMessages: int(maxMessages % 64), MaxToolRounds: int(maxToolRounds % 16), MaxRepeats: int(maxRepeats % 8)}
		for _, fm := range formats {
			b := body(t, fm, steps)
			if v, want := Check(fm, b, l), reference(fm, b, l); v.Reason != want {
				t.Fatalf("%s with %+v: Check = %+v, reference says %q\n%s", fm, l, v, want, b)
			}
		}
	})
}
