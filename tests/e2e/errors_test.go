package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// clientCall is one call of an SDK client through lynkr; it returns the SDK's error.
type clientCall struct {
	name string
	run  func(t *testing.T, s *stack) error
}

// nonStreamCalls are a non-streamed call of each client API.
var nonStreamCalls = []clientCall{
	{"anthropic messages", func(t *testing.T, s *stack) error {
		c := s.anthropic()
		_, err := c.Messages.New(t.Context(), anthropicParams(scenario{name: "error"}))
		return err
	}},
	{"openai chat", func(t *testing.T, s *stack) error {
		c := s.openai()
		_, err := c.Chat.Completions.New(t.Context(), chatParams(scenario{name: "error"}))
		return err
	}},
	{"openai responses", func(t *testing.T, s *stack) error {
		c := s.openai()
		_, err := c.Responses.New(t.Context(), responsesParams(scenario{name: "error"}))
		return err
	}},
}

// direct turns off lynkr's retries and keeps its circuit breaker closed, so each upstream
// answer reaches the client as it was.
var direct = map[string]string{"API_RETRY_MAX_RETRIES": "0", "CIRCUIT_BREAKER_FAILURE_THRESHOLD": "1000000"}

// apiError returns the status, error type and message of an SDK error, and whether it was
// the SDK's own API error type (the client's API error shape, parsed).
func apiError(err error) (status int, typ, msg string, ok bool) {
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		return ae.StatusCode, string(ae.Type()), ae.Message, ae.Type() != ""
	}
	var oe *openai.Error
	if errors.As(err, &oe) {
		return oe.StatusCode, oe.Type, oe.Message, oe.Message != ""
	}
	return 0, "", "", false
}

// errorHeader returns a header of the HTTP answer behind an SDK error.
func errorHeader(err error, name string) string {
	var ae *anthropic.Error
	if errors.As(err, &ae) && ae.Response != nil {
		return ae.Response.Header.Get(name)
	}
	var oe *openai.Error
	if errors.As(err, &oe) && oe.Response != nil {
		return oe.Response.Header.Get(name)
	}
	return ""
}

// TestUpstreamErrorStatuses checks that an upstream's error status reaches each client with
// that status, in the client's own API error shape, with the type that goes with it and the
// upstream's message.
func TestUpstreamErrorStatuses(t *testing.T) {
	faults := []struct {
		fault    fakeupstream.Fault
		wantType string
	}{
		{fakeupstream.Fault{Status: 400, Message: "messages.0: bad thing"}, "invalid_request_error"},
		{fakeupstream.Fault{Status: 429, Message: "slow down please", RetryAfter: "7"}, "rate_limit_error"},
		{fakeupstream.Fault{Status: 529, Message: "we are overloaded"}, "overloaded_error"},
		{fakeupstream.Fault{Status: 500, Message: "it broke"}, "api_error"},
	}
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, direct)
			for _, f := range faults {
				for _, call := range nonStreamCalls {
					// Every call fails, however often lynkr tries.
					s.Fake.Reset()
					s.Fake.FailNext(1000, f.fault)
					err := call.run(t, s)
					status, typ, msg, ok := apiError(err)
					if !ok || status != f.fault.Status || typ != f.wantType || !strings.Contains(msg, f.fault.Message) {
						t.Errorf("%s, upstream %d: got status %d type %q message %q (%v), want %d %s with the upstream's message",
							call.name, f.fault.Status, status, typ, msg, err, f.fault.Status, f.wantType)
					}
					if f.fault.RetryAfter != "" && errorHeader(err, "Retry-After") != f.fault.RetryAfter {
						t.Errorf("%s, upstream %d: Retry-After %q, want the upstream's %q", call.name, f.fault.Status, errorHeader(err, "Retry-After"), f.fault.RetryAfter)
					}
				}
			}
			s.Fake.Reset()
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestUnreachableUpstream checks that an upstream nobody answers at gives a 502 that names
// the URL lynkr tried.
func TestUnreachableUpstream(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			addr := closedPort(t)
			s := startLynkr(t, kind, "http://"+addr, direct)
			for _, call := range nonStreamCalls {
				status, typ, msg, ok := apiError(call.run(t, s))
				if !ok || status != http.StatusBadGateway || typ != "api_error" || !strings.Contains(msg, "http://"+addr+"/v1/") {
					t.Errorf("%s: status %d type %q message %q, want 502 api_error naming http://%s/v1/…", call.name, status, typ, msg, addr)
				}
			}
			// A stream fails before it starts: the same error, as a status.
			c := s.anthropic()
			stream := c.Messages.NewStreaming(t.Context(), anthropicParams(scenario{name: "unreachable"}))
			for stream.Next() {
				t.Errorf("event %s from an unreachable upstream", stream.Current().Type)
			}
			if status, _, msg, _ := apiError(stream.Err()); status != http.StatusBadGateway || !strings.Contains(msg, addr) {
				t.Errorf("stream: %v, want a 502 naming %s", stream.Err(), addr)
			}
		})
	}
}

// TestStreamCutMidway checks that a stream the upstream breaks off — its connection dropped,
// or its own in-stream error — ends with an error event in the client's format, never as a
// complete answer.
func TestStreamCutMidway(t *testing.T) {
	faults := map[string]fakeupstream.Fault{
		"dropped":         {Kind: fakeupstream.FailDrop, AfterChunks: 4},
		"in-stream error": {Kind: fakeupstream.FailStreamError, AfterChunks: 4, Message: "upstream blew up"},
	}
	reply := fakeupstream.Reply{Text: "one two three four five six seven eight nine ten", ToolCalls: []fakeupstream.ToolCall{weatherCall}}
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, direct)
			s.Fake.SetDefault(reply)
			for name, f := range faults {
				t.Run(name+"/anthropic", func(t *testing.T) {
					s.Fake.FailNext(1, f)
					c := s.anthropic()
					stream := c.Messages.NewStreaming(t.Context(), anthropicParams(scenario{name: "cut", tools: true}))
					var acc anthropic.Message
					for stream.Next() {
						ev := stream.Current()
						if ev.Type == "message_stop" || ev.Type == "message_delta" {
							t.Errorf("a cut stream presented as complete: %s", ev.RawJSON())
						}
						if err := acc.Accumulate(ev); err != nil {
							t.Errorf("Accumulate: %v", err)
						}
					}
					var ae *anthropic.Error
					if !errors.As(stream.Err(), &ae) || ae.Type() == "" {
						t.Errorf("stream ended with %v, want an Anthropic error event", stream.Err())
					}
					// A converted error names the provider and keeps the upstream's own words (a
					// same-format stream passes the upstream's error event through untouched).
					if msg := fmt.Sprint(stream.Err()); kind == openAIUpstream && (!strings.Contains(msg, string(kind)+": ") ||
						f.Message != "" && !strings.Contains(msg, f.Message)) {
						t.Errorf("error %q does not name provider %s with the upstream's message %q", msg, kind, f.Message)
					}
				})
				t.Run(name+"/chat", func(t *testing.T) {
					s.Fake.FailNext(1, f)
					c := s.openai()
					params := chatParams(scenario{name: "cut", tools: true})
					params.StreamOptions.IncludeUsage = openai.Bool(true)
					stream := c.Chat.Completions.NewStreaming(t.Context(), params)
					for stream.Next() {
						for _, ch := range stream.Current().Choices {
							if ch.FinishReason != "" {
								t.Errorf("a cut stream presented as complete: %s", stream.Current().RawJSON())
							}
						}
					}
					if stream.Err() == nil {
						t.Error("a cut chat stream ended without an error")
					}
				})
				t.Run(name+"/responses", func(t *testing.T) {
					s.Fake.FailNext(1, f)
					c := s.openai()
					stream := c.Responses.NewStreaming(t.Context(), responsesParams(scenario{name: "cut", tools: true}))
					gotError := false
					for stream.Next() {
						switch ev := stream.Current(); ev.Type {
						case "response.completed", "response.incomplete":
							t.Errorf("a cut stream presented as complete: %.300s", ev.RawJSON())
						case "error", "response.failed":
							gotError = true
						}
					}
					if !gotError && stream.Err() == nil {
						t.Error("a cut responses stream ended without an error event")
					}
				})
			}
		})
	}
}

// TestRetriedTransparently checks that an upstream failure before any answer byte — an error
// status, or a dropped connection — is retried by lynkr, and the client, streaming or not,
// gets the answer as if nothing had happened.
func TestRetriedTransparently(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := start(t, kind, map[string]string{"API_RETRY_INITIAL_DELAY": "10", "API_RETRY_MAX_DELAY": "50"})
			sc := scenarios[2] // text and parallel tools
			for _, f := range []fakeupstream.Fault{{Status: 503}, {Status: 429, RetryAfter: "0"}, {Kind: fakeupstream.FailDrop}} {
				s.Fake.FailNext(1, f)
				s.Fake.Enqueue(sc.reply)
				c := s.anthropic()
				msg, err := c.Messages.New(t.Context(), anthropicParams(sc))
				if err != nil {
					t.Fatalf("after a %+v: %v", f, err)
				}
				checkAnthropicMessage(t, s, sc, msg)

				s.Fake.FailNext(1, f)
				s.Fake.Enqueue(sc.reply)
				stream := c.Messages.NewStreaming(t.Context(), anthropicParams(sc))
				var acc anthropic.Message
				for stream.Next() {
					if err := acc.Accumulate(stream.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("stream after a %+v: %v", f, err)
				}
				checkAnthropicMessage(t, s, sc, &acc)
			}
			if n := len(s.upstreamCalls()); n != 12 {
				t.Errorf("the upstream got %d calls, want 12 (6 failed, 6 retried)", n)
			}
		})
	}
}
