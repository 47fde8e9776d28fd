package logging

import (
	"context"
	"log/slog"
	"sync"
)

// With is log.With(args...) that formats args only if a line is written. slog's JSON handler
// encodes a logger's attributes the moment With is called; a request's logger (request id,
// provider, trace id) is made for every request and, at the default level, mostly writes
// nothing, so the encoding is deferred to the first line.
func With(log *slog.Logger, args ...any) *slog.Logger {
	return slog.New(&lazyHandler{base: log.Handler(), args: args})
}

// lazyHandler holds attributes until the first record that is handled.
type lazyHandler struct {
	base slog.Handler
	args []any

	once sync.Once
	h    slog.Handler // base with args, made once
}

func (l *lazyHandler) handler() slog.Handler {
	l.once.Do(func() { l.h = slog.New(l.base).With(l.args...).Handler() })
	return l.h
}

func (l *lazyHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.base.Enabled(ctx, level)
}

func (l *lazyHandler) Handle(ctx context.Context, r slog.Record) error {
	return l.handler().Handle(ctx, r)
}

func (l *lazyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	args := make([]any, 0, len(l.args)+len(as))
	args = append(args, l.args...)
	for _, a := range as {
		args = append(args, a)
	}
	return &lazyHandler{base: l.base, args: args}
}

func (l *lazyHandler) WithGroup(name string) slog.Handler { return l.handler().WithGroup(name) }
