// Package clients runs the real coding CLIs (Claude Code, Codex, Qwen Code), installed from npm
// at the versions pinned in versions.json, against lynkr in-process and the fake upstream of
// pkg/fakeupstream, through an upstream of each wire format: a plain answer (streamed: these
// clients always stream) and a tool loop with the client's own shell tool. Each case asserts
// what the client printed and what reached the upstream.
//
// LYNKR_CLIENTS=latest runs the newest releases instead (task clients-latest); the report of
// what lynkr dropped converting each client's requests goes to LYNKR_CLIENTS_REPORT.
package clients

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if s := summary.String(); s != "" {
		fmt.Print(s)
		if path := os.Getenv("LYNKR_CLIENTS_REPORT"); path != "" {
			if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "write %s: %v\n", path, err)
			}
		}
	}
	os.Exit(code)
}

// The prompts the fake upstream's script answers (see script_test.go).
const (
	answerPrompt = "say: pong-123"
	answerWant   = "pong-123"
	toolPrompt   = "run bash: echo lynkr-$((6*7))"
	toolWant     = "lynkr-42" // only the shell's arithmetic makes it
)

func TestClaudeCode(t *testing.T) {
	t.Parallel()
	matrix(t, claudeCode, chatFormat, responsesFormat, anthropicFormat)
}

func TestCodex(t *testing.T) {
	t.Parallel()
	matrix(t, codex, chatFormat, responsesFormat, anthropicFormat)
}

func TestQwenCode(t *testing.T) {
	t.Parallel()
	matrix(t, qwenCode, chatFormat, anthropicFormat)
}

// matrix runs c through lynkr on an upstream of each format: a plain answer and a tool loop.
func matrix(t *testing.T, c cli, formats ...format) {
	inst := install(t, c.name)
	t.Logf("%s %s (%s)", inst.Package, inst.Version, inst.Path)
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			t.Run("answer", func(t *testing.T) { t.Parallel(); answerCase(t, c, inst, f) })
			t.Run("tool", func(t *testing.T) { t.Parallel(); toolCase(t, c, inst, f) })
		})
	}
}

// answerCase: "say: pong-123" → the client prints pong-123, and the upstream got the prompt.
func answerCase(t *testing.T, c cli, inst installed, f format) {
	s := start(t, f)
	r := c.run(t, inst, s.Proxy.URL, answerPrompt, false)
	s.note(c, inst, r)
	s.checkAnswer(t, c, r, answerWant)
	calls := s.mustCalls(t, r, 1)
	if !bytes.Contains(calls[0].Body, []byte(answerPrompt)) {
		t.Errorf("the upstream's first %s request does not carry the prompt %q: %.2000s", f, answerPrompt, calls[0].Body)
	}
	s.checkPassthrough(t, c, calls[0])
}

// toolCase: "run bash: echo lynkr-$((6*7))" → the upstream calls the client's shell tool, the
// client runs it and sends the result back, the upstream answers "Tool output: lynkr-42\n…",
// and the client prints it.
func toolCase(t *testing.T, c cli, inst installed, f format) {
	s := start(t, f)
	r := c.run(t, inst, s.Proxy.URL, toolPrompt, true)
	s.note(c, inst, r)
	s.checkAnswer(t, c, r, toolWant)
	calls := s.mustCalls(t, r, 2)
	var first struct {
		Tools json.RawMessage `json:"tools"`
	}
	_ = json.Unmarshal(calls[0].Body, &first)
	if name, _ := shellTool(first.Tools); name != c.shell {
		t.Errorf("the upstream's first %s request declares no %s tool (found %q)", f, c.shell, name)
	}
	var back bool
	for _, call := range calls[1:] {
		back = back || bytes.Contains(call.Body, []byte(toolWant))
	}
	if !back {
		t.Errorf("no later %s request carried the tool's output %q back to the upstream; the last: %.3000s",
			f, toolWant, calls[len(calls)-1].Body)
	}
}

// checkAnswer checks the run ended well and printed want.
func (s *stack) checkAnswer(t *testing.T, c cli, r *result, want string) {
	t.Helper()
	got, err := c.answer(r)
	switch {
	case r.Err != nil || r.ExitCode != 0:
		t.Errorf("%s did not finish well through lynkr on the %s upstream\n%s\n%s", c.name, s.format, s.diagnose(), r)
	case err != nil:
		t.Errorf("%s: %v\n%s\n%s", c.name, err, s.diagnose(), r)
	case !strings.Contains(got, want):
		t.Errorf("%s answered %q, want it to contain %q\n%s\n%s", c.name, tail(got, 2000), want, s.diagnose(), r)
	}
}

// mustCalls returns the generation requests that reached the upstream, failing the test if
// there are fewer than n.
func (s *stack) mustCalls(t *testing.T, r *result, n int) []fakeupstream.Request {
	t.Helper()
	calls := s.calls()
	switch {
	case len(calls) >= n:
	case t.Failed(): // the client's failure above says why
		t.Fatalf("the %s upstream received %d generation requests, want at least %d", s.format, len(calls), n)
	default:
		t.Fatalf("the %s upstream received %d generation requests, want at least %d\n%s\n%s", s.format, len(calls), n, s.diagnose(), r)
	}
	return calls
}

// checkPassthrough checks that a request lynkr had no format to convert reached the upstream
// as the client sent it.
func (s *stack) checkPassthrough(t *testing.T, c cli, got fakeupstream.Request) {
	t.Helper()
	sent, ok := s.firstSent(s.format)
	if !ok {
		return // not the client's own format: converted, checked by the answer
	}
	switch {
	case c.name == "codex" && s.format == responsesFormat:
		// Same format, same model: byte for byte.
		if !bytes.Equal(sent, got.Body) {
			t.Errorf("Codex's Responses body did not reach the Responses upstream byte for byte\n%s", jsonDiff(sent, got.Body))
		}
	case c.name == "claude-code" && s.format == anthropicFormat:
		// Only the model may change.
		if a, b := canonical(sent, "model"), canonical(got.Body, "model"); a != b {
			t.Errorf("Claude Code's Messages body changed on its way to the Anthropic upstream (model aside)\n%s", jsonDiff(sent, got.Body))
		}
		checkClaudeCodeBody(t, got.Body)
	case s.format == chatFormat:
		// The conversation and the tools as the client wrote them.
		for _, k := range []string{"messages", "tools"} {
			if a, b := member(sent, k), member(got.Body, k); a != b {
				t.Errorf("%s's Chat %s changed on the way to the Chat upstream\nsent: %.1500s\ngot:  %.1500s", c.name, k, a, b)
			}
		}
	}
}

// checkClaudeCodeBody checks that the constructs Claude Code sends beyond the documented
// Messages API reached the Anthropic upstream.
func checkClaudeCodeBody(t *testing.T, body []byte) {
	t.Helper()
	var b struct {
		Messages []struct {
			Role string `json:"role"`
		} `json:"messages"`
		Thinking          json.RawMessage `json:"thinking"`
		ContextManagement json.RawMessage `json:"context_management"`
		Metadata          json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("the upstream got no JSON: %v", err)
	}
	if !slices.ContainsFunc(b.Messages, func(m struct {
		Role string `json:"role"`
	}) bool {
		return m.Role == "system"
	}) {
		t.Errorf(`the Anthropic upstream got no role:"system" message inside messages`)
	}
	for name, v := range map[string]json.RawMessage{"thinking": b.Thinking, "context_management": b.ContextManagement, "metadata": b.Metadata} {
		if len(v) == 0 {
			t.Errorf("the Anthropic upstream got no %s", name)
		}
	}
	if !bytes.Contains(body, []byte(`"cache_control"`)) {
		t.Errorf("the Anthropic upstream got no cache_control")
	}
}

// firstSent is the body of the client's first generation request, if it was in format f.
func (s *stack) firstSent(f format) ([]byte, bool) {
	for _, e := range s.Proxy.exchanges() {
		if e.Method == "POST" && strings.HasPrefix(e.Path, f.path()) && !strings.Contains(e.Path, "count_tokens") {
			return e.Body, true
		}
	}
	return nil, false
}

// diagnose describes what lynkr answered the client and what reached the upstream.
func (s *stack) diagnose() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client → lynkr (%s upstream):\n", s.format)
	for _, e := range s.Proxy.exchanges() {
		fmt.Fprintf(&b, "  %s %s → %d", e.Method, e.Path, e.Status)
		if e.Dropped != "" {
			fmt.Fprintf(&b, " (X-Lynkr-Dropped: %s)", e.Dropped)
		}
		if len(e.ErrorBody) > 0 {
			fmt.Fprintf(&b, " %.600s", e.ErrorBody)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "lynkr → upstream:\n")
	for _, r := range s.Fake.Requests() {
		fmt.Fprintf(&b, "  %s %s (%d bytes)\n", r.Method, r.Path, len(r.Body))
	}
	return b.String()
}

// note logs what lynkr reported dropping for this run, and adds it to the suite's summary.
func (s *stack) note(c cli, inst installed, r *result) {
	var dropped []string
	for _, e := range s.Proxy.exchanges() {
		for d := range strings.SplitSeq(e.Dropped, ",") {
			if d = strings.TrimSpace(d); d != "" && !slices.Contains(dropped, d) {
				dropped = append(dropped, d)
			}
		}
	}
	metric := s.droppedMetric()
	s.t.Logf("%s %s on the %s upstream: exit %d in %s; lynkr dropped [%s]", inst.Name, inst.Version, s.format,
		r.ExitCode, r.Duration.Round(1e6), strings.Join(dropped, ", "))
	summary.add(fmt.Sprintf("%s %s", inst.Name, inst.Version), s.format, dropped, metric)
}

// summary collects, per client and upstream format, what lynkr dropped.
var summary = &report{}

type report struct {
	mu   sync.Mutex
	rows map[string]map[format]map[string]float64 // client → format → construct → times dropped
}

// add records the constructs named in X-Lynkr-Dropped and the counts of
// lynkr_conversion_dropped_total of one run.
func (r *report) add(client string, f format, dropped []string, metric map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rows == nil {
		r.rows = map[string]map[format]map[string]float64{}
	}
	if r.rows[client] == nil {
		r.rows[client] = map[format]map[string]float64{}
	}
	row := r.rows[client][f]
	if row == nil {
		row = map[string]float64{}
		r.rows[client][f] = row
	}
	for _, d := range dropped {
		if _, ok := metric[d]; !ok {
			row[d] += 0 // named in the header, not counted
		}
	}
	for d, n := range metric {
		row[d] += n
	}
}

func (r *report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("What lynkr dropped converting each client's requests (X-Lynkr-Dropped; ×N: lynkr_conversion_dropped_total over the runs):\n")
	clients := make([]string, 0, len(r.rows))
	for c := range r.rows {
		clients = append(clients, c)
	}
	sort.Strings(clients)
	for _, c := range clients {
		fmt.Fprintf(&b, "  %s\n", c)
		for _, f := range []format{chatFormat, responsesFormat, anthropicFormat} {
			row, ok := r.rows[c][f]
			if !ok {
				continue
			}
			var items []string
			for d, n := range row {
				if n > 0 {
					d = fmt.Sprintf("%s ×%g", d, n)
				}
				items = append(items, d)
			}
			sort.Strings(items)
			list := strings.Join(items, ", ")
			if list == "" {
				list = "nothing"
			}
			fmt.Fprintf(&b, "    %-9s upstream: %s\n", f, list)
		}
	}
	return b.String()
}

// canonical re-encodes a JSON object with sorted keys, leaving out the named members.
func canonical(raw []byte, without ...string) string {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "not JSON: " + err.Error()
	}
	for _, k := range without {
		delete(v, k)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// member is one top-level member of a JSON object, canonically encoded.
func member(raw []byte, key string) string {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	if v[key] == nil {
		return ""
	}
	return canonical([]byte(`{"v":` + string(v[key]) + `}`))
}

// jsonDiff names the top-level members two JSON objects differ in.
func jsonDiff(a, b []byte) string {
	var x, y map[string]json.RawMessage
	if err := json.Unmarshal(a, &x); err != nil {
		return "sent: not JSON"
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return "received: not JSON"
	}
	var out []string
	for k, v := range x {
		w, ok := y[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("  %s: dropped (was %.200s)", k, v))
		case canonical([]byte(`{"v":`+string(v)+`}`)) != canonical([]byte(`{"v":`+string(w)+`}`)):
			out = append(out, fmt.Sprintf("  %s: %.200s → %.200s", k, v, w))
		}
	}
	for k, w := range y {
		if _, ok := x[k]; !ok {
			out = append(out, fmt.Sprintf("  %s: added %.200s", k, w))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return fmt.Sprintf("  same members, different bytes (%d sent, %d received)", len(a), len(b))
	}
	return strings.Join(out, "\n")
}
