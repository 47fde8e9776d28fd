package anthropic

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Valid bodies as clients send them. The gateway validates every request on its hot path,
// so validating a valid one must allocate nothing.
var (
	smallMessages = []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello, Claude"}]}`)

	smallCountTokens = []byte(`{"model":"claude-sonnet-4-5","system":"You are Claude Code.","messages":[{"role":"user","content":[{"type":"text","text":"How many tokens is this?"}]}]}`)

	claudeCode100KB = claudeCodeBody(100 << 10)
)

// claudeCodeBody builds a Claude Code turn of about size bytes: a cached system prompt, a
// dozen tools with their schemas, and a conversation of reads, edits and thinking.
func claudeCodeBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"temperature":1,` +
		`"metadata":{"user_id":"user_0123456789abcdef_account__session_01234567-89ab-cdef-0123-456789abcdef"},` +
		`"thinking":{"type":"enabled","budget_tokens":31999},` +
		`"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."},` +
		`{"type":"text","text":"` + strings.Repeat(`You are an interactive CLI tool that helps users with software engineering tasks.\n`, 60) + `","cache_control":{"type":"ephemeral"}}],`)
	b.WriteString(`"tools":[`)
	for i, name := range []string{"Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch"} {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":%q,"description":"%s","input_schema":{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file"},`+
			`"limit":{"type":"number","description":"The number of lines to read"}},"required":["file_path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}}`,
			name, strings.Repeat(`Use this tool to work with files in the repository. `, 12))
	}
	b.WriteString(`],"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>\nAs you answer the user's questions, you can use the following context.\n</system-reminder>"},{"type":"text","text":"Fix the failing test in pkg/llm."}]}`)
	for i := 0; b.Len() < size-600; i++ {
		fmt.Fprintf(&b, `,{"role":"assistant","content":[{"type":"thinking","thinking":"I should read the file next.","signature":"EqQBCkYIBxgCKkDn"},`+
			`{"type":"text","text":"Reading the next file."},{"type":"tool_use","id":"toolu_%02d","name":"Read","input":{"file_path":"/repo/pkg/file%d.go"}}]}`, i, i)
		fmt.Fprintf(&b, `,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%02d","content":"%s"}]}`, i, strings.Repeat(`     1\tpackage llm\n`, 90))
	}
	b.WriteString(`,{"role":"assistant","content":"Done."},{"role":"user","content":[{"type":"text","text":"Thanks, now run the tests.","cache_control":{"type":"ephemeral"}}]}]}`)
	return b.Bytes()
}

func TestValidateAllocs(t *testing.T) {
	claudeCode, err := os.ReadFile("testdata/messages_to_chat_request/claude_code.in.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		validate func([]byte) (llm.Summary, []string)
		body     []byte
	}{
		{"messages", ValidateMessages, smallMessages},
		{"count tokens", ValidateCountTokens, smallCountTokens},
		{"claude code turn", ValidateMessages, claudeCode},
		{"claude code 100KB", ValidateMessages, claudeCode100KB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, problems := tt.validate(tt.body); len(problems) > 0 {
				t.Fatal(problems)
			}
			if n := testing.AllocsPerRun(20, func() { tt.validate(tt.body) }); n != 0 {
				t.Errorf("%v allocations, want 0", n)
			}
		})
	}
}

func BenchmarkValidateMessagesSmall(b *testing.B) {
	benchmarkValidate(b, ValidateMessages, smallMessages)
}

func BenchmarkValidateMessagesClaudeCode100KB(b *testing.B) {
	benchmarkValidate(b, ValidateMessages, claudeCode100KB)
}

func BenchmarkValidateCountTokens(b *testing.B) {
	benchmarkValidate(b, ValidateCountTokens, smallCountTokens)
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
