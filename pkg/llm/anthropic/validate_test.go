package anthropic

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     llm.Summary
		problems []string
	}{
		{
			name: "minimal",
			body: `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}`,
			want: llm.Summary{Model: "claude-sonnet-4-5"},
		},
		{
			name: "claude code turn",
			body: `{"model":"claude-opus-4-5","max_tokens":32000,"stream":true,"temperature":1,
				"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral","ttl":"1h"}}],
				"thinking":{"type":"enabled","budget_tokens":31999},
				"metadata":{"user_id":"user_abc"},
				"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{}}},{"type":"web_search_20250305","name":"web_search","max_uses":8}],
				"tool_choice":{"type":"auto"},
				"messages":[
					{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]},
					{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"redacted_thinking","data":"abc"},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},
					{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":[{"type":"text","text":"no"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]},
						{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"}}]}]}`,
			want: llm.Summary{Model: "claude-opus-4-5", Stream: true},
		},
		{
			name:     "not JSON",
			body:     `{"model":`,
			problems: []string{"body is not valid JSON: unexpected end of JSON input"},
		},
		{
			name:     "not an object",
			body:     `[1]`,
			problems: []string{"body must be a JSON object, not an array"},
		},
		{
			name: "what lynkr does not know is not a problem",
			body: `{"model":"claude-opus-5-5","max_tokens":128000,"stream":true,
				"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"xhigh","task_budget":{"total":1}},
				"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},"speed":"fast",
				"tools":[{"name":"Bash","input_schema":{"type":"object"},"defer_loading":true},{"type":"tool_search_tool_regex_20251119","name":"tool_search"},{"type":"future_tool_20270101","name":"f","config":[1]}],
				"tool_choice":{"type":"future_choice"},
				"messages":[
					{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"5m","scope":"x"}}]},
					{"role":"system","content":"from here on, be brief"},
					{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}},{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","url":"u"}]},{"type":"compaction","content":"summary"},{"type":"future_block","text":{"nested":true}}]},
					{"role":"narrator","content":[{"type":"text","text":"x"}]}]}`,
			want: llm.Summary{Model: "claude-opus-5-5", Stream: true},
		},
		{
			name:     "empty object",
			body:     `{}`,
			problems: []string{"model is required", "messages is required"},
		},
		{
			name: "wrong types everywhere",
			body: `{"model":3,"max_tokens":0,"stream":"yes","temperature":3,"top_k":1.5,"stop_sequences":"END","system":7,"messages":{}}`,
			problems: []string{
				"model must be a string", "max_tokens must be positive", "stream must be a boolean",
				"temperature must be between 0 and 2", "top_k must be an integer", "stop_sequences must be an array",
				"system must be a string or an array of content blocks", "messages must be an array",
			},
		},
		{
			name: "bad messages",
			body: `{"model":"m","max_tokens":10,"messages":[
				{"role":5,"content":"x"},
				{"role":"user"},
				{"role":"assistant","content":5},
				{"role":"user","content":[{"kind":"video"},{"type":"text","text":7},{"type":"tool_use","id":"t","input":[]},{"type":"image","source":"here"}]},
				"nope"]}`,
			problems: []string{
				"messages[0].role must be a string",
				"messages[2].content must be a string or an array of content blocks",
				"messages[3].content[0].type is required",
				"messages[3].content[1].text must be a string",
				"messages[3].content[2].name is required",
				"messages[3].content[2].input must be an object",
				"messages[3].content[3].source must be an object",
				"messages[4] must be an object",
			},
		},
		{
			name: "bad tools and choices",
			body: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],
				"tools":[{"name":1},"t",{"name":"b","input_schema":"string"}],
				"tool_choice":{"type":"tool"},"thinking":{"type":"enabled","budget_tokens":"lots"}}`,
			problems: []string{
				"tools[0].name must be a string",
				"tools[1] must be an object",
				"tools[2].input_schema must be an object",
				"tool_choice.name is required",
				"thinking.budget_tokens must be an integer",
			},
		},
		{
			name:     "empty messages",
			body:     `{"model":"m","max_tokens":10,"messages":[]}`,
			want:     llm.Summary{Model: "m"},
			problems: []string{"messages must not be empty"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, problems := ValidateMessages([]byte(tc.body))
			if !slices.Equal(problems, tc.problems) {
				t.Errorf("problems\n got %q\nwant %q", problems, tc.problems)
			}
			if len(tc.problems) == 0 && sum != tc.want {
				t.Errorf("summary %+v, want %+v", sum, tc.want)
			}
		})
	}
}

func TestValidateCountTokens(t *testing.T) {
	tests := []struct {
		body     string
		problems []string
	}{
		{`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello"}]}`, nil},
		{`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello"}],"tools":[{"name":"x","input_schema":{"type":"object"}}],"system":"s"}`, nil},
		{`{"messages":[]}`, []string{"model is required", "messages must not be empty"}},
	}
	for _, tc := range tests {
		if _, problems := ValidateCountTokens([]byte(tc.body)); !slices.Equal(problems, tc.problems) {
			t.Errorf("%s:\n got %q\nwant %q", tc.body, problems, tc.problems)
		}
	}
}

func TestValidateMessagesCapsProblems(t *testing.T) {
	body := []byte(`{"model":"m","max_tokens":1,"messages":[` + repeat(`{"role":1,"content":1},`, 300) + `{"role":"user","content":"x"}]}`)
	_, problems := ValidateMessages(body)
	if len(problems) != maxProblems+1 || problems[maxProblems] != "and 500 more problems" {
		t.Errorf("got %d problems, last %q", len(problems), problems[len(problems)-1])
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

// TestValidateMessagesTodaysClients checks that what the real clients send today is valid.
func TestValidateMessagesTodaysClients(t *testing.T) {
	for _, name := range []string{"claude-code-2.1.332.messages.json", "claude-code-2.1.332.tool-result.messages.json"} {
		body, err := os.ReadFile(filepath.Join("..", "testdata", "clients", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, problems := ValidateMessages(body); len(problems) > 0 {
			t.Errorf("%s: %q", name, problems)
		}
	}
}
