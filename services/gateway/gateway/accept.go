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
	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/limiter"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/pkg/llm/header"
	"github.com/lynkr/lynkr/pkg/loopguard"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/pkg/telemetry"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/services/gateway/internal/relay"
	"github.com/lynkr/lynkr/services/gateway/internal/tenancy"
)

// acceptTimeout bounds the wait for JetStream to confirm it holds a request: past it the
// client gets a 503 to retry rather than a hang.
const acceptTimeout = 5 * time.Second

// maxForwardedHeaders and maxForwardedHeaderBytes bound the client headers a request carries
// to its upstream; what passes them is not forwarded.
const (
	maxForwardedHeaders     = 32
	maxForwardedHeaderBytes = 64 << 10
)

// accept is the handler of every endpoint that goes to a provider: admit, publish, relay the
// answer. It traces the request, continuing a client's traceparent, and measures it.
func (g *Gateway) accept(ep endpoint) echo.HandlerFunc {
	return func(c echo.Context) error {
		g.inFlight.Add(1)
		defer g.inFlight.Add(-1)
		start := time.Now()
		r := c.Request()
		id := g.ids.busID(r.Header.Get(HeaderRequestID), c.Response().Header().Get(HeaderRequestID))
		span := noSpan
		if g.tracing {
			var ctx context.Context
			ctx, span = g.tracer.Start(telemetry.ExtractHTTP(r.Context(), r.Header), r.Method+" "+r.URL.Path,
				trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
			span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
				attribute.String("lynkr.request_id", id))
			c.SetRequest(r.WithContext(ctx))
		}
		a := admission{provider: "none", id: id}
		status, err := g.serve(c, ep, id, &a)
		if status == 0 {
			status = apierror.As(err).Status
		}
		elapsed := time.Since(start)
		g.measure(&a, status, elapsed, err)
		endSpan(span, &a, status, err)
		g.logRequest(r, id, span.SpanContext(), &a, status, elapsed, err)
		if c.Response().Committed {
			return nil
		}
		return err
	}
}

// noSpan stands for the spans not made while tracing is off: it records nothing, and ending
// it ends nobody else's span.
var noSpan = trace.SpanFromContext(context.Background())

// measure records a finished request in the gateway's metrics.
func (g *Gateway) measure(a *admission, status int, elapsed time.Duration, err error) {
	g.metrics.Requests.WithLabelValues(a.provider, statusLabel(status)).Inc()
	g.metrics.Duration.WithLabelValues(a.provider).Observe(elapsed.Seconds())
	if !a.firstData.IsZero() {
		g.metrics.FirstToken.WithLabelValues(a.provider).Observe(a.firstData.Sub(a.start).Seconds())
	}
	if err != nil {
		g.metrics.Errors.WithLabelValues(a.provider, apierror.As(err).Type).Inc()
	}
	if u := a.usage; u != nil {
		p := a.provider
		if u.Provider != "" {
			p = u.Provider // the fallback provider answered
		}
		g.metrics.TokensInput.WithLabelValues(p).Add(float64(u.InputTokens))
		g.metrics.TokensOutput.WithLabelValues(p).Add(float64(u.OutputTokens))
		g.metrics.TokensCached.WithLabelValues(p).Add(float64(u.CacheReadTokens))
	}
}

func endSpan(span trace.Span, a *admission, status int, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("lynkr.provider", a.provider), attribute.String("lynkr.model", a.model),
			attribute.Bool("lynkr.stream", a.stream), attribute.Int("http.response.status_code", status))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
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

// bodyLimits are the bounds of reading a request body.
func (g *Gateway) bodyLimits() bodyLimits {
	return bodyLimits{max: g.cfg.MaxBodyBytes, timeout: g.cfg.BodyTimeout, minRate: g.cfg.BodyMinRate}
}

// admission is what the gateway decided about a request before queueing it.
type admission struct {
	id       string // the request's id on the bus
	stream   bool
	provider string
	model    string
	lease    limiter.Lease
	identity tenancy.Identity  // whom the request is from, when tenancy is on
	tenant   tenancy.Admission // its tenant's concurrency caps and budget hold, until tenantDone

	// What the answer was, for metrics and the request's log line.
	start     time.Time
	firstData time.Time
	usage     *busv1.Usage
}

// serve runs one request and returns the status the client got (0 if nothing was written
// yet, in which case err is the answer).
func (g *Gateway) serve(c echo.Context, ep endpoint, id string, a *admission) (int, error) {
	r := c.Request()
	a.start = time.Now()
	if g.tenancy != nil {
		id, err := g.tenancy.Identify(r.Context(), r.Header)
		if err != nil {
			return 0, err
		}
		a.identity = id
	}
	// The body is read before the request counts as active: a client that sends its body
	// slowly, or not at all, holds its connection until the body deadline, never one of the
	// slots the active-requests threshold shares among everyone. A gateway already shedding
	// refuses before reading it, so a request it would refuse costs no body.
	if err := g.shed.Begin(); err != nil {
		return 0, g.refuse(err)
	}
	g.shed.End()
	body, err := readBody(c.Response(), r, g.bodyLimits())
	if err != nil {
		return 0, err
	}
	if err := g.shed.Begin(); err != nil {
		return 0, g.refuse(err)
	}
	defer g.shed.End()
	g.metrics.Active.Inc()
	defer g.metrics.Active.Dec()
	err = g.admit(r.Context(), ep, r.Header, body, a)
	a.tenant.Rate.Headers(c.Response().Header())
	if err != nil {
		return 0, err
	}
	defer a.lease.Release()
	// The request's budget hold ends at once if it reaches no upstream; else it waits for the
	// charge of its usage (tenancy.Done).
	ran := false
	defer func() { g.tenantDone(a, ran) }()

	// The relay ends the answer at the deadline: one loop for every request, no timer each.
	ctx, deadline := r.Context(), a.start.Add(g.cfg.RequestTimeout)
	cached, status := g.lookup(ctx, c, ep, body, a)
	if cached.hit {
		return status, nil
	}
	answer, err := g.publish(ctx, ep, id, deadline, r.Header, body, a)
	if err != nil {
		return 0, err
	}
	defer g.relay.Done(answer)
	w := newAnswerWriter(c.Response(), ep.format, a.stream, g.cfg.PingInterval)
	w.capture = cached.key != ""
	status, err = w.relay(ctx, answer)
	a.usage, a.firstData = w.usage, w.firstData
	// A worker's error before any of the answer reached the client used nothing; anything
	// else may have (an answer, a stream cut short, a client gone, a request the bus took
	// late): its usage may still come.
	ran = err == nil || w.sentData || ctx.Err() != nil || w.ended != nil || !isAPIError(err)
	if err == nil && status == http.StatusOK && w.capture {
		g.remember(cached.key, w.entry())
	}
	if ctx.Err() != nil || errors.Is(err, ErrWorkerLost) || errors.Is(err, ErrAnswerGap) ||
		errors.Is(w.ended, relay.ErrDeadline) || errors.Is(w.ended, relay.ErrNotAccepted) {
		// Nobody will read the rest of this answer (or the bus took the request after all, but
		// too late): stop the upstream call.
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
	if ep.conversation && g.cfg.LoopGuard.Enabled() {
		if v := loopguard.Check(ep.format, body, g.cfg.LoopGuard); v.Refused() {
			g.metrics.LoopGuard.WithLabelValues(v.Reason).Inc()
			return apierror.New(http.StatusBadRequest, "loop guard: %s", v.Detail)
		}
	}
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
	switch {
	case g.tenancy == nil:
	case ep.op == busv1.Operation_OPERATION_COUNT_TOKENS: // counting spends no tokens
		if a.tenant, err = g.tenancy.AdmitCount(ctx, a.identity, a.id); err != nil {
			return err
		}
	default:
		req := tenancy.Request{ID: a.id, Model: model, InputTokens: estimateTokens(ep, body),
			OutputTokens: outputTokens(ep, body, g.cfg.Tenancy.OutputTokens), Deadline: a.start.Add(g.cfg.RequestTimeout)}
		if a.tenant, err = g.tenancy.Admit(ctx, a.identity, req); err != nil {
			return err
		}
	}
	lease, err := g.limiter.Acquire(ctx)
	if err != nil {
		g.tenantDone(a, false)
		return g.refuse(err)
	}
	a.lease = lease
	return nil
}

// tenantDone ends what the request's tenant admission took (see tenancy.Done), with the
// usage its answer reported, if any.
func (g *Gateway) tenantDone(a *admission, ran bool) {
	if g.tenancy != nil {
		g.tenancy.Done(&a.tenant, ran, a.usage)
	}
}

// isAPIError reports whether err is an error answer, as a worker sends one.
func isAPIError(err error) bool {
	var e *apierror.Error
	return errors.As(err, &e)
}

// estimateTokens is a request's input tokens as rate limits and budgets estimate them before
// it runs: on the high side.
func estimateTokens(ep endpoint, body []byte) int64 {
	if ep.format == llm.FormatAnthropic {
		return anthropic.EstimateInputTokens(body)
	}
	return llm.EstimateTokens(len(body))
}

// outputTokens is the most output a request may ask for, which its budget holds while it
// runs: its own cap (max_tokens in Messages and Chat Completions, max_completion_tokens,
// max_output_tokens in Responses), else def; none for embeddings, which answer no tokens.
func outputTokens(ep endpoint, body []byte, def int64) int64 {
	if ep.op == busv1.Operation_OPERATION_EMBEDDINGS {
		return 0
	}
	var most int64
	for _, r := range gjson.GetManyBytes(body, "max_tokens", "max_completion_tokens", "max_output_tokens") {
		if r.Type == gjson.Number {
			most = max(most, r.Int())
		}
	}
	if most <= 0 {
		return def
	}
	return min(most, maxOutputTokens)
}

// maxOutputTokens bounds what a request's own cap may make its budget hold: more than any
// model answers, small enough that no sum of holds overflows.
const maxOutputTokens = 1 << 30

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
// must hand the answer back to the relay when done. JetStream's confirmation arrives there too:
// a refusal, or none within acceptTimeout, is the answer's error.
func (g *Gateway) publish(ctx context.Context, ep endpoint, id string, deadline time.Time, h http.Header, body []byte, a *admission) (*relay.Answer, error) {
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
		Tenant:           a.identity.Proto(),
	}
	// The client headers an upstream may take travel by their canonical names (the worker's
	// provider picks those its API family defines); credentials never: workers hold the
	// provider's own. They are bounded, so that headers cannot push a request past the
	// bus's message size.
	size := 0
	for k, v := range h {
		if len(v) == 0 || !header.Forwarded(k) {
			continue
		}
		joined := strings.Join(v, ",")
		if size += len(k) + len(joined); size > maxForwardedHeaderBytes || len(msg.Headers) == maxForwardedHeaders {
			break
		}
		if msg.Headers == nil {
			msg.Headers = make(map[string]string, 4)
		}
		msg.Headers[k] = joined
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return nil, err
	}
	answer := g.relay.Expect(id, deadline)
	subject := bus.RequestSubject(a.provider)
	natsHeader := nats.Header{nats.MsgIdHdr: []string{id}}
	span := noSpan
	if g.tracing {
		ctx, span = g.tracer.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer))
		defer span.End()
		telemetry.InjectNATS(ctx, natsHeader)
	}
	if err := g.relay.Publish(answer, subject, natsHeader, data); err != nil {
		g.relay.Done(answer)
		span.SetStatus(codes.Error, err.Error())
		g.log.Error("could not queue request", "request_id", id, "provider", a.provider, "error", err)
		e := apierror.New(http.StatusServiceUnavailable, "could not queue the request: the message bus is unavailable")
		e.RetryAfter = time.Second
		return nil, e
	}
	return answer, nil
}

// logRequest writes the request's one info line (REQUEST_LOGGING_ENABLED), or its warning
// when it failed, with its request id and trace id.
func (g *Gateway) logRequest(r *http.Request, id string, sc trace.SpanContext, a *admission, status int, elapsed time.Duration, err error) {
	level := slog.LevelInfo
	if err != nil && status >= 500 {
		level = slog.LevelWarn
	}
	if err == nil && !g.cfg.RequestLogging || !g.log.Enabled(r.Context(), level) {
		return // failed requests are logged either way
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("provider", a.provider),
		slog.String("model", a.model),
		slog.Bool("stream", a.stream),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
	)
	if sc.HasTraceID() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	if k := a.identity.Key; k != nil {
		attrs = append(attrs, slog.String("key_id", k.ID))
	}
	if a.identity.Team != "" {
		attrs = append(attrs, slog.String("team", a.identity.Team))
	}
	if u := a.usage; u != nil {
		attrs = append(attrs, slog.Group("tokens", slog.Int64("input", u.InputTokens), slog.Int64("output", u.OutputTokens),
			slog.Int64("cached", u.CacheReadTokens)))
	}
	if !a.firstData.IsZero() {
		attrs = append(attrs, slog.Float64("first_token_ms", float64(a.firstData.Sub(a.start).Microseconds())/1000))
	}
	if err != nil {
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
