package translate

import (
	"fmt"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
)

// The conversion policy: for every construct a client may send, what each conversion does
// with it. It is the one table of it in the code (the converters follow it, policy_test.go
// shows each row) and the source of the table in docs/conversion.md, which a test keeps equal
// to it. Same-format traffic is not in it: it passes through untouched, the model name the
// only edit.

// Action is what a conversion does with a construct.
type Action string

// The actions.
const (
	// Mapped: the construct becomes its counterpart in the upstream's format.
	Mapped Action = "mapped"
	// Dropped: the upstream's format has no counterpart; the construct is left out, named in
	// the answer's X-Lynkr-Dropped header and counted in lynkr_conversion_dropped_total.
	Dropped Action = "dropped"
	// Refused: leaving it out would change the meaning of the conversation, so the request
	// gets a 400 that names it.
	Refused Action = "refused"
	// Kept: lynkr itself honours it (echoes it, or keeps state for it); nothing is sent.
	Kept Action = "kept"
)

// Rule is one row of the policy.
type Rule struct {
	From, To  llm.Format
	Construct string // as the client's API names it
	Action    Action
	As        string   // what it becomes, or why
	Names     []string // for Dropped: the names X-Lynkr-Dropped gives it ("<type>": the construct's own type or name)
}

// AnyName stands in Names for the construct's own name: the type of an unknown block, the name
// of an unknown member.
const AnyName = "<name>"

// Policy is the conversion policy, by direction.
var Policy = []Rule{
	// Anthropic Messages → OpenAI Chat Completions.
	{llm.FormatAnthropic, llm.FormatChat, "system", Mapped, "a leading system message (text blocks joined; Claude Code's billing line left out)", nil},
	{llm.FormatAnthropic, llm.FormatChat, `messages[] role "system"`, Mapped, "a system message at the same position", nil},
	{llm.FormatAnthropic, llm.FormatChat, "messages[] of another role", Refused, "chat has no such role, and dropping the turn would change the conversation", nil},
	{llm.FormatAnthropic, llm.FormatChat, "text block", Mapped, "text content (one text becomes a string)", nil},
	{llm.FormatAnthropic, llm.FormatChat, "citations", Dropped, "chat input has no citations; the text stays", []string{"citations"}},
	{llm.FormatAnthropic, llm.FormatChat, "image block (base64, url)", Mapped, "an image_url part (a data: URL for base64)", nil},
	{llm.FormatAnthropic, llm.FormatChat, "image block (file id)", Refused, "chat cannot reference an Anthropic file, and the model would answer without the image", nil},
	{llm.FormatAnthropic, llm.FormatChat, "document block (base64, text, content)", Mapped, "a file part (base64) or text", nil},
	{llm.FormatAnthropic, llm.FormatChat, "document block (url, file id)", Refused, "chat cannot fetch it, and the model would answer without it", nil},
	{llm.FormatAnthropic, llm.FormatChat, "search_result block", Mapped, "its text", nil},
	{llm.FormatAnthropic, llm.FormatChat, "tool_use block", Mapped, "a tool call of the assistant message", nil},
	{llm.FormatAnthropic, llm.FormatChat, "tool_result block", Mapped, "a tool message; its images follow in a user message", nil},
	{llm.FormatAnthropic, llm.FormatChat, "thinking block", Dropped, "signed for Anthropic only (carried as reasoning_details when the chain goes on to Anthropic)", []string{"thinking_block"}},
	{llm.FormatAnthropic, llm.FormatChat, "redacted_thinking block", Dropped, "encrypted for Anthropic only", []string{"redacted_thinking"}},
	{llm.FormatAnthropic, llm.FormatChat, "server tool blocks and other block types", Dropped, "results of tools only Anthropic runs (server_tool_use, web_search_tool_result, …)", []string{AnyName, "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result", "mcp_tool_use", "mcp_tool_result", "container_upload", "compaction"}},
	{llm.FormatAnthropic, llm.FormatChat, "cache_control", Dropped, "chat upstreams cache prefixes by themselves", []string{"cache_control"}},
	{llm.FormatAnthropic, llm.FormatChat, "tools (custom)", Mapped, "function tools (input_schema as parameters, strict kept)", nil},
	{llm.FormatAnthropic, llm.FormatChat, "server tools (web_search_*, code_execution_*, …)", Dropped, "run only by Anthropic; named by family without the date", []string{AnyName, "web_search", "web_fetch", "code_execution", "tool_search_tool_regex", "tool_search_tool_bm25", "mcp_toolset", "memory", "bash", "text_editor", "computer"}},
	{llm.FormatAnthropic, llm.FormatChat, "tool_choice", Mapped, "auto, required (any), none, or the named function; disable_parallel_tool_use as parallel_tool_calls false", nil},
	{llm.FormatAnthropic, llm.FormatChat, "max_tokens", Mapped, "max_tokens (max_completion_tokens for reasoning models), clamped to the model's output limit where lynkr knows it", nil},
	{llm.FormatAnthropic, llm.FormatChat, "temperature, top_p", Mapped, "the same; left out (named) for reasoning models, which refuse them", []string{"temperature", "top_p"}},
	{llm.FormatAnthropic, llm.FormatChat, "top_k", Dropped, "chat has no top_k", []string{"top_k"}},
	{llm.FormatAnthropic, llm.FormatChat, "stop_sequences", Mapped, "stop", nil},
	{llm.FormatAnthropic, llm.FormatChat, "stream", Mapped, "stream, with stream_options.include_usage", nil},
	{llm.FormatAnthropic, llm.FormatChat, "metadata.user_id", Mapped, "user", nil},
	{llm.FormatAnthropic, llm.FormatChat, "thinking, output_config.effort", Mapped, "reasoning_effort for reasoning models (effort as is, max as high; a budget as low/medium/high); dropped for others", []string{"thinking", "output_config.effort"}},
	{llm.FormatAnthropic, llm.FormatChat, "output_config.format", Mapped, "response_format json_schema", nil},
	{llm.FormatAnthropic, llm.FormatChat, "service_tier", Mapped, "auto as auto; other tiers dropped", []string{"service_tier"}},
	{llm.FormatAnthropic, llm.FormatChat, "other members (context_management, mcp_servers, container, …)", Dropped, "no chat counterpart", []string{AnyName, "context_management", "mcp_servers", "container", "inference_geo", "speed"}},

	// OpenAI Chat Completions → Anthropic Messages.
	{llm.FormatChat, llm.FormatAnthropic, "leading system and developer messages", Mapped, "system (a lone string stays a string)", nil},
	{llm.FormatChat, llm.FormatAnthropic, "later system and developer messages", Mapped, `a "system" message in place on Claude 4.8 and later where Anthropic takes one (after a user turn, before an assistant turn or last); else <system> text at the same place in a user turn (never hoisted; after the results of tool calls it falls between)`, nil},
	{llm.FormatChat, llm.FormatAnthropic, "messages of another role", Refused, "Anthropic has no such role, and dropping the turn would change the conversation", nil},
	{llm.FormatChat, llm.FormatAnthropic, "text, image_url, file (base64) parts", Mapped, "text, image and document blocks; cache_control on parts kept", nil},
	{llm.FormatChat, llm.FormatAnthropic, "file parts by id, input_audio", Refused, "Anthropic cannot read them, and the model would answer without them", nil},
	{llm.FormatChat, llm.FormatAnthropic, "other part types", Dropped, "no Anthropic block", []string{AnyName}},
	{llm.FormatChat, llm.FormatAnthropic, "tool_calls, tool messages", Mapped, "tool_use blocks, tool_result blocks in a user turn (turns of one role merged)", nil},
	{llm.FormatChat, llm.FormatAnthropic, "tool call arguments that are not a JSON object", Dropped, "a replayed call cut short: it goes with an empty input, since a tool_use input must be an object", []string{"tool_calls.arguments"}},
	{llm.FormatChat, llm.FormatAnthropic, "reasoning_details (signed thinking)", Mapped, "thinking and redacted_thinking blocks, so thinking stays on across a tool loop", nil},
	{llm.FormatChat, llm.FormatAnthropic, "reasoning_content, reasoning", Dropped, "Anthropic takes back only its own signed thinking", []string{"reasoning_content"}},
	{llm.FormatChat, llm.FormatAnthropic, "max_tokens, max_completion_tokens", Mapped, "max_tokens (4096 when unset), clamped to the model's output limit where lynkr knows it", nil},
	{llm.FormatChat, llm.FormatAnthropic, "temperature, top_p, stop", Mapped, "temperature (at most 1), top_p, stop_sequences", nil},
	{llm.FormatChat, llm.FormatAnthropic, "reasoning_effort", Mapped, "adaptive thinking and output_config.effort on Claude 4.6 and later, else a thinking budget", nil},
	{llm.FormatChat, llm.FormatAnthropic, "response_format", Mapped, "json_schema as output_config.format; json_object dropped", []string{"response_format"}},
	{llm.FormatChat, llm.FormatAnthropic, "user, safety_identifier", Mapped, "metadata.user_id", nil},
	{llm.FormatChat, llm.FormatAnthropic, "tools (function)", Mapped, "tools", nil},
	{llm.FormatChat, llm.FormatAnthropic, "tools of other types", Dropped, "no Anthropic counterpart", []string{AnyName}},
	{llm.FormatChat, llm.FormatAnthropic, "tool_choice, parallel_tool_calls", Mapped, "tool_choice (allowed_tools narrows the tools); parallel_tool_calls false as disable_parallel_tool_use", nil},
	{llm.FormatChat, llm.FormatAnthropic, "prompt_cache_key", Mapped, "cache breakpoints at the end of the system prompt and of the conversation (unless the client set its own)", nil},
	{llm.FormatChat, llm.FormatAnthropic, "n, seed, penalties, logprobs, logit_bias, metadata, verbosity, store, modalities", Dropped, "no Anthropic counterpart", []string{"n", "seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias", "metadata", "verbosity", "store", "modalities"}},
	{llm.FormatChat, llm.FormatAnthropic, "service_tier", Mapped, "auto as auto; other tiers dropped", []string{"service_tier"}},
	{llm.FormatChat, llm.FormatAnthropic, "other members", Dropped, "no Anthropic counterpart", []string{AnyName}},

	// OpenAI Responses → OpenAI Chat Completions.
	{llm.FormatResponses, llm.FormatChat, "instructions, system and developer items", Mapped, "system messages where they are (after the outputs of tool calls they fall between, where chat takes nothing else)", nil},
	{llm.FormatResponses, llm.FormatChat, "user and assistant messages", Mapped, "user and assistant messages", nil},
	{llm.FormatResponses, llm.FormatChat, "messages of another role", Refused, "chat has no such role", nil},
	{llm.FormatResponses, llm.FormatChat, "function_call, function_call_output", Mapped, "tool calls and tool messages (a call without its output is refused: chat requires it)", nil},
	{llm.FormatResponses, llm.FormatChat, "custom tools and their calls", Mapped, "function tools with one string argument, input", nil},
	{llm.FormatResponses, llm.FormatChat, "namespace tools", Mapped, "a function per tool named namespace__name; calls come back with name and namespace", nil},
	{llm.FormatResponses, llm.FormatChat, "hosted tools (web_search, file_search, code_interpreter, …)", Dropped, "run only by OpenAI", []string{AnyName, "web_search", "web_search_preview", "file_search", "code_interpreter", "image_generation", "computer_use_preview", "mcp", "local_shell", "shell", "apply_patch"}},
	{llm.FormatResponses, llm.FormatChat, "reasoning items", Mapped, "reasoning text as reasoning_content of the next assistant message", nil},
	{llm.FormatResponses, llm.FormatChat, "reasoning encrypted_content", Dropped, "readable only by its provider (carried as reasoning_details when the chain goes on to Anthropic)", []string{"reasoning.encrypted_content"}},
	{llm.FormatResponses, llm.FormatChat, "other item and part types", Dropped, "no chat counterpart", []string{AnyName, "web_search_call", "file_search_call", "computer_call", "image_generation_call", "code_interpreter_call", "local_shell_call", "mcp_call", "mcp_list_tools", "compaction"}},
	{llm.FormatResponses, llm.FormatChat, "max_output_tokens", Mapped, "max_completion_tokens, clamped to the model's output limit where lynkr knows it", nil},
	{llm.FormatResponses, llm.FormatChat, "reasoning.effort, text.format, text.verbosity", Mapped, "reasoning_effort, response_format, verbosity", nil},
	{llm.FormatResponses, llm.FormatChat, "tool_choice, parallel_tool_calls, temperature, top_p, top_logprobs, user, safety_identifier, prompt_cache_key, service_tier", Mapped, "the same members", nil},
	{llm.FormatResponses, llm.FormatChat, "store, metadata, include, truncation, max_tool_calls", Kept, "echoed in the response; lynkr stores nothing", nil},
	{llm.FormatResponses, llm.FormatChat, "previous_response_id, conversation, background, prompt, item_reference", Refused, "they need state only the upstream that stored it has", nil},
	{llm.FormatResponses, llm.FormatChat, "other members (client_metadata, context_management, …)", Dropped, "no chat counterpart", []string{AnyName, "client_metadata", "context_management"}},

	// OpenAI Chat Completions → OpenAI Responses.
	{llm.FormatChat, llm.FormatResponses, "system and developer messages", Mapped, "system and developer message items where they are", nil},
	{llm.FormatChat, llm.FormatResponses, "user and assistant messages, tool_calls, tool messages", Mapped, "message, function_call and function_call_output items", nil},
	{llm.FormatChat, llm.FormatResponses, "function tools, tool_choice, parallel_tool_calls", Mapped, "function tools (flattened), tool_choice, parallel_tool_calls", nil},
	{llm.FormatChat, llm.FormatResponses, "max_tokens, max_completion_tokens", Mapped, "max_output_tokens", nil},
	{llm.FormatChat, llm.FormatResponses, "reasoning_effort, response_format, verbosity", Mapped, "reasoning.effort, text.format, text.verbosity", nil},
	{llm.FormatChat, llm.FormatResponses, "temperature, top_p, user, safety_identifier, prompt_cache_key, service_tier, metadata", Mapped, "the same members (store false); temperature and top_p left out (named) for reasoning models, which refuse them", []string{"temperature", "top_p"}},
	{llm.FormatChat, llm.FormatResponses, "n, seed, logit_bias, penalties, stop, logprobs, modalities", Dropped, "no Responses counterpart", []string{"n", "seed", "logit_bias", "presence_penalty", "frequency_penalty", "stop", "logprobs", "top_logprobs", "modalities"}},
	{llm.FormatChat, llm.FormatResponses, "reasoning_content, reasoning", Dropped, "a Responses upstream takes back only its own encrypted reasoning", []string{"reasoning_content", "reasoning"}},
	{llm.FormatChat, llm.FormatResponses, "other members, parts and tools", Dropped, "no Responses counterpart (chat custom tools and their calls too, for now)", []string{AnyName, "custom", "tool_calls.custom", "tool_choice.custom"}},

	// Anthropic Messages → Bedrock Converse.
	{llm.FormatAnthropic, llm.FormatConverse, "system, messages, tools, tool_choice, inference settings", Mapped, "system, messages, toolConfig, inferenceConfig; cache_control as cachePoint; thinking and top_k as additional fields for Claude", nil},
	{llm.FormatAnthropic, llm.FormatConverse, `messages[] role "system"`, Mapped, "<system> text at the same place in a user turn: Bedrock has no mid-conversation system messages", nil},
	{llm.FormatAnthropic, llm.FormatConverse, "server tools, server tool blocks, other block types", Dropped, "run only by Anthropic", []string{AnyName}},
	{llm.FormatAnthropic, llm.FormatConverse, "image urls, documents by url or file", Refused, "Converse cannot fetch them", nil},
	{llm.FormatAnthropic, llm.FormatConverse, "other members (output_config, context_management, …)", Dropped, "no Converse counterpart", []string{AnyName}},
}

// RulesFor returns the rules of one direction.
func RulesFor(from, to llm.Format) []Rule {
	var out []Rule
	for _, r := range Policy {
		if r.From == from && r.To == to {
			out = append(out, r)
		}
	}
	return out
}

// directions lists the directions of the policy in their order, for the docs.
func directions() [][2]llm.Format {
	var out [][2]llm.Format
	seen := map[[2]llm.Format]bool{}
	for _, r := range Policy {
		d := [2]llm.Format{r.From, r.To}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// formatNames are the formats as the docs name them.
var formatNames = map[llm.Format]string{
	llm.FormatAnthropic: "Anthropic Messages",
	llm.FormatChat:      "OpenAI Chat Completions",
	llm.FormatResponses: "OpenAI Responses",
	llm.FormatConverse:  "Bedrock Converse",
}

// Markdown renders the policy as the tables of docs/conversion.md.
func Markdown() string {
	var b strings.Builder
	for _, d := range directions() {
		fmt.Fprintf(&b, "### %s → %s\n\n", formatNames[d[0]], formatNames[d[1]])
		b.WriteString("| construct | action | what happens | named in X-Lynkr-Dropped |\n|---|---|---|---|\n")
		for _, r := range RulesFor(d[0], d[1]) {
			names := strings.Join(r.Names, ", ")
			if r.Action != Dropped && names != "" {
				names += " (when dropped)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", escape(r.Construct), r.Action, escape(r.As), escape(names))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}
