// Package loopguard detects an agent caught in a loop from the conversation it sends, before
// the request reaches a provider: a conversation too long, too many tool rounds since a person
// last wrote, or the same tool call made round after round. It is pure data in, verdict out.
//
// A tool round is an assistant turn that calls tools, whose results come back in the next
// request: one round however many calls the turn makes in parallel. A message a person
// wrote ends the rounds before it. What counts as a person writing, by format:
//
//   - Anthropic Messages: a user message without a tool_result block. A user message that
//     carries tool results is tool output even when it also carries text, because Claude Code
//     sends its system reminders (and what a person types while the agent works) as text
//     blocks next to the tool results; counting those would reset the rounds on every turn.
//   - OpenAI Chat Completions: a user message. Results come in tool (or function) messages.
//   - OpenAI Responses: a string input, or a message item with role user. A round is a run of
//     function_call or custom_tool_call items, up to the outputs that answer them.
package loopguard

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
)

// The names of the settings the limits are read from, for messages that tell a person what to
// change.
const (
	SettingMaxMessages   = "LOOP_GUARD_MAX_MESSAGES"
	SettingMaxToolRounds = "LOOP_GUARD_MAX_TOOL_ROUNDS"
	SettingMaxRepeats    = "LOOP_GUARD_MAX_REPEATS"
)

// Reasons a conversation is refused, as Verdict.Reason.
const (
	ReasonMessages   = "messages"
	ReasonToolRounds = "tool_rounds"
	ReasonRepeats    = "repeats"
)

// Reasons are every reason a conversation is refused.
var Reasons = []string{ReasonMessages, ReasonToolRounds, ReasonRepeats}

// Limits are the bounds a conversation must stay within. Zero (or a negative value) turns a
// check off.
type Limits struct {
	MaxMessages int // messages (turns) in the conversation: more are refused
	// MaxToolRounds bounds the consecutive tool rounds since the last message a person
	// wrote: more are refused.
	MaxToolRounds int
	// MaxRepeats refuses a conversation whose last this many tool rounds, in a row since a
	// person last wrote, each made the same calls: the same tool names with the same
	// arguments, compared as compact JSON, in any order.
	MaxRepeats int
}

// Enabled reports whether any check is on; Check lets everything through when none is.
func (l Limits) Enabled() bool { return l.MaxMessages > 0 || l.MaxToolRounds > 0 || l.MaxRepeats > 0 }

// Validate reports a limit that cannot be meant.
func (l Limits) Validate() error {
	switch {
	case l.MaxMessages < 0:
		return fmt.Errorf("%s must not be negative (0 turns the check off)", SettingMaxMessages)
	case l.MaxToolRounds < 0:
		return fmt.Errorf("%s must not be negative (0 turns the check off)", SettingMaxToolRounds)
	case l.MaxRepeats < 0:
		return fmt.Errorf("%s must not be negative (0 turns the check off)", SettingMaxRepeats)
	case l.MaxRepeats == 1:
		return fmt.Errorf("%s must be at least 2 (or 0, off): 1 would refuse every tool call", SettingMaxRepeats)
	}
	return nil
}

// Verdict says why a conversation is refused; the zero Verdict lets it through.
type Verdict struct {
	Reason string // ReasonMessages, ReasonToolRounds or ReasonRepeats
	Detail string // one sentence a person can act on, naming the limit and its setting
}

// Refused reports whether the conversation is refused.
func (v Verdict) Refused() bool { return v.Reason != "" }

// Check reads the conversation of a request body in format f and returns why it breaks the
// limits l, when it does; a repeat is reported before too many rounds, and those before too
// many messages. A body Check cannot read (malformed, or in another format) passes: the
// gateway validates bodies, Check only judges them.
//
// Check reads the body in one pass and allocates nothing on a conversation it lets through,
// unless a person last wrote at least MaxRepeats rounds ago: it then compares the calls of the
// last rounds, from the last backwards, stopping at the first that differs, which allocates
// a little. A MaxRepeats above 64 costs one allocation more.
func Check(f llm.Format, body []byte, l Limits) Verdict {
	if !l.Enabled() {
		return Verdict{}
	}
	// Read a view of body rather than a copy: nothing writes to body during Check, and no
	// part of it outlives Check (Detail is formatted afresh).
	s := unsafe.String(unsafe.SliceData(body), len(body))
	var t tally
	var recent [64]string
	if n := l.MaxRepeats; n > len(recent) {
		// A round takes at least two bytes of body: a bigger ring could never fill.
		t.recent = make([]string, min(n, len(body)/2+1))
	} else if n > 0 {
		t.recent = recent[:n]
	}
	switch f {
	case llm.FormatAnthropic, llm.FormatChat, llm.FormatResponses:
		t.read(f, s)
	default:
		return Verdict{}
	}
	v := t.verdict(f, l)
	if v.Refused() && !gjson.Valid(s) { // the reader is lenient: refuse only what is JSON
		return Verdict{}
	}
	return v
}

// tally counts a conversation as Check reads it, message by message.
type tally struct {
	messages int
	rounds   int // tool rounds since a person last wrote
	// recent holds the JSON text of the last len(recent) rounds (MaxRepeats of them), an
	// assistant message or a run of call items: round r is recent[r%len(recent)].
	recent []string
}

// reset starts the tally of another conversation.
func (t *tally) reset() { t.messages, t.rounds = 0, 0 }

// person records a message a person wrote.
func (t *tally) person() { t.rounds = 0 }

// round records a tool round, whose calls are in the JSON text raw.
func (t *tally) round(raw string) {
	if len(t.recent) > 0 {
		t.recent[t.rounds%len(t.recent)] = raw
	}
	t.rounds++
}

// extend replaces the JSON text of the last round, which has grown.
func (t *tally) extend(raw string) {
	if len(t.recent) > 0 && t.rounds > 0 {
		t.recent[(t.rounds-1)%len(t.recent)] = raw
	}
}

func (t *tally) verdict(f llm.Format, l Limits) Verdict {
	if n := len(t.recent); n > 0 && n == l.MaxRepeats { // smaller when the body cannot hold so many rounds
		if calls, ok := t.repeated(f); ok {
			return Verdict{ReasonRepeats, repeatDetail(calls, l.MaxRepeats)}
		}
	}
	if l.MaxToolRounds > 0 && t.rounds > l.MaxToolRounds {
		return Verdict{ReasonToolRounds, fmt.Sprintf("the conversation has %d consecutive tool rounds since the last user message, "+
			"past the limit of %d (%s): the agent may be looping; start a new turn or raise the limit",
			t.rounds, l.MaxToolRounds, SettingMaxToolRounds)}
	}
	if l.MaxMessages > 0 && t.messages > l.MaxMessages {
		return Verdict{ReasonMessages, fmt.Sprintf("the conversation has %d messages, past the limit of %d (%s): "+
			"start a new conversation, compact this one, or raise the limit", t.messages, l.MaxMessages, SettingMaxMessages)}
	}
	return Verdict{}
}

// repeated reports whether the last len(t.recent) rounds all made the same calls, and returns
// them. It compares from the last round backwards and stops at the first that differs, so
// a conversation that is not looping costs two rounds' comparison.
func (t *tally) repeated(f llm.Format) ([]toolCall, bool) {
	n := len(t.recent)
	if n == 0 || t.rounds < n {
		return nil, false
	}
	last := roundCalls(f, t.recent[(t.rounds-1)%n])
	if len(last) == 0 {
		return nil, false
	}
	for r := t.rounds - 2; r >= t.rounds-n; r-- {
		if !slices.Equal(roundCalls(f, t.recent[r%n]), last) {
			return nil, false
		}
	}
	return last, true
}

// toolCall is a call as repeats compare it: the tool's name and its arguments as compact
// JSON, or as text when they are a string that is not JSON.
type toolCall struct{ name, args string }

// roundCalls returns the calls of one round, sorted: the order of parallel calls does not
// matter.
func roundCalls(f llm.Format, raw string) []toolCall {
	var calls []toolCall
	add := func(name, args string) { // name and args may share the body's memory
		if len(args) > 0 && args[0] == '"' { // JSON sent as a string: compare the JSON when it is JSON
			if args = str(args); !gjson.Valid(args) {
				calls = append(calls, toolCall{name, args})
				return
			}
		}
		calls = append(calls, toolCall{name, string(appendCompact(nil, args))})
	}
	switch f {
	case llm.FormatAnthropic:
		anthropicCalls(raw, add)
	case llm.FormatChat:
		chatCalls(raw, add)
	case llm.FormatResponses:
		responsesCalls(raw, add)
	}
	slices.SortFunc(calls, func(a, b toolCall) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.args, b.args))
	})
	return calls
}

// repeatDetail says which calls were repeated.
func repeatDetail(calls []toolCall, n int) string {
	const tail = "the agent is repeating itself; interrupt it with new instructions or raise the limit"
	if len(calls) == 1 {
		return fmt.Sprintf("the tool %q was called with the same input in the last %d rounds in a row (%s): %s",
			calls[0].name, n, SettingMaxRepeats, tail)
	}
	var names []string
	for _, c := range calls {
		if name := strconv.Quote(c.name); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return fmt.Sprintf("the same %d tool calls (to %s) were made in the last %d rounds in a row (%s): %s",
		len(calls), strings.Join(names, ", "), n, SettingMaxRepeats, tail)
}
