package e2e

import (
	"strings"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// scenario is one scripted upstream answer the client must receive intact.
type scenario struct {
	name  string
	reply fakeupstream.Reply
	tools bool // the request offers the tools the answer calls
}

// cachedUsage is a usage with every kind of prompt token, so a conversion that drops or
// double-counts cached tokens shows.
var cachedUsage = fakeupstream.Usage{InputTokens: 11, OutputTokens: 7, CacheReadTokens: 1200, CacheWriteTokens: 300}

// The tools a scenario calls. Their arguments stream in fragments that split keys, strings
// and numbers.
var (
	weatherCall = fakeupstream.ToolCall{Name: "get_weather", Arguments: fakeupstream.Split(`{"city":"Paris","days":[1,2],"unit":"°C"}`, 6)}
	readCall    = fakeupstream.ToolCall{Name: "read_file", Arguments: []string{`{"pa`, `th":"/tmp/a b.txt"`, `,"lines":10}`}}
)

var scenarios = []scenario{
	{name: "text", reply: fakeupstream.Reply{Text: "Hello there, world — ünïcode ✓", Chunks: 4, Usage: cachedUsage}},
	{name: "tool", tools: true, reply: fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{weatherCall}, Usage: cachedUsage}},
	{name: "text and parallel tools", tools: true, reply: fakeupstream.Reply{
		Text: "Let me check both.", Chunks: 3, ToolCalls: []fakeupstream.ToolCall{weatherCall, readCall}, Usage: cachedUsage,
	}},
	{name: "max tokens", reply: fakeupstream.Reply{Text: "This answer is cut", StopReason: "max_tokens", Usage: cachedUsage}},
}

// args is the JSON a tool call's fragments join into.
func args(tc fakeupstream.ToolCall) string { return strings.Join(tc.Arguments, "") }

// toolSchemas are the JSON schemas of the tools the scenarios call.
var toolSchemas = map[string]map[string]any{
	"get_weather": {
		"type": "object",
		"properties": map[string]any{
			"city": map[string]any{"type": "string"},
			"days": map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
			"unit": map[string]any{"type": "string"},
		},
		"required": []string{"city"},
	},
	"read_file": {
		"type":       "object",
		"properties": map[string]any{"path": map[string]any{"type": "string"}, "lines": map[string]any{"type": "integer"}},
		"required":   []string{"path"},
	},
}

// toolNames lists the tools in a stable order.
var toolNames = []string{"get_weather", "read_file"}
