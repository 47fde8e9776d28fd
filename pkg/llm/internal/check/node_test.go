package check

import (
	"testing"

	"github.com/tidwall/gjson"
)

// The checks read bodies with their own scanner, which must see what gjson sees: the same
// members and elements, with the same types, JSON text, numbers and strings.
func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[true,false,null,-1.5e3,"x\"y\\\\"],"c\u0064":{"e":{}},"a":" ","":[[],{}]}`))
	f.Add([]byte(` [ 1 , "\ud83d\ude00" , { "k" : [ ] } ] `))
	// Bodies of the kinds the gateway checks: messages, count_tokens, chat and embeddings.
	f.Add([]byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello, Claude"}]}`))
	f.Add([]byte(`{"model":"claude-sonnet-4-5","system":"You are Claude Code.","messages":[{"role":"user","content":[{"type":"text","text":"How many tokens is this?"}]}]}`))
	f.Add([]byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello!"}]}`))
	f.Add([]byte(`{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":4096,"temperature":0.2,` +
		`"tools":[{"type":"function","function":{"name":"read_file","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}}],` +
		`"tool_choice":"auto","messages":[{"role":"system","content":"You are a coding agent."},` +
		`{"role":"user","content":[{"type":"text","text":"What is in main.go?"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"main.go\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"package main"}]}`))
	f.Add([]byte(`{"model":"text-embedding-3-small","input":["The food was delicious.","The waiter was friendly."],"encoding_format":"float"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !gjson.ValidBytes(body) {
			return
		}
		var walk func(v gjson.Result)
		walk = func(v gjson.Result) {
			if !v.IsObject() && !v.IsArray() {
				return
			}
			var want, got []gjson.Result // keys and values, in turn
			v.ForEach(func(k, val gjson.Result) bool {
				want = append(want, k, val)
				return true
			})
			if v.IsObject() {
				for k, val := range Node(v).Members {
					got = append(got, gjson.Result{Str: k}, val)
				}
			} else {
				for i, val := range Node(v).Elems {
					got = append(got, gjson.Result{Num: float64(i)}, val)
				}
				if Node(v).Empty() != (len(want) == 0) {
					t.Fatalf("Node(%s).Empty() = %v", v.Raw, Node(v).Empty())
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d members or elements, gjson sees %d", v.Raw, len(got)/2, len(want)/2)
			}
			for i := 0; i < len(want); i += 2 {
				k, w, g := want[i], want[i+1], got[i+1]
				if v.IsObject() && got[i].Str != k.Str || v.IsArray() && got[i].Num != k.Num {
					t.Fatalf("%s: key %q, gjson sees %q", v.Raw, got[i].Str, k.Str)
				}
				if g.Type != w.Type || g.Raw != w.Raw || g.Num != w.Num && g.Num == g.Num || Unquote(g) != w.Str {
					t.Fatalf("%s: member %q is %+v, gjson sees %+v", v.Raw, k.Str, g, w)
				}
				walk(w)
			}
		}
		walk(gjson.ParseBytes(body))
	})
}
