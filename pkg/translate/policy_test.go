package translate

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

var update = flag.Bool("update", false, "rewrite the policy tables of docs/conversion.md from Markdown()")

// The formats by short name, to keep the cases below on one line each where they can be.
const (
	msgs = llm.FormatAnthropic
	chat = llm.FormatChat
	resp = llm.FormatResponses
	conv = llm.FormatConverse
)

// policyCase shows one row of Policy: a request in the From format, converted for model, and
// what the upstream gets. A case of a Refused row gives refused, words the error must contain;
// every other case gives want, the gjson paths of the upstream body and their values (a value
// of absent: the path must not exist), and dropped, the exact names Call.Dropped returns.
type policyCase struct {
	from, to  llm.Format
	construct string // the row's Construct
	name      string // what this case of the row shows
	model     string
	body      string
	want      map[string]string
	dropped   []string
	refused   []string
	check     func(t *testing.T, c *Call) // more checks, when paths are not enough
}

// absent is a want value for a path that must not exist in the upstream body.
const absent = "<absent>"

var policyCases = []policyCase{
	// Anthropic Messages → OpenAI Chat Completions.
	{from: msgs, to: chat, construct: "system", name: "blocks joined, billing line left out", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=cli;"},{"type":"text","text":"You are A."},{"type":"text","text":"Be B."}],"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"messages.0.role": "system", "messages.0.content": "You are A.\n\nBe B.", "messages.1.role": "user", "messages.#": "2"}},
	{from: msgs, to: chat, construct: "system", name: "a string", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"system":"You are A.","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"messages.0.role": "system", "messages.0.content": "You are A."}},
	{from: msgs, to: chat, construct: `messages[] role "system"`, model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"Be brief."}]},{"role":"assistant","content":"ok"}]}`,
		want: map[string]string{"messages.0.role": "user", "messages.1.role": "system", "messages.1.content": "Be brief.", "messages.2.role": "assistant"}},
	{from: msgs, to: chat, construct: "messages[] of another role", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"moderator","content":"no"}]}`,
		refused: []string{"messages[1]", `"moderator"`}},
	{from: msgs, to: chat, construct: "text block", name: "one text becomes a string", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		want: map[string]string{"messages.0.content": "hi"}},
	{from: msgs, to: chat, construct: "text block", name: "several stay parts", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
		want: map[string]string{"messages.0.content.0.type": "text", "messages.0.content.0.text": "a", "messages.0.content.1.text": "b"}},
	{from: msgs, to: chat, construct: "citations", name: "on a user text", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"quoted","citations":[{"type":"char_location","cited_text":"q","document_index":0,"start_char_index":0,"end_char_index":1}]}]}]}`,
		want:    map[string]string{"messages.0.content": "quoted", "messages.0.citations": absent},
		dropped: []string{"citations"}},
	{from: msgs, to: chat, construct: "citations", name: "on an assistant text", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"It is blue","citations":[{"type":"web_search_result_location","cited_text":"blue","url":"https://x","title":"t","encrypted_index":"e"}]}]},{"role":"user","content":"thanks"}]}`,
		want:    map[string]string{"messages.1.content": "It is blue"},
		dropped: []string{"citations"}},
	{from: msgs, to: chat, construct: "image block (base64, url)", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		want: map[string]string{"messages.0.content.1.type": "image_url", "messages.0.content.1.image_url.url": "data:image/png;base64,iVBORw0KGgo=",
			"messages.0.content.2.image_url.url": "https://example.com/a.png"}},
	{from: msgs, to: chat, construct: "image block (file id)", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_011"}}]}]}`,
		refused: []string{"image", `"file"`}},
	{from: msgs, to: chat, construct: "document block (base64, text, content)", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","title":"r.pdf","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain words"}},{"type":"document","source":{"type":"content","content":[{"type":"text","text":"chunk"}]}}]}]}`,
		want: map[string]string{"messages.0.content.0.type": "file", "messages.0.content.0.file.file_data": "data:application/pdf;base64,JVBERi0=",
			"messages.0.content.0.file.filename": "r.pdf", "messages.0.content.1.text": "plain words", "messages.0.content.2.text": "chunk"}},
	{from: msgs, to: chat, construct: "document block (url, file id)", name: "url", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]}]}`,
		refused: []string{"document", `"url"`}},
	{from: msgs, to: chat, construct: "document block (url, file id)", name: "file id", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"file_011"}}]}]}`,
		refused: []string{"document", `"file"`}},
	{from: msgs, to: chat, construct: "search_result block", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"search_result","source":"https://example.com","title":"t","content":[{"type":"text","text":"found it"}]}]}]}`,
		want: map[string]string{"messages.0.content": "found it"}},
	{from: msgs, to: chat, construct: "tool_use block", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"list"},{"role":"assistant","content":[{"type":"text","text":"Listing."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a b"}]}]}`,
		want: map[string]string{"messages.1.role": "assistant", "messages.1.content": "Listing.", "messages.1.tool_calls.0.id": "toolu_1",
			"messages.1.tool_calls.0.type": "function", "messages.1.tool_calls.0.function.name": "Bash", "messages.1.tool_calls.0.function.arguments": `{"command":"ls"}`}},
	{from: msgs, to: chat, construct: "tool_result block", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"shoot"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Shot","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"taken"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"type":"text","text":"what is it?"}]}]}`,
		want: map[string]string{"messages.2.role": "tool", "messages.2.tool_call_id": "toolu_1", "messages.2.content": "taken",
			"messages.3.role": "user", "messages.3.content.0.type": "image_url", "messages.3.content.1.text": "what is it?", "messages.#": "4"}},
	{from: msgs, to: chat, construct: "thinking block", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"EqQBCgIYAhIM"},{"type":"text","text":"hello"}]},{"role":"user","content":"again"}]}`,
		want:    map[string]string{"messages.1.content": "hello", "messages.1.reasoning_details": absent, "messages.1.reasoning_content": absent},
		dropped: []string{"thinking_block"}},
	{from: msgs, to: chat, construct: "redacted_thinking block", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"EmwKAhgBEgy"},{"type":"text","text":"hello"}]},{"role":"user","content":"again"}]}`,
		want:    map[string]string{"messages.1.content": "hello", "messages.1.reasoning_details": absent},
		dropped: []string{"redacted_thinking"}},
	{from: msgs, to: chat, construct: "server tool blocks and other block types", name: "server tool blocks", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"weather"}},{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":{"type":"web_search_tool_result_error","error_code":"unavailable"}},{"type":"text","text":"Sunny."}]},{"role":"user","content":"thanks"}]}`,
		want:    map[string]string{"messages.1.content": "Sunny.", "messages.1.tool_calls": absent},
		dropped: []string{"server_tool_use", "web_search_tool_result"}},
	{from: msgs, to: chat, construct: "server tool blocks and other block types", name: "a block type lynkr does not know", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"hologram","frames":[1,2]}]}]}`,
		want:    map[string]string{"messages.0.content": "hi"},
		dropped: []string{"hologram"}},
	{from: msgs, to: chat, construct: "cache_control", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`,
		want:    map[string]string{"messages.0.content": "S", "messages.1.content": "hi"},
		dropped: []string{"cache_control"}},
	{from: msgs, to: chat, construct: "tools (custom)", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Bash","description":"Runs a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}},"strict":true},{"type":"custom","name":"Read","input_schema":{"type":"object"}}]}`,
		want: map[string]string{"tools.0.type": "function", "tools.0.function.name": "Bash", "tools.0.function.description": "Runs a command",
			"tools.0.function.parameters.properties.command.type": "string", "tools.0.function.strict": "true", "tools.1.function.name": "Read"}},
	{from: msgs, to: chat, construct: "server tools (web_search_*, code_execution_*, …)", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3},{"type":"code_execution_20250825","name":"code_execution"},{"name":"Bash","input_schema":{"type":"object"}}]}`,
		want:    map[string]string{"tools.#": "1", "tools.0.function.name": "Bash"},
		dropped: []string{"web_search", "code_execution"}},
	{from: msgs, to: chat, construct: "tool_choice", name: "any", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
		want: map[string]string{"tool_choice": "required"}},
	{from: msgs, to: chat, construct: "tool_choice", name: "none", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"tool_choice":{"type":"none"}}`,
		want: map[string]string{"tool_choice": "none"}},
	{from: msgs, to: chat, construct: "tool_choice", name: "a named tool", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"Bash"}}`,
		want: map[string]string{"tool_choice.type": "function", "tool_choice.function.name": "Bash"}},
	{from: msgs, to: chat, construct: "tool_choice", name: "auto without parallel calls", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
		want: map[string]string{"tool_choice": "auto", "parallel_tool_calls": "false"}},
	{from: msgs, to: chat, construct: "max_tokens", name: "clamped, max_tokens for other models", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":64000,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_tokens": "16384", "max_completion_tokens": absent}},
	{from: msgs, to: chat, construct: "max_tokens", name: "max_completion_tokens for reasoning models", model: "gpt-5",
		body: `{"model":"claude-x","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_completion_tokens": "1000", "max_tokens": absent}},
	{from: msgs, to: chat, construct: "temperature, top_p", name: "kept for other models", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"temperature":0.5,"top_p":0.9,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"temperature": "0.5", "top_p": "0.9"}},
	{from: msgs, to: chat, construct: "temperature, top_p", name: "left out for reasoning models", model: "gpt-5",
		body:    `{"model":"claude-x","max_tokens":10,"temperature":0.5,"top_p":0.9,"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"temperature": absent, "top_p": absent},
		dropped: []string{"temperature", "top_p"}},
	{from: msgs, to: chat, construct: "top_k", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"top_k":40,"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"top_k": absent},
		dropped: []string{"top_k"}},
	{from: msgs, to: chat, construct: "stop_sequences", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"stop_sequences":["END","STOP"],"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"stop.0": "END", "stop.1": "STOP", "stop_sequences": absent}},
	{from: msgs, to: chat, construct: "stream", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"stream": "true", "stream_options.include_usage": "true"}},
	{from: msgs, to: chat, construct: "metadata.user_id", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"metadata":{"user_id":"u-42"},"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"user": "u-42", "metadata": absent}},
	{from: msgs, to: chat, construct: "thinking, output_config.effort", name: "effort on a reasoning model, max as high", model: "gpt-5",
		body: `{"model":"claude-x","max_tokens":10,"thinking":{"type":"adaptive"},"output_config":{"effort":"max"},"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"reasoning_effort": "high"}},
	{from: msgs, to: chat, construct: "thinking, output_config.effort", name: "a budget on a reasoning model", model: "gpt-5",
		body: `{"model":"claude-x","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"reasoning_effort": "low"}},
	{from: msgs, to: chat, construct: "thinking, output_config.effort", name: "dropped for other models", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":10000},"output_config":{"effort":"low"},"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"reasoning_effort": absent},
		dropped: []string{"thinking", "output_config.effort"}},
	{from: msgs, to: chat, construct: "output_config.format", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}},"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"response_format.type": "json_schema", "response_format.json_schema.schema.properties.a.type": "string"}},
	{from: msgs, to: chat, construct: "service_tier", name: "auto", model: "gpt-4o",
		body: `{"model":"claude-x","max_tokens":10,"service_tier":"auto","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"service_tier": "auto"}},
	{from: msgs, to: chat, construct: "service_tier", name: "another tier", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"service_tier":"standard_only","messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"service_tier": absent},
		dropped: []string{"service_tier"}},
	{from: msgs, to: chat, construct: "other members (context_management, mcp_servers, container, …)", model: "gpt-4o",
		body:    `{"model":"claude-x","max_tokens":10,"context_management":{"edits":[]},"mcp_servers":[{"type":"url","url":"https://mcp","name":"m"}],"container":"c_1","messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"context_management": absent, "mcp_servers": absent, "container": absent},
		dropped: []string{"context_management", "mcp_servers", "container"}},

	// OpenAI Chat Completions → Anthropic Messages.
	{from: chat, to: msgs, construct: "leading system and developer messages", name: "a lone string stays a string", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"system","content":"You are A."},{"role":"user","content":"hi"}]}`,
		want: map[string]string{"system": "You are A.", "messages.0.role": "user", "messages.#": "1"}},
	{from: chat, to: msgs, construct: "leading system and developer messages", name: "several become blocks", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"system","content":"You are A."},{"role":"developer","content":[{"type":"text","text":"Be B."}]},{"role":"user","content":"hi"}]}`,
		want: map[string]string{"system.0.type": "text", "system.0.text": "You are A.", "system.1.text": "Be B.", "messages.#": "1"}},
	{from: chat, to: msgs, construct: "later system and developer messages", name: "in place on Claude 4.8", model: "claude-opus-4-8",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"developer","content":"Be brief."},{"role":"assistant","content":"ok"}]}`,
		want: map[string]string{"system": absent, "messages.0.role": "user", "messages.1.role": "system", "messages.1.content.0.text": "Be brief.", "messages.2.role": "assistant"}},
	{from: chat, to: msgs, construct: "later system and developer messages", name: "text in a user turn on older models", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"system","content":"Be brief."},{"role":"assistant","content":"ok"}]}`,
		want: map[string]string{"system": absent, "messages.0.role": "user", "messages.0.content.0.text": "hi", "messages.0.content.1.text": "<system>\nBe brief.\n</system>", "messages.1.role": "assistant"}},
	{from: chat, to: msgs, construct: "later system and developer messages", name: "text in a user turn after an assistant turn", model: "claude-opus-4-8",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"},{"role":"system","content":"Be brief."}]}`,
		want: map[string]string{"messages.2.role": "user", "messages.2.content.0.text": "<system>\nBe brief.\n</system>"}},
	{from: chat, to: msgs, construct: "messages of another role", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"moderator","content":"no"}]}`,
		refused: []string{"messages[1]", `"moderator"`}},
	{from: chat, to: msgs, construct: "text, image_url, file (base64) parts", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":[{"type":"text","text":"see","cache_control":{"type":"ephemeral"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"r.pdf"}}]}]}`,
		want: map[string]string{"messages.0.content.0.text": "see", "messages.0.content.0.cache_control.type": "ephemeral",
			"messages.0.content.1.type": "image", "messages.0.content.1.source.type": "base64", "messages.0.content.1.source.media_type": "image/png", "messages.0.content.1.source.data": "iVBORw0KGgo=",
			"messages.0.content.2.source.type": "url", "messages.0.content.2.source.url": "https://example.com/a.png",
			"messages.0.content.3.type": "document", "messages.0.content.3.source.media_type": "application/pdf", "messages.0.content.3.title": "r.pdf"}},
	{from: chat, to: msgs, construct: "file parts by id, input_audio", name: "a file by id", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`,
		refused: []string{"content[0]", "file"}},
	{from: chat, to: msgs, construct: "file parts by id, input_audio", name: "audio", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}}]}]}`,
		refused: []string{"content[0]", "audio"}},
	{from: chat, to: msgs, construct: "other part types", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"video_url","video_url":{"url":"https://example.com/v.mp4"}}]}]}`,
		want:    map[string]string{"messages.0.content.#": "1", "messages.0.content.0.text": "hi"},
		dropped: []string{"video_url"}},
	{from: chat, to: msgs, construct: "tool call arguments that are not a JSON object", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":"read"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"path\": \"/tm"}}]},{"role":"tool","tool_call_id":"call_1","content":"error: bad arguments"},{"role":"user","content":"again"}]}`,
		want:    map[string]string{"messages.1.content.0.type": "tool_use", "messages.1.content.0.input": "{}", "messages.2.content.0.type": "tool_result"},
		dropped: []string{"tool_calls.arguments"}},
	{from: chat, to: msgs, construct: "tool_calls, tool messages", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"list both"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{\"dir\":\"a\"}"}},{"id":"call_2","type":"function","function":{"name":"ls","arguments":"{\"dir\":\"b\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"x"},{"role":"tool","tool_call_id":"call_2","content":"y"},{"role":"user","content":"thanks"}]}`,
		want: map[string]string{"messages.#": "3", "messages.1.role": "assistant", "messages.1.content.0.type": "tool_use", "messages.1.content.0.id": "call_1",
			"messages.1.content.0.name": "ls", "messages.1.content.0.input.dir": "a", "messages.1.content.1.id": "call_2",
			"messages.2.role": "user", "messages.2.content.0.type": "tool_result", "messages.2.content.0.tool_use_id": "call_1", "messages.2.content.0.content": "x",
			"messages.2.content.1.tool_use_id": "call_2", "messages.2.content.2.text": "thanks"}},
	{from: chat, to: msgs, construct: "reasoning_details (signed thinking)", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"go"},{"role":"assistant","content":"","reasoning_details":[{"type":"reasoning.text","text":"hm","signature":"EqQBCgIY","format":"anthropic-claude-v1"},{"type":"reasoning.encrypted","data":"EmwKAhgB","format":"anthropic-claude-v1"}],"tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"x"}]}`,
		want: map[string]string{"messages.1.content.0.type": "thinking", "messages.1.content.0.thinking": "hm", "messages.1.content.0.signature": "EqQBCgIY",
			"messages.1.content.1.type": "redacted_thinking", "messages.1.content.1.data": "EmwKAhgB", "messages.1.content.2.type": "tool_use"}},
	{from: chat, to: msgs, construct: "reasoning_content, reasoning", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello","reasoning_content":"they greet"},{"role":"user","content":"again"},{"role":"assistant","content":"hello again","reasoning":"again?"},{"role":"user","content":"bye"}]}`,
		want:    map[string]string{"messages.1.content": "hello", "messages.3.content": "hello again"},
		dropped: []string{"reasoning_content"}},
	{from: chat, to: msgs, construct: "max_tokens, max_completion_tokens", name: "4096 when unset", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_tokens": "4096"}},
	{from: chat, to: msgs, construct: "max_tokens, max_completion_tokens", name: "max_tokens", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_tokens": "500"}},
	{from: chat, to: msgs, construct: "max_tokens, max_completion_tokens", name: "max_completion_tokens, clamped", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","max_completion_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_tokens": "64000", "max_completion_tokens": absent}},
	{from: chat, to: msgs, construct: "temperature, top_p, stop", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","temperature":1.5,"top_p":0.9,"stop":"END","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"temperature": "1", "top_p": "0.9", "stop_sequences.0": "END", "stop": absent}},
	{from: chat, to: msgs, construct: "reasoning_effort", name: "adaptive on Claude 4.6 and later", model: "claude-opus-4-8",
		body: `{"model":"gpt-x","reasoning_effort":"high","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"thinking.type": "adaptive", "output_config.effort": "high", "reasoning_effort": absent}},
	{from: chat, to: msgs, construct: "reasoning_effort", name: "a budget on older models", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","reasoning_effort":"medium","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"thinking.type": "enabled", "thinking.budget_tokens": "8192", "max_tokens": "9192"}},
	{from: chat, to: msgs, construct: "response_format", name: "json_schema", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object","properties":{"a":{"type":"string"}}}}},"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"output_config.format.type": "json_schema", "output_config.format.schema.properties.a.type": "string"}},
	{from: chat, to: msgs, construct: "response_format", name: "json_object", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"output_config": absent},
		dropped: []string{"response_format"}},
	{from: chat, to: msgs, construct: "user, safety_identifier", name: "user", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","user":"u-42","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"metadata.user_id": "u-42", "user": absent}},
	{from: chat, to: msgs, construct: "user, safety_identifier", name: "safety_identifier", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","safety_identifier":"s-42","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"metadata.user_id": "s-42"}},
	{from: chat, to: msgs, construct: "tools (function)", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"ls","description":"Lists","parameters":{"type":"object","properties":{"dir":{"type":"string"}}}}}]}`,
		want: map[string]string{"tools.0.name": "ls", "tools.0.description": "Lists", "tools.0.input_schema.properties.dir.type": "string"}},
	{from: chat, to: msgs, construct: "tools of other types", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"apply_patch"}},{"type":"function","function":{"name":"ls"}}]}`,
		want:    map[string]string{"tools.#": "1", "tools.0.name": "ls"},
		dropped: []string{"custom"}},
	{from: chat, to: msgs, construct: "tool_choice, parallel_tool_calls", name: "required", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"ls"}}],"tool_choice":"required"}`,
		want: map[string]string{"tool_choice.type": "any"}},
	{from: chat, to: msgs, construct: "tool_choice, parallel_tool_calls", name: "a named function", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"ls"}}],"tool_choice":{"type":"function","function":{"name":"ls"}}}`,
		want: map[string]string{"tool_choice.type": "tool", "tool_choice.name": "ls"}},
	{from: chat, to: msgs, construct: "tool_choice, parallel_tool_calls", name: "allowed_tools narrows the tools", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"ls"}},{"type":"function","function":{"name":"rm"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"ls"}}]}}}`,
		want: map[string]string{"tools.#": "1", "tools.0.name": "ls", "tool_choice.type": "any"}},
	{from: chat, to: msgs, construct: "tool_choice, parallel_tool_calls", name: "parallel_tool_calls false", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"ls"}}],"parallel_tool_calls":false}`,
		want: map[string]string{"tool_choice.type": "auto", "tool_choice.disable_parallel_tool_use": "true"}},
	{from: chat, to: msgs, construct: "prompt_cache_key", name: "breakpoints added", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","prompt_cache_key":"k1","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}]}`,
		want: map[string]string{"system.0.text": "S", "system.0.cache_control.type": "ephemeral", "messages.0.content.0.text": "hi",
			"messages.0.content.0.cache_control.type": "ephemeral", "prompt_cache_key": absent}},
	{from: chat, to: msgs, construct: "prompt_cache_key", name: "the client's own breakpoints kept", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","prompt_cache_key":"k1","messages":[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b"}]}]}`,
		want: map[string]string{"system": "S", "messages.0.content.0.cache_control.type": "ephemeral", "messages.0.content.1.cache_control": absent}},
	{from: chat, to: msgs, construct: "n, seed, penalties, logprobs, logit_bias, metadata, verbosity, store, modalities", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","n":2,"seed":7,"presence_penalty":0.5,"frequency_penalty":0.5,"logprobs":true,"top_logprobs":3,"logit_bias":{"50256":-100},"metadata":{"k":"v"},"verbosity":"low","store":true,"modalities":["text","audio"],"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"n": absent, "seed": absent, "metadata": absent, "store": absent},
		dropped: []string{"n", "seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias", "metadata", "verbosity", "store", "modalities"}},
	{from: chat, to: msgs, construct: "service_tier", name: "auto", model: "claude-sonnet-4-5",
		body: `{"model":"gpt-x","service_tier":"auto","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"service_tier": "auto"}},
	{from: chat, to: msgs, construct: "service_tier", name: "another tier", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","service_tier":"flex","messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"service_tier": absent},
		dropped: []string{"service_tier"}},
	{from: chat, to: msgs, construct: "other members", model: "claude-sonnet-4-5",
		body:    `{"model":"gpt-x","prediction":{"type":"content","content":"x"},"web_search_options":{},"messages":[{"role":"user","content":"hi","x_hint":1}]}`,
		want:    map[string]string{"prediction": absent, "web_search_options": absent, "messages.0.x_hint": absent},
		dropped: []string{"prediction", "web_search_options", "x_hint"}},

	// OpenAI Responses → OpenAI Chat Completions.
	{from: resp, to: chat, construct: "instructions, system and developer items", model: "gpt-4o",
		body: `{"model":"gpt-x","instructions":"Be A.","input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"Be B."}]},{"role":"user","content":"hi"},{"role":"system","content":"Now C."}]}`,
		want: map[string]string{"messages.0.role": "system", "messages.0.content": "Be A.\n\nBe B.", "messages.1.role": "user", "messages.2.role": "system", "messages.2.content": "Now C.", "messages.#": "3"}},
	{from: resp, to: chat, construct: "user and assistant messages", model: "gpt-4o",
		body: `{"model":"gpt-x","input":[{"role":"user","content":[{"type":"input_text","text":"see"},{"type":"input_image","image_url":"https://example.com/a.png"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a cat"}]},{"role":"user","content":"thanks"}]}`,
		want: map[string]string{"messages.0.role": "user", "messages.0.content.0.text": "see", "messages.0.content.1.image_url.url": "https://example.com/a.png",
			"messages.1.role": "assistant", "messages.1.content": "a cat", "messages.2.content": "thanks"}},
	{from: resp, to: chat, construct: "messages of another role", model: "gpt-4o",
		body:    `{"model":"gpt-x","input":[{"role":"user","content":"hi"},{"role":"moderator","content":"no"}]}`,
		refused: []string{"input[1]", `"moderator"`}},
	{from: resp, to: chat, construct: "function_call, function_call_output", name: "mapped", model: "gpt-4o",
		body: `{"model":"gpt-x","input":[{"role":"user","content":"list"},{"type":"function_call","call_id":"call_1","name":"ls","arguments":"{\"dir\":\"a\"}"},{"type":"function_call_output","call_id":"call_1","output":"x y"}]}`,
		want: map[string]string{"messages.1.role": "assistant", "messages.1.tool_calls.0.id": "call_1", "messages.1.tool_calls.0.function.name": "ls",
			"messages.1.tool_calls.0.function.arguments": `{"dir":"a"}`, "messages.2.role": "tool", "messages.2.tool_call_id": "call_1", "messages.2.content": "x y"}},
	{from: resp, to: chat, construct: "function_call, function_call_output", name: "a call without its output is refused", model: "gpt-4o",
		body:    `{"model":"gpt-x","input":[{"role":"user","content":"list"},{"type":"function_call","call_id":"call_1","name":"ls","arguments":"{}"}]}`,
		refused: []string{"function_call", `"call_1"`}},
	{from: resp, to: chat, construct: "custom tools and their calls", model: "gpt-4o",
		body: `{"model":"gpt-x","tools":[{"type":"custom","name":"apply_patch","description":"Patches files.","format":{"type":"grammar","syntax":"lark","definition":"start: x"}}],"input":[{"role":"user","content":"fix"},{"type":"custom_tool_call","call_id":"call_1","name":"apply_patch","input":"*** Begin Patch"},{"type":"custom_tool_call_output","call_id":"call_1","output":"done"}]}`,
		want: map[string]string{"tools.0.type": "function", "tools.0.function.name": "apply_patch", "tools.0.function.parameters.properties.input.type": "string",
			"tools.0.function.parameters.required.0": "input", "messages.1.tool_calls.0.function.name": "apply_patch",
			"messages.1.tool_calls.0.function.arguments": `{"input":"*** Begin Patch"}`, "messages.2.role": "tool", "messages.2.content": "done"}},
	{from: resp, to: chat, construct: "namespace tools", model: "gpt-4o",
		body: `{"model":"gpt-x","tools":[{"type":"namespace","name":"multi_agent_v1","description":"Agents.","tools":[{"type":"function","name":"spawn_agent","parameters":{"type":"object"}},{"type":"function","name":"wait_agent","description":"Waits.","parameters":{"type":"object"}}]}],"input":[{"role":"user","content":"go"},{"type":"function_call","call_id":"call_1","namespace":"multi_agent_v1","name":"spawn_agent","arguments":"{}"},{"type":"function_call_output","call_id":"call_1","output":"ok"}]}`,
		want: map[string]string{"tools.#": "2", "tools.0.function.name": "multi_agent_v1__spawn_agent", "tools.0.function.description": "Agents.",
			"tools.1.function.name": "multi_agent_v1__wait_agent", "tools.1.function.description": "Waits.", "messages.1.tool_calls.0.function.name": "multi_agent_v1__spawn_agent"},
		check: func(t *testing.T, c *Call) {
			answer := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_2","type":"function","function":{"name":"multi_agent_v1__wait_agent","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`
			out, _, err := c.Response([]byte(answer))
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			call := gjson.GetBytes(out, `output.#(type=="function_call")`)
			if call.Get("name").String() != "wait_agent" || call.Get("namespace").String() != "multi_agent_v1" {
				t.Errorf("the call comes back as %s, want name wait_agent, namespace multi_agent_v1", call.Raw)
			}
		}},
	{from: resp, to: chat, construct: "hosted tools (web_search, file_search, code_interpreter, …)", model: "gpt-4o",
		body:    `{"model":"gpt-x","tools":[{"type":"web_search"},{"type":"file_search","vector_store_ids":["vs_1"]},{"type":"code_interpreter","container":{"type":"auto"}},{"type":"function","name":"ls","parameters":{"type":"object"}}],"input":"hi"}`,
		want:    map[string]string{"tools.#": "1", "tools.0.function.name": "ls"},
		dropped: []string{"web_search", "file_search", "code_interpreter"}},
	{from: resp, to: chat, construct: "reasoning items", model: "gpt-4o",
		body: `{"model":"gpt-x","input":[{"role":"user","content":"hi"},{"type":"reasoning","id":"rs_1","summary":[],"content":[{"type":"reasoning_text","text":"they greet"}]},{"role":"assistant","content":"hello"},{"role":"user","content":"again"}]}`,
		want: map[string]string{"messages.1.role": "assistant", "messages.1.content": "hello", "messages.1.reasoning_content": "they greet", "messages.#": "3"}},
	{from: resp, to: chat, construct: "reasoning encrypted_content", model: "gpt-4o",
		body:    `{"model":"gpt-x","input":[{"role":"user","content":"hi"},{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAAABoOpaque"},{"role":"assistant","content":"hello"},{"role":"user","content":"again"}]}`,
		want:    map[string]string{"messages.1.content": "hello", "messages.1.reasoning_details": absent},
		dropped: []string{"reasoning.encrypted_content"}},
	{from: resp, to: chat, construct: "other item and part types", model: "gpt-4o",
		body:    `{"model":"gpt-x","input":[{"role":"user","content":"find"},{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"q"}},{"role":"assistant","content":"found"},{"type":"image_generation_call","id":"ig_1","status":"completed","result":"iVBOR"},{"role":"user","content":"thanks"}]}`,
		want:    map[string]string{"messages.#": "3", "messages.1.content": "found"},
		dropped: []string{"web_search_call", "image_generation_call"}},
	{from: resp, to: chat, construct: "max_output_tokens", model: "gpt-4o",
		body: `{"model":"gpt-x","max_output_tokens":100000,"input":"hi"}`,
		want: map[string]string{"max_completion_tokens": "16384", "max_output_tokens": absent}},
	{from: resp, to: chat, construct: "reasoning.effort, text.format, text.verbosity", model: "gpt-5",
		body: `{"model":"gpt-x","reasoning":{"effort":"high","summary":"auto"},"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"},"input":"hi"}`,
		want: map[string]string{"reasoning_effort": "high", "response_format.type": "json_schema", "response_format.json_schema.name": "out",
			"response_format.json_schema.strict": "true", "verbosity": "low", "reasoning": absent, "text": absent}},
	{from: resp, to: chat, construct: "tool_choice, parallel_tool_calls, temperature, top_p, top_logprobs, user, safety_identifier, prompt_cache_key, service_tier", model: "gpt-4o",
		body: `{"model":"gpt-x","tools":[{"type":"function","name":"ls","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"ls"},"parallel_tool_calls":false,"temperature":0.3,"top_p":0.8,"top_logprobs":2,"user":"u","safety_identifier":"s","prompt_cache_key":"k","service_tier":"flex","input":"hi"}`,
		want: map[string]string{"tool_choice.type": "function", "tool_choice.function.name": "ls", "parallel_tool_calls": "false", "temperature": "0.3", "top_p": "0.8",
			"top_logprobs": "2", "logprobs": "true", "user": "u", "safety_identifier": "s", "prompt_cache_key": "k", "service_tier": "flex"}},
	{from: resp, to: chat, construct: "store, metadata, include, truncation, max_tool_calls", model: "gpt-4o",
		body: `{"model":"gpt-x","store":false,"metadata":{"k":"v"},"include":["reasoning.encrypted_content"],"truncation":"auto","max_tool_calls":3,"input":"hi"}`,
		want: map[string]string{"store": absent, "metadata": absent, "include": absent, "truncation": absent, "max_tool_calls": absent},
		check: func(t *testing.T, c *Call) {
			answer := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`
			out, _, err := c.Response([]byte(answer))
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			for path, want := range map[string]string{"metadata.k": "v", "truncation": "auto", "max_tool_calls": "3", "store": "false"} {
				if got := gjson.GetBytes(out, path); got.String() != want {
					t.Errorf("the answer echoes %s as %s, want %s", path, got.Raw, want)
				}
			}
		}},
	{from: resp, to: chat, construct: "previous_response_id, conversation, background, prompt, item_reference", name: "previous_response_id", model: "gpt-4o",
		body:    `{"model":"gpt-x","previous_response_id":"resp_1","input":"hi"}`,
		refused: []string{"previous_response_id"}},
	{from: resp, to: chat, construct: "previous_response_id, conversation, background, prompt, item_reference", name: "conversation", model: "gpt-4o",
		body:    `{"model":"gpt-x","conversation":"conv_1","input":"hi"}`,
		refused: []string{"conversation"}},
	{from: resp, to: chat, construct: "previous_response_id, conversation, background, prompt, item_reference", name: "background", model: "gpt-4o",
		body:    `{"model":"gpt-x","background":true,"input":"hi"}`,
		refused: []string{"background"}},
	{from: resp, to: chat, construct: "previous_response_id, conversation, background, prompt, item_reference", name: "prompt", model: "gpt-4o",
		body:    `{"model":"gpt-x","prompt":{"id":"pmpt_1"},"input":"hi"}`,
		refused: []string{"prompt"}},
	{from: resp, to: chat, construct: "previous_response_id, conversation, background, prompt, item_reference", name: "item_reference", model: "gpt-4o",
		body:    `{"model":"gpt-x","input":[{"type":"item_reference","id":"msg_1"},{"role":"user","content":"hi"}]}`,
		refused: []string{"item_reference"}},
	{from: resp, to: chat, construct: "other members (client_metadata, context_management, …)", model: "gpt-4o",
		body:    `{"model":"gpt-x","client_metadata":{"x":"y"},"context_management":[{"type":"compaction"}],"input":"hi"}`,
		want:    map[string]string{"client_metadata": absent, "context_management": absent},
		dropped: []string{"client_metadata", "context_management"}},

	// OpenAI Chat Completions → OpenAI Responses.
	{from: chat, to: resp, construct: "system and developer messages", model: "gpt-5",
		body: `{"model":"gpt-x","messages":[{"role":"system","content":"Be A."},{"role":"user","content":"hi"},{"role":"developer","content":[{"type":"text","text":"Be B."}]}]}`,
		want: map[string]string{"instructions": absent, "input.0.type": "message", "input.0.role": "system", "input.0.content": "Be A.", "input.1.role": "user",
			"input.2.role": "developer", "input.2.content.0.type": "input_text", "input.2.content.0.text": "Be B."}},
	{from: chat, to: resp, construct: "user and assistant messages, tool_calls, tool messages", model: "gpt-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]},{"role":"assistant","content":"Listing.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"x y"}]}`,
		want: map[string]string{"input.0.content.0.type": "input_text", "input.0.content.1.type": "input_image", "input.0.content.1.image_url": "https://example.com/a.png",
			"input.1.type": "message", "input.1.role": "assistant", "input.1.content.0.type": "output_text", "input.1.content.0.text": "Listing.",
			"input.2.type": "function_call", "input.2.call_id": "call_1", "input.2.name": "ls", "input.2.arguments": "{}",
			"input.3.type": "function_call_output", "input.3.call_id": "call_1", "input.3.output": "x y"}},
	{from: chat, to: resp, construct: "function tools, tool_choice, parallel_tool_calls", model: "gpt-5",
		body: `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"ls","description":"Lists","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"ls"}},"parallel_tool_calls":false}`,
		want: map[string]string{"tools.0.type": "function", "tools.0.name": "ls", "tools.0.description": "Lists", "tools.0.parameters.type": "object",
			"tools.0.strict": "false", "tools.0.function": absent, "tool_choice.type": "function", "tool_choice.name": "ls", "parallel_tool_calls": "false"}},
	{from: chat, to: resp, construct: "max_tokens, max_completion_tokens", name: "max_tokens", model: "gpt-5",
		body: `{"model":"gpt-x","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_output_tokens": "500", "max_tokens": absent}},
	{from: chat, to: resp, construct: "max_tokens, max_completion_tokens", name: "max_completion_tokens", model: "gpt-5",
		body: `{"model":"gpt-x","max_completion_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"max_output_tokens": "1000", "max_completion_tokens": absent}},
	{from: chat, to: resp, construct: "reasoning_effort, response_format, verbosity", model: "gpt-5",
		body: `{"model":"gpt-x","reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"},"strict":true}},"verbosity":"high","messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"reasoning.effort": "low", "text.format.type": "json_schema", "text.format.name": "out", "text.format.strict": "true",
			"text.verbosity": "high", "reasoning_effort": absent, "response_format": absent}},
	{from: chat, to: resp, construct: "temperature, top_p, user, safety_identifier, prompt_cache_key, service_tier, metadata", name: "other models", model: "gpt-4o",
		body: `{"model":"gpt-x","temperature":0.3,"top_p":0.8,"user":"u","safety_identifier":"s","prompt_cache_key":"k","service_tier":"flex","metadata":{"k":"v"},"messages":[{"role":"user","content":"hi"}]}`,
		want: map[string]string{"temperature": "0.3", "top_p": "0.8", "user": "u", "safety_identifier": "s", "prompt_cache_key": "k", "service_tier": "flex", "metadata.k": "v", "store": "false"}},
	{from: chat, to: resp, construct: "temperature, top_p, user, safety_identifier, prompt_cache_key, service_tier, metadata", name: "reasoning models", model: "gpt-5",
		body:    `{"model":"gpt-x","temperature":0.3,"top_p":0.8,"user":"u","messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"temperature": absent, "top_p": absent, "user": "u"},
		dropped: []string{"temperature", "top_p"}},
	{from: chat, to: resp, construct: "n, seed, logit_bias, penalties, stop, logprobs, modalities", model: "gpt-5",
		body:    `{"model":"gpt-x","n":2,"seed":7,"logit_bias":{"50256":-100},"presence_penalty":0.5,"frequency_penalty":0.5,"stop":["END"],"logprobs":true,"top_logprobs":3,"modalities":["text","audio"],"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"n": absent, "seed": absent, "stop": absent, "logprobs": absent, "modalities": absent},
		dropped: []string{"n", "seed", "logit_bias", "presence_penalty", "frequency_penalty", "stop", "logprobs", "top_logprobs", "modalities"}},
	{from: chat, to: resp, construct: "reasoning_content, reasoning", model: "gpt-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello","reasoning_content":"they greet"},{"role":"user","content":"again"},{"role":"assistant","content":"hello again","reasoning":"again?"},{"role":"user","content":"bye"}]}`,
		want:    map[string]string{"input.#": "5", "input.1.content.0.text": "hello"},
		dropped: []string{"reasoning_content", "reasoning"}},
	{from: chat, to: resp, construct: "other members, parts and tools", name: "members", model: "gpt-5",
		body:    `{"model":"gpt-x","prediction":{"type":"content","content":"x"},"web_search_options":{},"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"prediction": absent, "web_search_options": absent},
		dropped: []string{"prediction", "web_search_options"}},
	{from: chat, to: resp, construct: "other members, parts and tools", name: "parts", model: "gpt-5",
		body:    `{"model":"gpt-x","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"video_url","video_url":{"url":"https://example.com/v.mp4"}}]}]}`,
		want:    map[string]string{"input.0.content.#": "1"},
		dropped: []string{"video_url"}},

	// Anthropic Messages → Bedrock Converse.
	{from: msgs, to: conv, construct: "system, messages, tools, tool_choice, inference settings", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body: `{"model":"claude-x","max_tokens":100,"temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END"],"thinking":{"type":"enabled","budget_tokens":2048},"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"tools":[{"name":"ls","description":"Lists","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
		want: map[string]string{"modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0", "system.0.text": "S", "system.1.cachePoint.type": "default",
			"messages.0.role": "user", "messages.0.content.0.text": "hi", "messages.0.content.1.cachePoint.type": "default",
			"toolConfig.tools.0.toolSpec.name": "ls", "toolConfig.tools.0.toolSpec.inputSchema.json.type": "object", "toolConfig.toolChoice.any": "{}",
			"inferenceConfig.maxTokens": "100", "inferenceConfig.temperature": "0.5", "inferenceConfig.topP": "0.9", "inferenceConfig.stopSequences.0": "END",
			"additionalModelRequestFields.top_k": "40", "additionalModelRequestFields.thinking.budget_tokens": "2048"}},
	{from: msgs, to: conv, construct: `messages[] role "system"`, model: "anthropic.claude-opus-4-8-v1:0",
		body: `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"Be brief."},{"role":"assistant","content":"ok"}]}`,
		want: map[string]string{"messages.#": "2", "messages.0.role": "user", "messages.0.content.0.text": "hi", "messages.0.content.1.text": "<system>\nBe brief.\n</system>", "messages.1.role": "assistant"}},
	{from: msgs, to: conv, construct: "server tools, server tool blocks, other block types", name: "server tools and their blocks", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"ls","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"weather"}},{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]},{"type":"text","text":"Sunny."}]},{"role":"user","content":"thanks"}]}`,
		want:    map[string]string{"toolConfig.tools.#": "1", "messages.1.content.#": "1", "messages.1.content.0.text": "Sunny."},
		dropped: []string{"web_search", "server_tool_use", "web_search_tool_result"}},
	{from: msgs, to: conv, construct: "server tools, server tool blocks, other block types", name: "a search_result block, whose source is a string", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":[{"type":"search_result","source":"https://example.com","title":"t","content":[{"type":"text","text":"found it"}]},{"type":"text","text":"summarise"}]}]}`,
		want:    map[string]string{"messages.0.content.0.text": "summarise"},
		dropped: []string{"search_result"}},
	{from: msgs, to: conv, construct: "server tools, server tool blocks, other block types", name: "another block type in the system prompt", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"system":[{"type":"text","text":"S"},{"type":"hologram"}],"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"system.#": "1", "system.0.text": "S"},
		dropped: []string{"hologram"}},
	{from: msgs, to: conv, construct: "server tools, server tool blocks, other block types", name: "another block type in a tool result", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":"look"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"find","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"one"},{"type":"search_result","source":"https://example.com","title":"t","content":[{"type":"text","text":"two"}]}]}]}]}`,
		want:    map[string]string{"messages.2.content.0.toolResult.content.0.text": "one"},
		dropped: []string{"search_result"}},
	{from: msgs, to: conv, construct: "image urls, documents by url or file", name: "an image url", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		refused: []string{"messages[0].content[0]", "image", `"url"`}},
	{from: msgs, to: conv, construct: "image urls, documents by url or file", name: "a document by url", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]}]}`,
		refused: []string{"messages[0].content[0]", "document", `"url"`}},
	{from: msgs, to: conv, construct: "image urls, documents by url or file", name: "a document by file id", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"file_011"}}]}]}`,
		refused: []string{"messages[0].content[0]", "document", `"file"`}},
	{from: msgs, to: conv, construct: "other members (output_config, context_management, …)", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		body:    `{"model":"claude-x","max_tokens":100,"output_config":{"effort":"low"},"context_management":{"edits":[]},"messages":[{"role":"user","content":"hi"}]}`,
		want:    map[string]string{"output_config": absent, "context_management": absent},
		dropped: []string{"output_config", "context_management"}},
}

type rowKey struct {
	from, to  llm.Format
	construct string
}

func keyOf(r Rule) rowKey { return rowKey{r.From, r.To, r.Construct} }

func (c policyCase) key() rowKey { return rowKey{c.from, c.to, c.construct} }

func (c policyCase) title() string {
	s := string(c.from) + "→" + string(c.to) + "/" + c.construct
	if c.name != "" {
		s += "/" + c.name
	}
	return s
}

// request converts body from one format to another for model.
func request(from, to llm.Format, body, model string) (*Call, error) {
	p, err := For(from, to)
	if err != nil {
		return nil, err
	}
	return p.Request([]byte(body), model)
}

func TestPolicy(t *testing.T) {
	rows := map[rowKey]Rule{}
	for _, r := range Policy {
		rows[keyOf(r)] = r
	}
	for _, c := range policyCases {
		t.Run(c.title(), func(t *testing.T) {
			row, ok := rows[c.key()]
			if !ok {
				t.Fatalf("no row of Policy is %s → %s %q", c.from, c.to, c.construct)
			}
			if !gjson.Valid(c.body) {
				t.Fatalf("the case's body is not JSON: %s", c.body)
			}
			call, err := request(c.from, c.to, c.body, c.model)
			if c.refused != nil {
				if row.Action != Refused && !strings.Contains(row.As, "refused") {
					t.Fatalf("a case refuses, but the row is %s and says nothing of a refusal", row.Action)
				}
				if err == nil {
					t.Fatalf("converted, want refused: %s", call.Body())
				}
				if !errors.Is(err, llm.ErrInvalid) {
					t.Errorf("error %v does not wrap llm.ErrInvalid", err)
				}
				for _, w := range c.refused {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("refused (%v), want %s", err, row.Action)
			}
			out := call.Body()
			if !gjson.ValidBytes(out) {
				t.Fatalf("upstream body is not JSON: %s", out)
			}
			for path, want := range c.want {
				got := gjson.GetBytes(out, path)
				switch {
				case want == absent && got.Exists():
					t.Errorf("%s: %s, want it left out", path, got.Raw)
				case want != absent && !got.Exists():
					t.Errorf("%s: missing, want %s", path, want)
				case want != absent && got.String() != want:
					t.Errorf("%s: %s, want %s", path, got.Raw, want)
				}
			}
			if got := sorted(call.Dropped()); !slices.Equal(got, sorted(c.dropped)) {
				t.Errorf("Dropped() %q, want %q", call.Dropped(), c.dropped)
			}
			if len(c.dropped) > 0 && len(row.Names) == 0 {
				t.Errorf("the case drops %q, but the row names nothing", c.dropped)
			}
			if c.check != nil {
				c.check(t, call)
			}
			if t.Failed() {
				t.Logf("upstream body: %s", out)
			}
		})
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestPolicyEveryRowTested makes a new row of the policy come with its case.
func TestPolicyEveryRowTested(t *testing.T) {
	tested := map[rowKey]bool{}
	for _, c := range policyCases {
		tested[c.key()] = true
	}
	seen := map[rowKey]bool{}
	for _, r := range Policy {
		k := keyOf(r)
		if seen[k] {
			t.Errorf("two rows of %s → %s are %q", r.From, r.To, r.Construct)
		}
		seen[k] = true
		if !tested[k] {
			t.Errorf("row %s → %s %q (%s) has no case in policyCases", r.From, r.To, r.Construct, r.Action)
		}
		if r.Action == Dropped && len(r.Names) == 0 {
			t.Errorf("row %s → %s %q drops but names nothing for X-Lynkr-Dropped", r.From, r.To, r.Construct)
		}
	}
}

// TestPolicyNamesListed checks that every name a conversion gives what it drops is one the
// policy lists for that direction (or for a hop of the chain, for a chained conversion).
func TestPolicyNamesListed(t *testing.T) {
	check := func(t *testing.T, what string, from, to llm.Format, names []string) {
		t.Helper()
		p, err := For(from, to)
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, conv := range p {
			for _, r := range RulesFor(conv.From, conv.To) {
				for _, n := range r.Names {
					listed[n] = true
				}
			}
		}
		for _, n := range names {
			if !listed[n] && !listed[AnyName] {
				t.Errorf("%s: Dropped() names %q, which no row of %s → %s lists", what, n, from, to)
			}
		}
	}
	for _, c := range policyCases {
		if call, err := request(c.from, c.to, c.body, c.model); err == nil {
			check(t, c.title(), c.from, c.to, call.Dropped())
		}
	}
	for _, c := range captureCases(t) {
		if call, err := request(c.from, c.to, string(c.body), c.model); err == nil {
			check(t, c.file+"→"+string(c.to), c.from, c.to, call.Dropped())
		}
	}
}

// captureCase is a real client's request on its way to an upstream of another format.
type captureCase struct {
	file     string
	body     []byte
	from, to llm.Format
	model    string
}

// clientCaptures are the requests real clients sent, by format.
var clientCaptures = map[llm.Format]string{
	msgs: "../llm/testdata/clients/claude-code-*.messages.json",
	resp: "../llm/testdata/clients/codex-*.responses.json",
}

func captureCases(t testing.TB) []captureCase {
	t.Helper()
	upstreams := map[llm.Format][]struct {
		to    llm.Format
		model string
	}{
		msgs: {{chat, "gpt-5"}, {chat, "gpt-4o"}, {conv, "anthropic.claude-sonnet-4-5-20250929-v1:0"}, {resp, "gpt-5"}},
		resp: {{chat, "gpt-5"}, {msgs, "claude-opus-4-8"}, {msgs, "claude-sonnet-4-5"}},
	}
	var out []captureCase
	for _, from := range []llm.Format{msgs, resp} {
		files, err := filepath.Glob(clientCaptures[from])
		if err != nil || len(files) == 0 {
			t.Fatalf("no captures match %s", clientCaptures[from])
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range upstreams[from] {
				out = append(out, captureCase{file: filepath.Base(f), body: b, from: from, to: u.to, model: u.model})
			}
		}
	}
	return out
}

// TestPolicyClientCaptures converts what Claude Code and Codex really send to every upstream
// format they may meet.
func TestPolicyClientCaptures(t *testing.T) {
	for _, c := range captureCases(t) {
		t.Run(c.file+"→"+string(c.to)+"/"+c.model, func(t *testing.T) {
			call, err := request(c.from, c.to, string(c.body), c.model)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			out := gjson.ParseBytes(call.Body())
			if !gjson.ValidBytes(call.Body()) {
				t.Fatalf("upstream body is not JSON")
			}
			dropped := call.Dropped()
			in := gjson.ParseBytes(c.body)
			switch c.from {
			case msgs:
				claudeCodeSystemInPlace(t, c.to, in, out)
				if !slices.Contains(dropped, "context_management") && in.Get("context_management").Exists() {
					t.Errorf("context_management is not named in %q", dropped)
				}
			case resp:
				codexTools(t, c.to, in, out, dropped)
			}
		})
	}
}

// claudeCodeSystemInPlace checks that Claude Code's system-role message, which follows its
// first user message, stays after it.
func claudeCodeSystemInPlace(t *testing.T, to llm.Format, in, out gjson.Result) {
	t.Helper()
	firstUser := -1
	sysAt := -1
	for i, m := range in.Get("messages").Array() {
		switch role := m.Get("role").String(); {
		case role == "user" && firstUser < 0:
			firstUser = i
		case role == "system" && firstUser >= 0 && sysAt < 0:
			sysAt = i
		}
	}
	if sysAt < 0 {
		t.Skip("the capture has no system message after a user message")
	}
	sysText := in.Get("messages." + strconv.Itoa(sysAt) + ".content.0.text").String()
	if sysText == "" {
		sysText = in.Get("messages." + strconv.Itoa(sysAt) + ".content").String()
	}
	head := firstLine(sysText)
	switch to {
	case chat, resp:
		list := out.Get("messages")
		textOf := func(m gjson.Result) string { return textOfContent(m.Get("content")) }
		if to == resp {
			list = out.Get("input")
		}
		user, sys := -1, -1
		for i, m := range list.Array() {
			role := m.Get("role").String()
			if role == "user" && user < 0 {
				user = i
			}
			if role == "system" && user >= 0 && strings.Contains(textOf(m), head) {
				sys = i
				break
			}
		}
		if user < 0 || sys < 0 {
			t.Fatalf("no system message with %q after the first user message in %s", head, list.Raw[:min(len(list.Raw), 2000)])
		}
		if to == chat && list.Get("0.role").String() != "system" {
			t.Errorf("the system prompt is not the first message")
		}
	case conv:
		// Bedrock has no system messages in a conversation: the text stays in the user turn,
		// after the user's own text.
		content := out.Get("messages.0.content")
		userText := in.Get("messages." + strconv.Itoa(firstUser) + ".content.0.text").String()
		u, s := -1, -1
		for i, b := range content.Array() {
			txt := b.Get("text").String()
			if u < 0 && strings.Contains(txt, firstLine(userText)) {
				u = i
			}
			if strings.HasPrefix(txt, "<system>\n") && strings.Contains(txt, head) {
				s = i
			}
		}
		if u < 0 || s <= u {
			t.Errorf("the system message (at %d) does not follow the user's text (at %d) in the first user turn", s, u)
		}
	}
}

func textOfContent(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.String()
	}
	var b strings.Builder
	for _, p := range c.Array() {
		b.WriteString(p.Get("text").String())
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// codexTools checks that Codex's namespace tools become functions of their own and that its
// hosted web_search is left out and named.
func codexTools(t *testing.T, to llm.Format, in, out gjson.Result, dropped []string) {
	t.Helper()
	var names []string
	for _, tool := range out.Get("tools").Array() {
		if to == chat {
			names = append(names, tool.Get("function.name").String())
		} else {
			names = append(names, tool.Get("name").String())
		}
	}
	for _, ns := range in.Get(`tools.#(type=="namespace")#`).Array() {
		for _, inner := range ns.Get("tools").Array() {
			want := ns.Get("name").String() + "__" + inner.Get("name").String()
			if !slices.Contains(names, want) {
				t.Errorf("no function %s among %q", want, names)
			}
		}
	}
	if in.Get(`tools.#(name=="multi_agent_v1")`).Exists() && !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "multi_agent_v1__") }) {
		t.Errorf("no multi_agent_v1__ function among %q", names)
	}
	if in.Get(`tools.#(type=="web_search")`).Exists() {
		if !slices.Contains(dropped, "web_search") {
			t.Errorf("web_search is not named in %q", dropped)
		}
		if slices.Contains(names, "web_search") {
			t.Errorf("web_search reached the upstream: %q", names)
		}
	}
}

// The docs' tables, between these markers, are Markdown()'s.
const (
	docsFile    = "../../docs/conversion.md"
	beginMarker = "<!-- policy:begin -->"
	endMarker   = "<!-- policy:end -->"
)

// TestPolicyDocs keeps the tables of docs/conversion.md equal to the policy. -update rewrites
// them.
func TestPolicyDocs(t *testing.T) {
	doc, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	before, rest, ok := strings.Cut(text, beginMarker)
	between, after, ok2 := strings.Cut(rest, endMarker)
	if !ok || !ok2 {
		t.Fatalf("%s lacks the markers %s and %s around the policy's tables", docsFile, beginMarker, endMarker)
	}
	want := Markdown()
	if strings.TrimSpace(between) == strings.TrimSpace(want) {
		return
	}
	if *update {
		out := before + beginMarker + "\n\n" + want + endMarker + after
		if err := os.WriteFile(docsFile, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the tables of %s", docsFile)
		return
	}
	got := strings.Split(strings.TrimSpace(between), "\n")
	exp := strings.Split(strings.TrimSpace(want), "\n")
	for i := range max(len(got), len(exp)) {
		var g, e string
		if i < len(got) {
			g = got[i]
		}
		if i < len(exp) {
			e = exp[i]
		}
		if g != e {
			t.Fatalf("the tables of %s differ from the policy (policy.go) at their line %d:\n  docs:   %s\n  policy: %s\nrun go test ./translate -run TestPolicyDocs -update to rewrite them", docsFile, i+1, g, e)
		}
	}
}
