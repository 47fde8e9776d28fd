package openai

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Valid bodies as clients send them. The gateway validates every request on its hot path,
// so validating a valid one must allocate nothing.
var (
	smallChat = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello!"}]}`)

	toolsChat = []byte(`{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":4096,"temperature":0.2,` +
		`"tools":[{"type":"function","function":{"name":"read_file","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}}],` +
		`"tool_choice":"auto","messages":[{"role":"system","content":"You are a coding agent."},` +
		`{"role":"user","content":[{"type":"text","text":"What is in main.go?"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"main.go\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"package main"}]}`)

	smallEmbeddings = []byte(`{"model":"text-embedding-3-small","input":["The food was delicious.","The waiter was friendly."],"encoding_format":"float"}`)
)

func TestValidateAllocs(t *testing.T) {
	tests := []struct {
		name     string
		validate func([]byte) (llm.Summary, []string)
		body     []byte
	}{
		{"chat", ValidateChat, smallChat},
		{"chat with tools", ValidateChat, toolsChat},
		{"embeddings", ValidateEmbeddings, smallEmbeddings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, problems := tt.validate(tt.body); len(problems) > 0 {
				t.Fatal(problems)
			}
			if n := testing.AllocsPerRun(100, func() { tt.validate(tt.body) }); n != 0 {
				t.Errorf("%v allocations, want 0", n)
			}
		})
	}
}

func BenchmarkValidateChat(b *testing.B) {
	b.Run("small", func(b *testing.B) { benchmarkValidate(b, ValidateChat, smallChat) })
	b.Run("tools", func(b *testing.B) { benchmarkValidate(b, ValidateChat, toolsChat) })
}

func BenchmarkValidateEmbeddings(b *testing.B) {
	benchmarkValidate(b, ValidateEmbeddings, smallEmbeddings)
}

func benchmarkValidate(b *testing.B, validate func([]byte) (llm.Summary, []string), body []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, problems := validate(body); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}
