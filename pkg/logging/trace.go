package logging

import (
	"context"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// traceHandler adds the trace_id and span_id of the span in a record's context, at the top
// level of the line whatever groups the logger opened, so that log search finds every line
// of a trace by one field.
type traceHandler struct {
	grouped slog.Handler // the inner handler with every WithAttrs and WithGroup applied
	top     slog.Handler // the inner handler with only the attributes given before any group
	groups  []group      // the groups opened, each with the attributes given inside it
}

type group struct {
	name  string
	attrs []slog.Attr
}

// NewTraceHandler wraps h so that a record logged with a context carrying a valid
// OpenTelemetry span context (logger.InfoContext(ctx, …)) gets "trace_id" and "span_id"
// (lower-case hex, as W3C traceparent writes them) after its message. Open wraps every
// logger with it.
func NewTraceHandler(h slog.Handler) slog.Handler {
	return &traceHandler{grouped: h, top: h}
}

func (h *traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.grouped.Enabled(ctx, l)
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.grouped.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	// Rebuild the groups around the record's attributes, innermost first, as the inner
	// handler would have nested them.
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		attrs = []slog.Attr{{Key: g.name, Value: slog.GroupValue(append(slices.Clip(g.attrs), attrs...)...)}}
	}
	out.AddAttrs(attrs...)
	return h.top.Handle(ctx, out)
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := *h
	n.grouped = h.grouped.WithAttrs(as)
	if len(h.groups) == 0 {
		n.top = h.top.WithAttrs(as)
		return &n
	}
	n.groups = slices.Clone(h.groups)
	last := &n.groups[len(n.groups)-1]
	last.attrs = append(slices.Clip(last.attrs), as...)
	return &n
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.grouped = h.grouped.WithGroup(name)
	n.groups = append(slices.Clip(h.groups), group{name: name})
	return &n
}
