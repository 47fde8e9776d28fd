package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ from the converters' output")

// goldenTime is the clock of conversions whose output carries a creation time.
var goldenTime = time.Unix(1767225600, 0)

// TestGoldenStreams runs each recorded upstream stream (<case>.in.sse, answering the client
// request <case>.req.json) through its converter and compares the client's stream, followed
// by comment lines with the error and the usage, with <case>.out.sse byte for byte.
func TestGoldenStreams(t *testing.T) {
	for _, dir := range []string{"chat_to_messages", "messages_to_chat"} {
		ins, err := filepath.Glob(filepath.Join("testdata", dir, "*.in.sse"))
		if err != nil || len(ins) == 0 {
			t.Fatalf("no cases in testdata/%s: %v", dir, err)
		}
		for _, in := range ins {
			name := strings.TrimSuffix(in, ".in.sse")
			t.Run(dir+"/"+filepath.Base(name), func(t *testing.T) {
				req := readFile(t, name+".req.json")
				var s interface {
					Next(sse.Event) ([]sse.Event, error)
					Close() ([]sse.Event, error)
					Usage() llm.Usage
				}
				if dir == "chat_to_messages" {
					s = NewChatToMessagesStream(req)
				} else {
					m := NewMessagesToChatStream(req)
					m.created = goldenTime.Unix()
					s = m
				}
				got := runStream(t, s, readFile(t, in))
				compareGolden(t, name+".out.sse", got)
			})
		}
	}
}

// runStream feeds the events of upstream to s and returns the client's stream as it would go
// on the wire, with the error (if any) and the usage as SSE comment lines.
func runStream(t *testing.T, s interface {
	Next(sse.Event) ([]sse.Event, error)
	Close() ([]sse.Event, error)
	Usage() llm.Usage
}, upstream []byte) []byte {
	t.Helper()
	var out []byte
	r := sse.NewReader(bytes.NewReader(upstream), 0)
	var streamErr error
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs, err := s.Next(ev)
		out = append(out, sse.Encode(evs...)...)
		if err != nil {
			streamErr = err
			break
		}
	}
	if streamErr == nil {
		evs, err := s.Close()
		out = append(out, sse.Encode(evs...)...)
		streamErr = err
	}
	if streamErr != nil {
		out = fmt.Appendf(out, ": error: %v\n", streamErr)
	}
	u := s.Usage()
	return fmt.Appendf(out, ": usage: input=%d output=%d cache_read=%d cache_create=%d\n",
		u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheCreateTokens)
}

// TestGoldenRequests converts each <case>.in.json of the request directories and compares the
// result, indented, with <case>.out.json. <case>.model, when present, names the upstream model.
func TestGoldenRequests(t *testing.T) {
	convs := map[string]func([]byte, llm.Options) ([]byte, error){
		"messages_to_chat_request": MessagesToChatRequest,
		"chat_to_messages_request": ChatToMessagesRequest,
	}
	for dir, conv := range convs {
		ins, _ := filepath.Glob(filepath.Join("testdata", dir, "*.in.json"))
		if len(ins) == 0 {
			t.Fatalf("no cases in testdata/%s", dir)
		}
		for _, in := range ins {
			name := strings.TrimSuffix(in, ".in.json")
			t.Run(dir+"/"+filepath.Base(name), func(t *testing.T) {
				model := ""
				if b, err := os.ReadFile(name + ".model"); err == nil {
					model = strings.TrimSpace(string(b))
				}
				out, err := conv(readFile(t, in), llm.Options{Model: model})
				compareGolden(t, name+".out.json", goldenJSON(t, out, err, nil))
			})
		}
	}
}

// TestGoldenResponses converts each upstream answer <case>.in.json to the client request
// <case>.req.json and compares the result, indented, with <case>.out.json.
func TestGoldenResponses(t *testing.T) {
	convs := map[string]func(req, body []byte) ([]byte, llm.Usage, error){
		"chat_to_messages_response": ChatToMessagesResponse,
		"messages_to_chat_response": func(req, body []byte) ([]byte, llm.Usage, error) {
			return messagesToChatResponse(req, body, goldenTime)
		},
	}
	for dir, conv := range convs {
		ins, _ := filepath.Glob(filepath.Join("testdata", dir, "*.in.json"))
		if len(ins) == 0 {
			t.Fatalf("no cases in testdata/%s", dir)
		}
		for _, in := range ins {
			name := strings.TrimSuffix(in, ".in.json")
			t.Run(dir+"/"+filepath.Base(name), func(t *testing.T) {
				out, usage, err := conv(readFile(t, name+".req.json"), readFile(t, in))
				compareGolden(t, name+".out.json", goldenJSON(t, out, err, &usage))
			})
		}
	}
}

// goldenJSON is the indented output of a conversion, or its error, and the usage it reported.
func goldenJSON(t *testing.T, out []byte, err error, usage *llm.Usage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.Bytes()
	}
	if ierr := json.Indent(&b, out, "", "  "); ierr != nil {
		t.Fatalf("output is not JSON: %v\n%s", ierr, out)
	}
	b.WriteByte('\n')
	if usage != nil {
		fmt.Fprintf(&b, "usage: input=%d output=%d cache_read=%d cache_create=%d\n",
			usage.InputTokens, usage.OutputTokens, usage.CacheReadTokens, usage.CacheCreateTokens)
	}
	return b.Bytes()
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
		t.Errorf("%s differs (run go test -update to accept)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
