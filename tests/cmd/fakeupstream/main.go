// Command fakeupstream runs lynkr's fake LLM provider as its own process, for benchmarks and
// manual tests: point OPENAI_ENDPOINT at <url>/v1/chat/completions (or <url>/v1/responses)
// and the Anthropic endpoints at <url>/v1/messages.
//
//	fakeupstream -addr 127.0.0.1:8089 -mode text -chunks 20 -delay 5ms
//
// With -script it answers from each request instead (see fakeupstream.WithScript), so that a
// real coding CLI can run a tool loop against it: "run bash: CMD" in the prompt makes it call
// the CLI's own shell tool, and the tool's result comes back as "Tool output: …".
//
//	fakeupstream -addr 127.0.0.1:8089 -script -record
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
}

// Main serves until ctx ends. It prints "fakeupstream listening on <url>" to stderr once
// the port is open.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeupstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address (port 0 picks a free one)")
	mode := fs.String("mode", "text", "answer: text, echo, tools or thinking")
	chunks := fs.Int("chunks", 20, "stream deltas per answer (0: one per word)")
	words := fs.Int("words", 100, "words in a text answer")
	delay := fs.Duration("delay", 0, "delay between stream events")
	headerDelay := fs.Duration("header-delay", 0, "delay before the response headers")
	apiKey := fs.String("api-key", "", "require this API key")
	record := fs.Bool("record", false, "record requests (memory grows with every call)")
	script := fs.Bool("script", false, "answer from the request (tool-loop script mode) instead of -mode: "+
		`"run bash: CMD" calls the client's shell tool, a tool result answers "Tool output: …", "say: WORDS" answers WORDS`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	reply, err := replyFor(*mode, *words, *chunks)
	if err != nil {
		return err
	}
	reply.ChunkDelay, reply.HeaderDelay = *delay, *headerDelay
	opts := []fakeupstream.Option{
		fakeupstream.WithReply(reply), fakeupstream.WithRecording(*record), fakeupstream.WithScript(*script),
	}
	if *apiKey != "" {
		opts = append(opts, fakeupstream.WithAPIKey(*apiKey))
	}
	srv, err := fakeupstream.Start(*addr, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "fakeupstream listening on %s\n", srv.URL())
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func replyFor(mode string, words, chunks int) (fakeupstream.Reply, error) {
	ws := make([]string, max(words, 1))
	for i := range ws {
		ws[i] = [2]string{"lorem", "ipsum"}[i%2]
	}
	text := strings.Join(ws, " ")
	switch mode {
	case "text":
		return fakeupstream.Reply{Text: text, Chunks: chunks}, nil
	case "echo":
		return fakeupstream.Reply{Echo: true, Chunks: chunks}, nil
	case "tools":
		return fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{{
			Name:      "get_weather",
			Arguments: fakeupstream.Split(`{"location":"Paris, France","unit":"celsius"}`, max(chunks, 1)),
		}}}, nil
	case "thinking":
		return fakeupstream.Reply{
			Thinking: "Let me think about this step by step.", Signature: "c2lnbmF0dXJl",
			Text: text, Chunks: chunks,
		}, nil
	}
	return fakeupstream.Reply{}, fmt.Errorf("unknown -mode %q (want text, echo, tools or thinking)", mode)
}
