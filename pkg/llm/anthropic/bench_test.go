package anthropic

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

func BenchmarkValidateMessages(b *testing.B) {
	body, err := os.ReadFile("testdata/messages_to_chat_request/claude_code.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, problems := ValidateMessages(body); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

func BenchmarkMessagesToChatRequest(b *testing.B) {
	body, err := os.ReadFile("testdata/messages_to_chat_request/claude_code.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := MessagesToChatRequest(body, llm.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChatToMessagesStream(b *testing.B) {
	req, _ := os.ReadFile("testdata/chat_to_messages/text_tool_call.req.json")
	in, _ := os.ReadFile("testdata/chat_to_messages/text_tool_call.in.sse")
	var events []sse.Event
	r := sse.NewReader(bytes.NewReader(in), 0)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		events = append(events, ev)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		s := NewChatToMessagesStream(req)
		for _, ev := range events {
			if _, err := s.Next(ev); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateMessagesLarge validates a long Claude Code conversation (about 600 KB),
// the size at which the validator's passes over the body count.
func BenchmarkValidateMessagesLarge(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"model":"claude-sonnet-4-5","messages":[`)
	for i := range 400 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"` + strings.Repeat("line of file content ", 40) + `"}]},`)
		buf.WriteString(`{"role":"assistant","content":[{"type":"text","text":"Reading the next file."},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"/repo/main.go"}}]}`)
	}
	buf.WriteString(`],"system":"You are Claude Code.","tools":[{"name":"Read","input_schema":{"type":"object"}}],"metadata":{"user_id":"u"},"max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":31999},"stream":true,"temperature":1}`)
	body := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, problems := ValidateMessages(body); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}
