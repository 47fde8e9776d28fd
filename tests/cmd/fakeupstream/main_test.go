package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-addr", "127.0.0.1:0", "-mode", "echo", "-chunks", "0"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "fakeupstream listening on ")
	if !ok {
		t.Fatalf("unexpected line %q", line)
	}
	go io.Copy(io.Discard, pr)

	res, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"ping pong"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"content":" pong"`) || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("echo stream: %s", body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Main: %v", err)
	}
}

func TestRunRejectsUnknownMode(t *testing.T) {
	err := Main(t.Context(), []string{"-addr", "127.0.0.1:0", "-mode", "nope"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Main with -mode nope: %v", err)
	}
}

func TestReplyFor(t *testing.T) {
	for _, mode := range []string{"text", "echo", "tools", "thinking"} {
		r, err := replyFor(mode, 10, 4)
		if err != nil {
			t.Errorf("%s: %v", mode, err)
		}
		if mode == "text" && (len(strings.Fields(r.Text)) != 10 || r.Chunks != 4) {
			t.Errorf("text reply %+v", r)
		}
		if mode == "tools" && strings.Join(r.ToolCalls[0].Arguments, "") != `{"location":"Paris, France","unit":"celsius"}` {
			t.Errorf("tools reply %+v", r)
		}
	}
}

func TestRunScriptMode(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-addr", "127.0.0.1:0", "-script"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	url := strings.TrimPrefix(strings.TrimSpace(line), "fakeupstream listening on ")
	go io.Copy(io.Discard, pr)

	tests := []struct{ path, body, want string }{
		{"/v1/messages", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"run bash: uname -a"}],"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}]}`,
			`"name":"Bash","input":{"command":"uname -a"}`},
		{"/v1/responses", `{"model":"m","input":"say: from the script"}`, `"text": "from the script"`},
	}
	for _, tt := range tests {
		res, err := http.Post(url+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %s, want %s in it", tt.path, body, tt.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Main: %v", err)
	}
}
