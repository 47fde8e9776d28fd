package converse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenRequest is the client request every response and stream golden answers.
const goldenRequest = `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}]}`

// models gives the Bedrock model id a request golden is converted for; "" keeps the model
// the request names.
var models = map[string]string{
	"basic":            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
	"tools":            "anthropic.claude-sonnet-4-5-20250929-v1:0",
	"thinking":         "",
	"history-no-tools": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
	"llama":            "meta.llama3-70b-instruct-v1:0",
}

func TestGoldenRequests(t *testing.T) {
	ins, _ := filepath.Glob("testdata/request/*.in.json")
	if len(ins) == 0 {
		t.Fatal("no request goldens")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			model, ok := models[name]
			if !ok {
				t.Fatalf("no model listed for golden %s", name)
			}
			body := readFile(t, in)
			got, err := MessagesToConverseRequest(body, llm.Options{Model: model})
			if err != nil {
				t.Fatal(err)
			}
			checkConverseRequest(t, got)
			compareGolden(t, strings.TrimSuffix(in, ".in.json")+".want.json", indent(t, got))
		})
	}
}

func TestGoldenResponses(t *testing.T) {
	ins, _ := filepath.Glob("testdata/response/*.in.json")
	if len(ins) == 0 {
		t.Fatal("no response goldens")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			got, usage, err := ConverseToMessagesResponse([]byte(goldenRequest), readFile(t, in))
			if err != nil {
				t.Fatal(err)
			}
			u := gjson.GetBytes(got, "usage")
			if in := u.Get("input_tokens").Int() + u.Get("cache_read_input_tokens").Int() + u.Get("cache_creation_input_tokens").Int(); in != usage.InputTokens {
				t.Errorf("usage.InputTokens = %d, the message says %d", usage.InputTokens, in)
			}
			compareGolden(t, strings.TrimSuffix(in, ".in.json")+".want.json", indent(t, normalizeIDs(got)))
		})
	}
}

func TestGoldenStreams(t *testing.T) {
	ins, _ := filepath.Glob("testdata/stream/*.events")
	if len(ins) == 0 {
		t.Fatal("no stream goldens")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".events")
		t.Run(name, func(t *testing.T) {
			events := parseEvents(t, readFile(t, in))
			s := NewConverseToMessagesStream([]byte(goldenRequest))
			var out []sse.Event
			for _, ev := range events {
				o, err := s.Next(ev)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, o...)
			}
			tail, err := s.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tail...)
			if err := checkAnthropicStream(out, true); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, strings.TrimSuffix(in, ".events")+".sse", normalizeIDs(sse.Encode(out...)))
		})
	}
}

// parseEvents reads a transcript: one "eventType {json}" per line; blank lines and lines
// starting with # are skipped.
func parseEvents(t testing.TB, b []byte) []sse.Event {
	t.Helper()
	var out []sse.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, data, _ := strings.Cut(line, " ")
		out = append(out, sse.Event{Event: name, Data: []byte(data)})
	}
	return out
}

var idPattern = regexp.MustCompile(`msg_bdrk_[0-9a-f]{24}`)

func normalizeIDs(b []byte) []byte { return idPattern.ReplaceAll(b, []byte("msg_bdrk_ID")) }

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to rewrite it after checking the change)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// checkConverseRequest checks what Converse requires of every request the conversion makes.
func checkConverseRequest(t testing.TB, b []byte) {
	t.Helper()
	if err := converseRequestProblem(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
}

func converseRequestProblem(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("request is not JSON")
	}
	var req request
	if err := json.Unmarshal(b, &req); err != nil {
		return err
	}
	if len(req.Messages) == 0 {
		return fmt.Errorf("no messages")
	}
	hasToolBlocks := false
	for i, m := range req.Messages {
		if i > 0 && req.Messages[i-1].Role == m.Role {
			return fmt.Errorf("messages %d and %d share role %s", i-1, i, m.Role)
		}
		if len(m.Content) == 0 {
			return fmt.Errorf("message %d is empty", i)
		}
		for j, c := range m.Content {
			if n := unionMembers(c); n != 1 {
				return fmt.Errorf("message %d block %d sets %d union members", i, j, n)
			}
			if c.Text != nil && strings.TrimSpace(*c.Text) == "" {
				return fmt.Errorf("message %d block %d: blank text", i, j)
			}
			if c.ToolUse != nil || c.ToolResult != nil {
				hasToolBlocks = true
			}
			if c.ToolResult != nil && len(c.ToolResult.Content) == 0 {
				return fmt.Errorf("message %d block %d: empty tool result", i, j)
			}
		}
	}
	if hasToolBlocks && (req.ToolConfig == nil || len(req.ToolConfig.Tools) == 0) {
		return fmt.Errorf("tool blocks without a toolConfig")
	}
	return nil
}

func unionMembers(b block) int {
	n := 0
	for _, set := range []bool{b.Text != nil, b.Image != nil, b.Document != nil, b.ToolUse != nil, b.ToolResult != nil, b.ReasoningContent != nil, b.JSON != nil, b.CachePoint != nil} {
		if set {
			n++
		}
	}
	return n
}

// checkAnthropicStream checks the shape of an Anthropic Messages stream: message_start then
// ping first, content blocks numbered from 0 and closed before the next opens, message_delta
// and message_stop last (when complete), and every event's data a JSON object naming its type.
func checkAnthropicStream(evs []sse.Event, complete bool) error {
	if len(evs) == 0 {
		if complete {
			return fmt.Errorf("no events")
		}
		return nil
	}
	if evs[0].Event != "message_start" {
		return fmt.Errorf("first event %q, want message_start", evs[0].Event)
	}
	open, next, stopped := -1, 0, false
	for i, ev := range evs {
		if !json.Valid(ev.Data) || gjson.GetBytes(ev.Data, "type").String() != ev.Event {
			return fmt.Errorf("event %d (%s): data %s does not name its type", i, ev.Event, ev.Data)
		}
		if stopped {
			return fmt.Errorf("event %d (%s) after message_stop", i, ev.Event)
		}
		idx := int(gjson.GetBytes(ev.Data, "index").Int())
		switch ev.Event {
		case "message_start":
			if i != 0 {
				return fmt.Errorf("message_start at %d", i)
			}
		case "content_block_start":
			if open >= 0 {
				return fmt.Errorf("event %d: block %d starts while %d is open", i, idx, open)
			}
			if idx != next {
				return fmt.Errorf("event %d: block index %d, want %d", i, idx, next)
			}
			open, next = idx, next+1
		case "content_block_delta":
			if idx != open {
				return fmt.Errorf("event %d: delta for block %d, open is %d", i, idx, open)
			}
		case "content_block_stop":
			if idx != open {
				return fmt.Errorf("event %d: stop for block %d, open is %d", i, idx, open)
			}
			open = -1
		case "message_delta":
			if open >= 0 {
				return fmt.Errorf("event %d: message_delta with block %d open", i, open)
			}
			if !gjson.GetBytes(ev.Data, "delta.stop_reason").Exists() {
				return fmt.Errorf("event %d: message_delta without stop_reason", i)
			}
		case "message_stop":
			if i == 0 || evs[i-1].Event != "message_delta" {
				return fmt.Errorf("event %d: message_stop not after message_delta", i)
			}
			stopped = true
		case "ping":
		default:
			return fmt.Errorf("event %d: unknown event %q", i, ev.Event)
		}
	}
	if complete && !stopped {
		return fmt.Errorf("stream has no message_stop")
	}
	return nil
}
