package logging

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

const (
	traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanHex  = "00f067aa0ba902b7"
)

func spanContext(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceHex)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(spanHex)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	if !sc.IsValid() {
		t.Fatal("span context not valid")
	}
	return trace.ContextWithSpanContext(context.Background(), sc)
}

func TestTraceIDs(t *testing.T) {
	ctx := spanContext(t)
	var buf bytes.Buffer
	log := slog.New(NewTraceHandler(slog.NewJSONHandler(&buf, nil))).With("service", "gateway")

	log.InfoContext(ctx, "traced", "n", 1)
	log.Info("no context")
	log.InfoContext(context.Background(), "no span")
	log.WithGroup("req").With("id", "r1").WithGroup("upstream").InfoContext(ctx, "grouped", "status", 200)
	log.WithGroup("req").With("id", "r1").WithGroup("empty").InfoContext(ctx, "empty group")

	lines := parseLines(t, buf.Bytes())
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5: %s", len(lines), buf.Bytes())
	}
	for i, l := range lines {
		traced := i == 0 || i >= 3
		if traced && (l["trace_id"] != traceHex || l["span_id"] != spanHex) {
			t.Errorf("line %v: want trace_id %s and span_id %s at the top", l, traceHex, spanHex)
		}
		if !traced && (l["trace_id"] != nil || l["span_id"] != nil) {
			t.Errorf("line %v has trace ids without a span", l)
		}
		if l["service"] != "gateway" {
			t.Errorf("line %v lost the logger's attributes", l)
		}
	}
	if lines[0]["n"] != 1.0 {
		t.Errorf("record attributes lost: %v", lines[0])
	}
	req, _ := lines[3]["req"].(map[string]any)
	up, _ := req["upstream"].(map[string]any)
	if req["id"] != "r1" || up["status"] != 200.0 {
		t.Errorf("groups not kept: %v", lines[3])
	}
	if req, _ := lines[4]["req"].(map[string]any); req["id"] != "r1" || req["empty"] != nil {
		t.Errorf("empty group: %v", lines[4])
	}
}

// Without a span the wrapper writes what the handler it wraps writes, groups included.
func TestTraceHandlerWithoutSpanChangesNothing(t *testing.T) {
	var plain, wrapped bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for _, h := range []struct {
		w   *bytes.Buffer
		h   func(io.Writer) slog.Handler
		ctx context.Context
	}{
		{&plain, func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, opts) }, spanContext(t)},
		{&wrapped, func(w io.Writer) slog.Handler { return NewTraceHandler(slog.NewJSONHandler(w, opts)) }, context.Background()},
	} {
		log := slog.New(h.h(h.w)).With("a", 1).WithGroup("g").With("b", 2).WithGroup("").WithGroup("h")
		log.InfoContext(h.ctx, "m", "c", 3)
		log.WarnContext(h.ctx, "no attrs")
	}
	if plain.String() != wrapped.String() {
		t.Errorf("wrapped\n%s\nplain\n%s", wrapped.String(), plain.String())
	}
}

// Open's logger adds the ids on both sinks.
func TestOpenAddsTraceIDsToEverySink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lynkr.log")
	c := DefaultConfig()
	c.File.Enabled, c.File.Path = true, path
	var stderr bytes.Buffer
	log, closer, err := Open(c, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.InfoContext(spanContext(t), "traced")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	for name, lines := range map[string][]map[string]any{"stderr": parseLines(t, stderr.Bytes()), "file": readLines(t, path)} {
		if len(lines) != 1 || lines[0]["trace_id"] != traceHex || lines[0]["span_id"] != spanHex {
			t.Errorf("%s: %v", name, lines)
		}
	}
}
