package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/limiter"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/services/gateway/internal/relay"
)

// publishTimeout bounds the wait for JetStream to accept a request: past it the client gets a
// 503 to retry rather than a hang.
const publishTimeout = 5 * time.Second

// forwardedHeaders are the client headers an upstream may need. Credentials are not among
// them: workers hold the provider's own.
var forwardedHeaders = []string{"anthropic-version", "anthropic-beta"}

// accept is the handler of every endpoint that goes to a provider: admit, publish, relay the
// answer.
func (g *Gateway) accept(ep endpoint) echo.HandlerFunc {
	return func(c echo.Context) error {
		g.inFlight.Add(1)
		defer g.inFlight.Add(-1)
		start := time.Now()
		r := c.Request()
		id := g.ids.busID(r.Header.Get(HeaderRequestID))
		a := admission{provider: "none"}
		status, err := g.serve(c, ep, id, &a)
		if status == 0 {
			status = apierror.As(err).Status
		}
		elapsed := time.Since(start)
		g.metrics.Requests.WithLabelValues(a.provider, statusLabel(status)).Inc()
		g.metrics.Duration.WithLabelValues(a.provider).Observe(elapsed.Seconds())
		if err != nil {
			g.metrics.Errors.WithLabelValues(a.provider, apierror.As(err).Type).Inc()
		}
		g.logRequest(r, id, a, status, elapsed, err)
		if c.Response().Committed {
			return nil
		}
		return err
	}
}

// statusLabel is the metric label of an HTTP status, without allocating for the common ones.
func statusLabel(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusBadRequest:
		return "400"
	case http.StatusNotFound:
		return "404"
	case http.StatusTooManyRequests:
		return "429"
	case http.StatusBadGateway:
		return "502"
	case http.StatusServiceUnavailable:
		return "503"
	case http.StatusGatewayTimeout:
		return "504"
	}
	return strconv.Itoa(code)
}

// admission is what the gateway decided about a request before queueing it.
type admission struct {
	stream   bool
	provider string
	model    string
	lease    limiter.Lease
}

// serve runs one request and returns the status the client got (0 if nothing was written
// yet, in which case err is the answer).
func (g *Gateway) serve(c echo.Context, ep endpoint, id string, a *admission) (int, error) {
	r := c.Request()
	if err := g.shed.Begin(); err != nil {
		return 0, g.refuse(err)
	}
	defer g.shed.End()
	g.metrics.Active.Inc()
	defer g.metrics.Active.Dec()
	body, err := readBody(r, g.cfg.MaxBodyBytes)
	if err != nil {
		return 0, err
	}
	if err := g.admit(r.Context(), ep, r.Header, body, a); err != nil {
		return 0, err
	}
	defer a.lease.Release()

	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
	defer cancel()
	answer, err := g.publish(ctx, ep, id, r.Header, body, a)
	if err != nil {
		return 0, err
	}
	defer g.relay.Done(answer)
	w := newAnswerWriter(c.Response(), ep.format, a.stream, g.cfg.PingInterval)
	status, err := w.relay(ctx, answer)
	if ctx.Err() != nil || errors.Is(err, ErrWorkerLost) || errors.Is(err, ErrAnswerGap) {
		// Nobody will read the rest of this answer: stop the upstream call.
		_ = g.nc.Publish(bus.CancelSubject(id), nil)
	}
	return status, err
}

// admit is the per-request hot path before queueing: validate, route, and the cluster's
// checks — the provider's breaker, its backlog, the shared limiter. On success a holds the
// decision and a lease the caller must release.
func (g *Gateway) admit(ctx context.Context, ep endpoint, h http.Header, body []byte, a *admission) error {
	sum, problems := ep.validate(body)
	if len(problems) > 0 {
		return apierror.Invalid(problems)
	}
	a.stream = sum.Stream && ep.op != busv1.Operation_OPERATION_COUNT_TOKENS && ep.op != busv1.Operation_OPERATION_EMBEDDINGS
	provider, model, err := g.pick(ep, sum.Model, h)
	if err != nil {
		return err
	}
	a.provider, a.model = provider, model
	if lim := g.cfg.BacklogThreshold; lim > 0 {
		if n := g.backlog.Pending(provider); n > lim {
			g.metrics.Shed.WithLabelValues("backlog").Inc()
			e := apierror.New(http.StatusServiceUnavailable, "provider %s has %d requests waiting for a worker (LOAD_SHEDDING_BACKLOG_THRESHOLD=%d)", provider, n, lim)
			e.RetryAfter = 2 * time.Second
			return e
		}
	}
	lease, err := g.limiter.Acquire(ctx)
	if err != nil {
		return g.refuse(err)
	}
	a.lease = lease
	return nil
}

// refuse turns a shedding or limiter refusal into the client's 503 with Retry-After.
func (g *Gateway) refuse(err error) error {
	var oe *shed.OverloadedError
	var le *limiter.LimitedError
	switch {
	case errors.As(err, &oe):
		g.metrics.Shed.WithLabelValues(oe.Reason).Inc()
		return &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.TypeOverloaded,
			Message: "lynkr is overloaded (" + oe.Error() + "); retry later", RetryAfter: oe.RetryAfter}
	case errors.As(err, &le):
		g.metrics.Shed.WithLabelValues("limiter_" + le.Reason).Inc()
		return &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.TypeOverloaded,
			Message: "the cluster is at its request limit (" + le.Error() + "); retry later", RetryAfter: le.RetryAfter}
	}
	return err
}

// publish puts the request on the bus and returns where its answer will arrive; the caller
// must hand the answer back to the relay when done.
func (g *Gateway) publish(ctx context.Context, ep endpoint, id string, h http.Header, body []byte, a *admission) (*relay.Answer, error) {
	deadline, _ := ctx.Deadline()
	msg := &busv1.Request{
		Id:               id,
		ReplySubject:     bus.ReplySubject(g.cfg.Instance, id),
		Operation:        ep.op,
		Provider:         a.provider,
		Model:            a.model,
		Stream:           a.stream,
		DeadlineUnixNano: deadline.UnixNano(),
		Body:             body,
		AcceptedUnixNano: time.Now().UnixNano(),
	}
	for _, name := range forwardedHeaders {
		if v := h.Values(name); len(v) > 0 {
			if msg.Headers == nil {
				msg.Headers = make(map[string]string, len(forwardedHeaders))
			}
			msg.Headers[name] = strings.Join(v, ",")
		}
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return nil, err
	}
	answer := g.relay.Expect(id)
	pubCtx, cancelPub := context.WithTimeout(ctx, publishTimeout)
	defer cancelPub()
	ack, err := g.js.PublishMsg(pubCtx, &nats.Msg{
		Subject: bus.RequestSubject(a.provider),
		Data:    data,
		Header:  nats.Header{nats.MsgIdHdr: []string{id}},
	})
	switch {
	case err != nil:
		g.relay.Done(answer)
		g.log.Error("could not queue request", "request_id", id, "provider", a.provider, "error", err)
		e := apierror.New(http.StatusServiceUnavailable, "could not queue the request: the message bus is unavailable")
		e.RetryAfter = time.Second
		return nil, e
	case ack.Duplicate:
		g.relay.Done(answer)
		return nil, apierror.New(http.StatusConflict, "request id %q was already used for another request; send a new X-Request-Id", id)
	}
	return answer, nil
}

func (g *Gateway) logRequest(r *http.Request, id string, a admission, status int, elapsed time.Duration, err error) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("provider", a.provider),
		slog.String("model", a.model),
		slog.Bool("stream", a.stream),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
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
