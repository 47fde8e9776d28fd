package responses

import (
	"os"
	"testing"
)

func BenchmarkTmpStream(b *testing.B) {
	in, _ := os.ReadFile("testdata/stream/text_tool_call.in.sse")
	req, _ := os.ReadFile("testdata/stream/text_tool_call.req.json")
	b.ReportAllocs()
	for b.Loop() {
		runStream(newTestStream(req), in)
	}
}
func BenchmarkTmpValidate(b *testing.B) {
	body, _ := os.ReadFile("testdata/request/codex_turn.json")
	b.ReportAllocs()
	for b.Loop() {
		Validate(body)
	}
}
func BenchmarkTmpConvert(b *testing.B) {
	body, _ := os.ReadFile("testdata/request/codex_turn.json")
	b.ReportAllocs()
	for b.Loop() {
		ResponsesToChatRequest(body, "")
	}
}
