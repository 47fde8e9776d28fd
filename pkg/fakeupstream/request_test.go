package fakeupstream

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScanRequest(t *testing.T) {
	tests := []struct {
		name, body   string
		model        string
		stream       bool
		includeUsage bool
	}{
		{"plain", `{"model":"gpt-4o","stream":true}`, "gpt-4o", true, false},
		{"spaces", " {\n \"model\" : \"m\" ,\t\"stream\" : false }", "m", false, false},
		{"usage", `{"stream_options":{"include_usage":true},"stream":true,"model":"x"}`, "x", true, true},
		{"usage false", `{"stream_options":{"include_usage":false},"stream":true}`, "", true, false},
		{"nested model ignored", `{"messages":[{"model":"no","stream":true}],"metadata":{"model":"no"},"model":"yes"}`, "yes", false, false},
		{"strings hold braces", `{"messages":[{"content":"}{\"model\":\"no\"]"}],"model":"ok"}`, "ok", false, false},
		{"escaped model", `{"model":"a\"b\u00e9"}`, "a\"bé", false, false},
		{"escaped key", `{"mod\u0065l":"k","str\u0065am":true}`, "k", true, false},
		{"last duplicate wins", `{"model":"a","model":"b","stream":true,"stream":false}`, "b", false, false},
		{"non-string model", `{"model":7}`, "", false, false},
		{"stream is not true", `{"stream":"true"}`, "", false, false},
		{"null options", `{"stream_options":null}`, "", false, false},
		{"array", `[{"model":"x"}]`, "", false, false},
		{"empty", ``, "", false, false},
		{"truncated", `{"model":"x","stream":tr`, "x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanRequest([]byte(tt.body))
			if string(got.model) != tt.model || got.stream != tt.stream || got.includeUsage != tt.includeUsage {
				t.Errorf("scanRequest(%q) = {%q %v %v}, want {%q %v %v}", tt.body,
					got.model, got.stream, got.includeUsage, tt.model, tt.stream, tt.includeUsage)
			}
		})
	}
}

func TestScanRequestDoesNotAllocate(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi {\"x\":[1]}"}],"stream":true,"stream_options":{"include_usage":true}}`)
	var info reqInfo
	allocs := testing.AllocsPerRun(100, func() { info = scanRequest(body) })
	if allocs != 0 {
		t.Errorf("scanRequest allocates %v times per call, want 0", allocs)
	}
	if string(info.model) != "gpt-4o" || !info.stream || !info.includeUsage {
		t.Errorf("scanRequest = %+v", info)
	}
}

// FuzzScanRequest checks the scanner against encoding/json on valid objects, and that it
// never panics on anything else.
func FuzzScanRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":"x"}],"model":"m\n"}`,
		`{"model":"a","model":"b"}`, `{"stream_options":[1,{"include_usage":true}]}`,
		`{"mod\u0065l":"k"}`, `[]`, `{"a":{"b":[{"c":"]}"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := scanRequest(body)
		if !json.Valid(body) || !utf8.Valid(body) {
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil {
			return // valid JSON but not an object
		}
		var wantModel string
		var want reqInfo
		if raw, ok := top["model"]; ok && json.Unmarshal(raw, &wantModel) == nil && strings.HasPrefix(string(raw), `"`) {
			want.model = []byte(wantModel)
		}
		want.stream = string(top["stream"]) == "true"
		var opts map[string]json.RawMessage
		if json.Unmarshal(top["stream_options"], &opts) == nil {
			want.includeUsage = string(opts["include_usage"]) == "true"
		}
		if string(got.model) != string(want.model) || got.stream != want.stream || got.includeUsage != want.includeUsage {
			t.Errorf("scanRequest(%q) = {%q %v %v}, encoding/json says {%q %v %v}", body,
				got.model, got.stream, got.includeUsage, want.model, want.stream, want.includeUsage)
		}
	})
}

func TestSplit(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want []string
	}{
		{"", 3, nil},
		{"abcdef", 3, []string{"ab", "cd", "ef"}},
		{"abcde", 2, []string{"ab", "cde"}},
		{"ab", 5, []string{"a", "b"}},
		{"héllo", 5, []string{"h", "é", "l", "l", "o"}},
		{"echo: hello world", 0, []string{"echo:", " hello", " world"}},
		{"  lead  and\ttrail ", 0, []string{"  lead", "  and", "\ttrail", " "}},
		{`{"a":1}`, 1, []string{`{"a":1}`}},
	}
	for _, tt := range tests {
		got := Split(tt.s, tt.n)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("Split(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello wide world", 3)
	f.Add("日本語のテキスト", 0)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 100
		got := Split(s, n)
		if strings.Join(got, "") != s {
			t.Fatalf("Split(%q, %d) = %q does not join back", s, n, got)
		}
		for _, p := range got {
			if p == "" {
				t.Fatalf("Split(%q, %d) = %q has an empty piece", s, n, got)
			}
		}
		if n > 0 && len(got) > n {
			t.Fatalf("Split(%q, %d) gave %d pieces", s, n, len(got))
		}
	})
}

func TestLastUserText(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"openai string", `{"messages":[{"role":"system","content":"s"},{"role":"user","content":"one"},{"role":"assistant","content":"a"},{"role":"user","content":"two"}]}`, "two"},
		{"openai parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}]}`, "ab"},
		{"after tool message", `{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"r","tool_call_id":"c"}]}`, "q"},
		{"anthropic tool result", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"42"}]}]}]}`, "42"},
		{"responses string", `{"input":"x"}`, "x"},
		{"responses items", `{"input":[{"role":"user","content":"one"},{"type":"message","role":"user","content":[{"type":"input_text","text":"t"},{"type":"input_text","text":"wo"}]},{"type":"function_call_output","call_id":"c","output":"r"}]}`, "two"},
		{"no messages", `{"prompt":"x"}`, ""},
	}
	for _, tt := range tests {
		if got := lastUserText([]byte(tt.body)); got != tt.want {
			t.Errorf("%s: lastUserText = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s", "nl\n\r\t", "ctl\x00\x1f\x7f", "<a&b>", "é日本", "bad\xffutf8", "\u2028"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("appendString(%q) decodes to %q, want %q", s, back, want)
		}
	}
	if got := string(appendString(nil, "<&>")); got != `"<&>"` {
		t.Errorf("appendString escapes HTML: %s", got)
	}
}
