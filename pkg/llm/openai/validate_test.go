package openai

import (
	"slices"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

func TestValidateChat(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     llm.Summary
		problems []string
	}{
		{
			name: "minimal",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`,
			want: llm.Summary{Model: "gpt-4o"},
		},
		{
			name: "agent turn",
			body: `{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},"temperature":1.3,"max_tokens":null,
				"max_completion_tokens":4096,"stop":["\n\n"],"tool_choice":{"type":"function","function":{"name":"read"}},
				"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
				"tools":[{"type":"function","function":{"name":"read","parameters":{"type":"object"}}}],
				"messages":[
					{"role":"developer","content":"Be brief."},
					{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO","detail":"low"}},{"type":"file","file":{"file_id":"file-1"}}]},
					{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read","arguments":"{}"}}]},
					{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"ok"}]}]}`,
			want: llm.Summary{Model: "gpt-4.1", Stream: true},
		},
		{
			name:     "not JSON",
			body:     `{"model":"gpt-4o",}`,
			problems: []string{"body is not valid JSON: invalid character '}' looking for beginning of object key string"},
		},
		{
			name:     "empty object",
			body:     `{}`,
			problems: []string{"model is required", "messages is required"},
		},
		{
			name: "wrong types",
			body: `{"model":"","stream":1,"max_tokens":-1,"temperature":3,"n":0,"stop":5,"tools":{},"tool_choice":"sometimes","messages":[]}`,
			problems: []string{
				"model must not be empty", "stream must be a boolean", "max_tokens must be positive",
				"temperature must be between 0 and 2", "n must be positive", "stop must be a string or an array of strings",
				"messages must not be empty", "tools must be an array",
			},
		},
		{
			name: "bad messages",
			body: `{"model":"m","messages":[
				{"role":"robot","content":"x"},
				{"role":"user"},
				{"role":"assistant"},
				{"role":"tool","content":"x"},
				{"role":"user","content":[{"type":"image_url","image_url":{}},{"type":"video"}]},
				{"role":"assistant","content":"x","tool_calls":[{"type":"function","function":{"arguments":"{}"}}]},
				{"role":"system","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}`,
			problems: []string{
				"messages[1].content is required",
				"messages[2].content is required",
				"messages[3].tool_call_id is required",
				"messages[4].content[0].image_url.url is required",
				"messages[5].tool_calls[0].id is required",
				"messages[5].tool_calls[0].function.name is required",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, problems := ValidateChat([]byte(tc.body))
			if !slices.Equal(problems, tc.problems) {
				t.Errorf("problems\n got %q\nwant %q", problems, tc.problems)
			}
			if len(tc.problems) == 0 && sum != tc.want {
				t.Errorf("summary %+v, want %+v", sum, tc.want)
			}
		})
	}
}

func TestValidateEmbeddings(t *testing.T) {
	tests := []struct {
		body     string
		problems []string
	}{
		{`{"model":"text-embedding-3-small","input":"The food was delicious"}`, nil},
		{`{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":256}`, nil},
		{`{"model":"m","input":[1,2,3]}`, nil},
		{`{"model":"m","input":[[1,2],[3]]}`, nil},
		{`{"input":""}`, []string{"model is required", "input must not be empty"}},
		{`{"model":"m"}`, []string{"input is required"}},
		{`{"model":"m","input":[]}`, []string{"input must not be empty"}},
		{`{"model":"m","input":["a",1,""]}`, []string{"input[1] must be a string like the others", "input[2] must not be empty"}},
		{`{"model":"m","input":[[1,-2],[]]}`, []string{"input[0][1] must be at least 0", "input[1] must not be empty"}},
		{`{"model":"m","input":{"text":"a"},"encoding_format":"int8","dimensions":0}`, []string{
			"input must be a string, an array of strings, an array of token ids or an array of arrays of token ids",
			"encoding_format must be one of float, base64", "dimensions must be positive",
		}},
	}
	for _, tc := range tests {
		if _, problems := ValidateEmbeddings([]byte(tc.body)); !slices.Equal(problems, tc.problems) {
			t.Errorf("%s:\n got %q\nwant %q", tc.body, problems, tc.problems)
		}
	}
}
