package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/logging"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/telemetry"
	"github.com/lynkr/lynkr/proto/busv1"
)

// handle runs one delivery of a request: it answers, then acknowledges. A delivery it cannot
// finish because the worker is shutting down goes back to the bus for another worker.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg, p provider.Provider) {
	req := new(busv1.Request)
	if err := proto.Unmarshal(msg.Data(), req); err != nil {
		w.log.Error("undecodable request dropped", "provider", p.Name(), "error", err)
		_ = msg.Term()
		return
	}
	attempt, stored := uint64(1), time.Time{}
	if meta, err := msg.Metadata(); err == nil {
		attempt, stored = meta.NumDelivered, meta.Timestamp
	}
	taken := time.Now()
	accepted := time.Unix(0, req.AcceptedUnixNano)
	ctx, span := w.startSpans(ctx, msg, req, p.Name(), accepted, taken, attempt)
	defer span.End()
	ids := []any{"request_id", req.Id, "provider", p.Name(), "delivery", attempt}
	if sc := span.SpanContext(); sc.HasTraceID() {
		ids = append(ids, "trace_id", sc.TraceID().String())
	}
	log := logging.With(w.log, ids...)
	ctx = withRequestLog(ctx, log)
	w.metrics.QueueWait.WithLabelValues(p.Name()).Observe(taken.Sub(accepted).Seconds())
	if attempt > 1 {
		w.metrics.Redeliveries.WithLabelValues(p.Name()).Inc()
		log.Info("request redelivered: an earlier worker did not finish it")
	}
	active := w.metrics.Active.WithLabelValues(p.Name())
	active.Inc()
	w.active.Add(1)
	defer func() { active.Dec(); w.active.Add(-1) }()
	deadline := time.Unix(0, req.DeadlineUnixNano)
	if taken.After(deadline) {
		log.Warn("request expired before a worker took it", "queued_for", taken.Sub(accepted))
		span.SetStatus(codes.Error, "expired in the queue")
		_ = msg.Term()
		return
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelDeadline := context.WithDeadline(ctx, deadline)
	defer cancelDeadline()
	gateway, _ := bus.GatewayOfReply(req.ReplySubject)
	if w.track(req.Id, gateway, cancel, msg, taken) {
		log.Info("request canceled before it started")
		_ = msg.Ack()
		return
	}
	defer w.untrack(req.Id)
	if unsure(accepted, stored, taken, attempt) {
		if gone, why := w.holderGone(ctx, gateway, req.Id); gone {
			// Its gateway answered the client already (a 503 when JetStream stored the request
			// too late, after a bus outage) or is gone: nobody waits for this answer.
			log.Info("request not run: nobody waits for its answer", "why", why, "queued_for", taken.Sub(accepted))
			span.SetStatus(codes.Error, "nobody waits for the answer")
			_ = msg.Term()
			return
		}
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("request taken", "operation", req.Operation.String(), "model", req.Model, "stream", req.Stream,
			"queued_for", taken.Sub(accepted))
	}
	rep := newReply(w.nc, req, attempt)
	start := time.Now()
	usage, panicked, err := w.answerGuarded(ctx, req, p, rep, log)
	if panicked {
		// A bug, or a request that trips one: the client gets a 500, and the request is not
		// delivered again, where it would take down the next worker too.
		e := apierror.As(err)
		span.SetStatus(codes.Error, e.Message)
		w.failed.Add(1)
		if sendErr := rep.fail(e); sendErr != nil {
			log.Warn("could not send the error to the gateway", "error", sendErr)
		}
		_ = msg.Term()
		return
	}
	if errors.Is(context.Cause(ctx), errShutdown) {
		// The worker stops before the answer is done: another worker takes the request.
		log.Warn("request handed back at shutdown")
		span.SetStatus(codes.Error, "handed back at shutdown")
		_ = msg.Nak()
		return
	}
	if err != nil {
		e := apierror.As(err)
		span.SetStatus(codes.Error, e.Message)
		if cause := context.Cause(ctx); errors.Is(cause, ErrCanceled) {
			log.Info("request canceled by its client")
		} else {
			log.Warn("request failed", "status", e.Status, "error", e.Message)
		}
		w.failed.Add(1)
		if sendErr := rep.fail(e); sendErr != nil {
			log.Warn("could not send the error to the gateway", "error", sendErr)
		}
		if usage != (llm.Usage{}) {
			// A stream cut short by its client or by the upstream still used tokens: they are
			// charged like any others (the request is acknowledged: it does not run again).
			w.recordUsage(req, rep, usage, start)
		}
	} else {
		if err := rep.end(usage); err != nil {
			log.Warn("could not send the end of the answer", "error", err)
		}
		w.answered.Add(1)
		w.recordUsage(req, rep, usage, start)
		if w.cfg.RequestLogging && log.Enabled(ctx, slog.LevelInfo) {
			log.Info("request answered", "answered_by", rep.provider, "duration_ms", time.Since(start).Milliseconds(),
				slog.Group("tokens", "input", usage.InputTokens, "output", usage.OutputTokens, "cached", usage.CacheReadTokens))
		}
	}
	if err := msg.Ack(); err != nil {
		log.Warn("ack failed", "error", err)
	}
}

// answerGuarded is answer, with a panic turned into a 500 for the client and logged with its
// stack: one request must not kill the worker and every request it holds.
func (w *Worker) answerGuarded(ctx context.Context, req *busv1.Request, p provider.Provider, rep *reply, log *slog.Logger) (usage llm.Usage, panicked bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("request panicked: answered 500, not delivered again", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			usage, panicked = llm.Usage{}, true
			err = apierror.New(http.StatusInternalServerError, "lynkr failed on this request (request id %s); it is not retried", req.Id)
		}
	}()
	usage, err = w.answer(ctx, req, p, rep, log)
	return usage, false, err
}

// recordUsage counts what a request consumed and puts it in the next usage batch for the bus.
func (w *Worker) recordUsage(req *busv1.Request, rep *reply, usage llm.Usage, start time.Time) {
	w.tokensIn.Add(uint64(usage.InputTokens))
	w.tokensOut.Add(uint64(usage.OutputTokens))
	w.usage.add(&busv1.Usage{RequestId: req.Id, Provider: rep.provider, Model: rep.model, Tenant: req.Tenant,
		InputTokens: usage.InputTokens, OutputTokens: usage.OutputTokens, CacheReadTokens: usage.CacheReadTokens,
		CacheCreateTokens: usage.CacheCreateTokens, LatencyMs: time.Since(start).Milliseconds()})
}

// startSpans continues the trace the gateway started: a span for the wait in the queue, from
// the gateway's acceptance until now, and the span of this delivery, which the upstream
// attempts are children of.
func (w *Worker) startSpans(ctx context.Context, msg jetstream.Msg, req *busv1.Request, providerName string, accepted, taken time.Time, attempt uint64) (context.Context, trace.Span) {
	if !w.tracing {
		return ctx, trace.SpanFromContext(context.Background()) // a no-op span: nothing to build
	}
	ctx = telemetry.ExtractNATS(ctx, msg.Headers())
	_, queued := w.tracer.Start(ctx, "queue "+bus.RequestSubject(providerName), trace.WithTimestamp(accepted),
		trace.WithSpanKind(trace.SpanKindInternal))
	queued.End(trace.WithTimestamp(taken))
	return w.tracer.Start(ctx, "process "+bus.RequestSubject(providerName), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(taken), trace.WithAttributes(
			attribute.String("lynkr.request_id", req.Id), attribute.String("lynkr.provider", providerName),
			attribute.String("lynkr.model", req.Model), attribute.Bool("lynkr.stream", req.Stream),
			attribute.Int64("lynkr.delivery", int64(attempt))))
}
