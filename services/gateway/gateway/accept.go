package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// publishTimeout bounds the wait for JetStream to accept a request: past it the client gets a
// 503 to retry rather than a hang.
const publishTimeout = 5 * time.Second

// forwardedHeaders are the client headers an upstream may need. Credentials are not among
// them: workers hold the provider's own.
var forwardedHeaders = []string{"anthropic-version", "anthropic-beta"}

// accept is the handler of every endpoint that goes to a provider: read, validate, route,
// publish, relay the answer.
func (g *Gateway) accept(ep endpoint) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		r := c.Request()
		id := r.Header.Get(HeaderRequestID)
		body, err := readBody(r, g.cfg.MaxBodyBytes)
		if err != nil {
			return err
		}
		sum, problems := ep.validate(body)
		if len(problems) > 0 {
			return apierror.Invalid(problems)
		}
		stream := sum.Stream && ep.op != busv1.Operation_OPERATION_COUNT_TOKENS && ep.op != busv1.Operation_OPERATION_EMBEDDINGS
		provider, model, err := g.pick(ep, sum.Model, r.Header)
		if err != nil {
			return err
		}

		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		msg := &busv1.Request{
			Id:               id,
			ReplySubject:     bus.ReplySubject(g.cfg.Instance, id),
			Operation:        ep.op,
			Provider:         provider,
			Model:            model,
			Stream:           stream,
			DeadlineUnixNano: deadline.UnixNano(),
			Body:             body,
			AcceptedUnixNano: start.UnixNano(),
		}
		for _, h := range forwardedHeaders {
			if v := r.Header.Values(h); len(v) > 0 {
				if msg.Headers == nil {
					msg.Headers = make(map[string]string, len(forwardedHeaders))
				}
				msg.Headers[h] = strings.Join(v, ",")
			}
		}
		data, err := proto.Marshal(msg)
		if err != nil {
			return err
		}

		answer := g.relay.Expect(id)
		defer g.relay.Done(answer)
		pubCtx, cancelPub := context.WithTimeout(ctx, publishTimeout)
		defer cancelPub()
		ack, err := g.js.PublishMsg(pubCtx, &nats.Msg{
			Subject: bus.RequestSubject(provider),
			Data:    data,
			Header:  nats.Header{nats.MsgIdHdr: []string{id}},
		})
		switch {
		case err != nil:
			g.log.Error("could not queue request", "request_id", id, "provider", provider, "error", err)
			e := apierror.New(http.StatusServiceUnavailable, "could not queue the request: the message bus is unavailable")
			e.RetryAfter = time.Second
			return e
		case ack.Duplicate:
			return apierror.New(http.StatusConflict, "request id %q was already used for another request; send a new X-Request-Id", id)
		}

		w := newAnswerWriter(c.Response(), ep.format, stream, g.cfg.PingInterval)
		status, werr := w.relay(ctx, answer)
		if ctx.Err() != nil || errors.Is(werr, ErrWorkerLost) || errors.Is(werr, ErrAnswerGap) {
			// Nobody will read the rest of this answer: stop the upstream call.
			_ = g.nc.Publish(bus.CancelSubject(id), nil)
		}
		g.logRequest(r, id, provider, model, stream, status, start, werr)
		return nil
	}
}

func (g *Gateway) logRequest(r *http.Request, id, provider, model string, stream bool, status int, start time.Time, err error) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("provider", provider),
		slog.String("model", model),
		slog.Bool("stream", stream),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	g.log.LogAttrs(r.Context(), level, "request completed", attrs...)
}

// pick chooses the provider of a request.
func (g *Gateway) pick(ep endpoint, model string, h http.Header) (provider, upstreamModel string, err error) {
	known := func(name string) bool { _, ok := g.registry.Get(name); return ok }
	switch explicit := h.Get(HeaderProvider); {
	case explicit != "":
		if !known(explicit) {
			return "", "", apierror.New(http.StatusNotFound, "unknown provider %q: no worker serves it", explicit)
		}
		provider, upstreamModel = explicit, model
	case ep.op == busv1.Operation_OPERATION_EMBEDDINGS:
		provider, upstreamModel = g.router.Route(model, known)
		if p, ok := g.registry.Get(provider); !ok || !p.Embeddings {
			provider = g.embeddingsProvider()
			if provider == "" {
				return "", "", apierror.New(http.StatusNotFound, "no provider serves embeddings (set EMBEDDINGS_PROVIDER to an OpenAI-format provider)")
			}
		}
	default:
		provider, upstreamModel = g.router.Route(model, known)
	}
	if until, open := g.board.Open(provider); open {
		// A worker found the provider down: queue no work for it, but for its fallback.
		fb := g.cfg.FallbackProvider
		if _, fbOpen := g.board.Open(fb); fb == "" || fb == provider || !known(fb) || fbOpen {
			e := apierror.New(http.StatusServiceUnavailable, "provider %s is unavailable: its circuit breaker is open after repeated failures", provider)
			e.RetryAfter = (&breaker.OpenError{Until: until}).RetryAfter(time.Now())
			return "", "", e
		}
		provider = fb
	}
	info, ok := g.registry.Get(provider)
	if !ok {
		e := apierror.New(http.StatusServiceUnavailable, "no worker serves provider %q", provider)
		e.RetryAfter = 5 * time.Second
		return "", "", e
	}
	if g.cfg.StrictModels && !slices.Contains(info.Models, upstreamModel) {
		return "", "", apierror.New(http.StatusNotFound, "model %q is not served (STRICT_MODELS); GET /v1/models lists the models", model)
	}
	return provider, upstreamModel, nil
}

func (g *Gateway) embeddingsProvider() string {
	if g.cfg.EmbeddingsProvider != "" {
		return g.cfg.EmbeddingsProvider
	}
	if p, ok := g.registry.Get(g.cfg.DefaultProvider); ok && p.Embeddings {
		return p.Name
	}
	for _, p := range g.registry.All() {
		if p.Embeddings {
			return p.Name
		}
	}
	return ""
}
