package responses

import (
	"os"
	"testing"
)

// smallRequest is a valid Responses request as a coding agent sends it. The gateway validates
// every request on its hot path, so validating a valid one must allocate nothing.
var smallRequest = []byte(`{"model":"gpt-5-codex","instructions":"You are a coding agent.","input":[{"type":"message","role":"user",` +
	`"content":[{"type":"input_text","text":"Fix the failing test"}]}],"tools":[{"type":"function","name":"shell","parameters":{"type":"object"}}],` +
	`"tool_choice":"auto","stream":true,"store":false,"reasoning":{"effort":"medium","summary":"auto"}}`)

func TestValidateAllocs(t *testing.T) {
	codexTurn, err := os.ReadFile("testdata/request/codex_turn.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"small": smallRequest, "codex turn": codexTurn} {
		t.Run(name, func(t *testing.T) {
			if _, problems := Validate(body); len(problems) > 0 {
				t.Fatal(problems)
			}
			if n := testing.AllocsPerRun(100, func() { Validate(body) }); n != 0 {
				t.Errorf("%v allocations, want 0", n)
			}
		})
	}
}

func BenchmarkValidateSmall(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(smallRequest)))
	for b.Loop() {
		if _, problems := Validate(smallRequest); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}
