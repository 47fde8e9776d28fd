package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// agentConversation is an Anthropic Messages body: one question, then rounds of the assistant
// calling a tool and the tool's result. inputs gives each round's tool input.
func agentConversation(inputs []string) string {
	msgs := []string{`{"role":"user","content":"fix the failing test"}`}
	for i, in := range inputs {
		id := fmt.Sprintf("toolu_%02d", i)
		msgs = append(msgs,
			fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":%q,"name":"Read","input":%s}]}`, id, in),
			fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":%q,"content":"file contents"}]}`, id))
	}
	return `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[` + strings.Join(msgs, ",") + `]}`
}

// The loop guard refuses, before any provider sees it, a conversation whose agent keeps making
// the same tool call, or has run too many tool rounds since a person last wrote; a normal agent
// conversation goes through. The refusal is a 400 in the client's format that names the setting.
func TestLoopGuardRefusesARunawayAgentAndLetsANormalOneThrough(t *testing.T) {
	s := start(t, anthropicUpstream, map[string]string{"LOOP_GUARD_MAX_REPEATS": "4", "LOOP_GUARD_MAX_TOOL_ROUNDS": "30"})

	var varied []string
	for i := range 20 {
		varied = append(varied, fmt.Sprintf(`{"file_path":"src/file%d.go"}`, i))
	}
	resp, b := s.post(t, "/v1/messages", agentConversation(varied), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a normal agent conversation of 20 rounds: %d %s", resp.StatusCode, b)
	}
	calls := len(s.upstreamCalls())

	for _, tc := range []struct {
		name    string
		inputs  []string
		setting string
	}{
		{"the same call four times", append(varied[:3:3], `{"file_path":"a.go"}`, `{"file_path":"a.go"}`, `{"file_path":"a.go"}`, `{"file_path":"a.go"}`), "LOOP_GUARD_MAX_REPEATS"},
		{"31 tool rounds without a person", append(append([]string{}, varied...), varied[:11]...), "LOOP_GUARD_MAX_TOOL_ROUNDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := s.post(t, "/v1/messages", agentConversation(tc.inputs), nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Type != "error" || e.Error.Type != "invalid_request_error" {
				t.Fatalf("not an Anthropic error body: %s", b)
			}
			if !strings.Contains(e.Error.Message, "loop guard") || !strings.Contains(e.Error.Message, tc.setting) {
				t.Errorf("message %q should say it is the loop guard and name %s", e.Error.Message, tc.setting)
			}
		})
	}
	if got := len(s.upstreamCalls()); got != calls {
		t.Errorf("refused conversations reached the upstream: %d calls, want %d", got, calls)
	}
	fams, _ := scrape(t, s)
	if v, _ := sample(fams, "lynkr_loop_guard_refused_total", map[string]string{"reason": "repeats"}); v != 1 {
		t.Errorf("lynkr_loop_guard_refused_total{reason=repeats} = %v, want 1", v)
	}
	if v, _ := sample(fams, "lynkr_loop_guard_refused_total", map[string]string{"reason": "tool_rounds"}); v != 1 {
		t.Errorf("lynkr_loop_guard_refused_total{reason=tool_rounds} = %v, want 1", v)
	}
}
