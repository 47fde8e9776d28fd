package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestToolHistoryConverted checks that a conversation's earlier tool calls and their results
// reach an upstream of the other format intact: ids paired, arguments equal, results in
// order.
func TestToolHistoryConverted(t *testing.T) {
	t.Run("anthropic client to openai upstream", func(t *testing.T) {
		s := start(t, openAIUpstream, nil)
		body := `{"model":"claude-sonnet-4-5","max_tokens":100,
		"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"read_file","input_schema":{"type":"object"}}],
		"messages":[
		 {"role":"user","content":"weather and file?"},
		 {"role":"assistant","content":[{"type":"text","text":"Checking."},
		   {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris","days":[1,2]}},
		   {"type":"tool_use","id":"toolu_02","name":"read_file","input":{"path":"/tmp/a b.txt"}}]},
		 {"role":"user","content":[
		   {"type":"tool_result","tool_use_id":"toolu_01","content":"sunny, 21°C"},
		   {"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"no such file"}],"is_error":true}]}]}`
		if resp, b := s.post(t, "/v1/messages", body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		var up struct {
			Messages []struct {
				Role       string          `json:"role"`
				Content    json.RawMessage `json:"content"`
				ToolCallID string          `json:"tool_call_id"`
				ToolCalls  []struct {
					ID       string `json:"id"`
					Type     string `json:"type"`
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			} `json:"messages"`
		}
		raw := s.lastCall().Body
		if err := json.Unmarshal(raw, &up); err != nil {
			t.Fatal(err)
		}
		m := up.Messages
		if len(m) != 4 || m[1].Role != "assistant" || len(m[1].ToolCalls) != 2 || m[2].Role != "tool" || m[3].Role != "tool" {
			t.Fatalf("upstream messages: %s", raw)
		}
		if (chatMessage{Content: m[1].Content}).text() != "Checking." {
			t.Errorf("assistant text lost: %s", m[1].Content)
		}
		for i, want := range []struct{ id, name, args string }{
			{"toolu_01", "get_weather", `{"city":"Paris","days":[1,2]}`},
			{"toolu_02", "read_file", `{"path":"/tmp/a b.txt"}`},
		} {
			tc := m[1].ToolCalls[i]
			if tc.ID != want.id || tc.Type != "function" || tc.Function.Name != want.name || canonical(t, []byte(tc.Function.Arguments)) != canonical(t, []byte(want.args)) {
				t.Errorf("tool call %d: %+v, want %+v", i, tc, want)
			}
		}
		if m[2].ToolCallID != "toolu_01" || (chatMessage{Content: m[2].Content}).text() != "sunny, 21°C" ||
			m[3].ToolCallID != "toolu_02" || (chatMessage{Content: m[3].Content}).text() == "" {
			t.Errorf("tool results: %s", raw)
		}
	})
	t.Run("chat client to anthropic upstream", func(t *testing.T) {
		s := start(t, anthropicUpstream, nil)
		body := `{"model":"claude-sonnet-4-5","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
		"messages":[{"role":"user","content":"weather?"},
		 {"role":"assistant","content":null,"tool_calls":[
		   {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
		   {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
		 {"role":"tool","tool_call_id":"call_1","content":"sunny"},
		 {"role":"tool","tool_call_id":"call_2","content":"snow"}]}`
		if resp, b := s.post(t, "/v1/chat/completions", body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		type block struct {
			Type      string          `json:"type"`
			ID        string          `json:"id"`
			Name      string          `json:"name"`
			Input     json.RawMessage `json:"input"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
		}
		var up struct {
			Messages []struct {
				Role    string          `json:"role"`
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		raw := s.lastCall().Body
		if err := json.Unmarshal(raw, &up); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		type message struct {
			Role    string
			Content []block
		}
		var m []message
		for _, um := range up.Messages {
			var blocks []block
			_ = json.Unmarshal(um.Content, &blocks) // a string content has no blocks
			m = append(m, message{um.Role, blocks})
		}
		// Anthropic wants every result of one turn in the one user message that follows it.
		if len(m) != 3 || m[1].Role != "assistant" || len(m[1].Content) != 2 || m[2].Role != "user" || len(m[2].Content) != 2 {
			t.Fatalf("upstream messages: %s", raw)
		}
		for i, want := range []struct{ id, city, result string }{{"call_1", "Paris", "sunny"}, {"call_2", "Oslo", "snow"}} {
			use, res := m[1].Content[i], m[2].Content[i]
			if use.Type != "tool_use" || use.ID != want.id || use.Name != "get_weather" || canonical(t, use.Input) != `{"city":"`+want.city+`"}` {
				t.Errorf("tool_use %d: %+v", i, use)
			}
			if res.Type != "tool_result" || res.ToolUseID != want.id || (chatMessage{Content: res.Content}).text() != want.result {
				t.Errorf("tool_result %d: %+v (%s)", i, res, res.Content)
			}
		}
	})
}
