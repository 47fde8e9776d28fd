package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/retry"
)

// errUpstreamTimeout is the cause of an attempt whose upstream did not start answering within
// the provider's timeout.
var errUpstreamTimeout = errors.New("upstream timeout")

// exchange is one upstream call that answered: its response, and finish, which must be called
// once with how reading the answer ended (nil when it was read whole), so the provider's
// breaker learns the outcome of a stream only when the stream is over.
type exchange struct {
	resp   *http.Response
	finish func(error)
}

// call makes an upstream call under the provider's breaker and retry policy: the one retry
// loop of a request. Each attempt asks the breaker first and reports to it; only provider
// faults count against it and only they are retried, while the request's deadline lasts and
// the provider's retry budget allows. An open breaker is returned as it is (errors.Is
// breaker.ErrOpen), for the caller to fall back or refuse.
func (w *Worker) call(ctx context.Context, p provider.Provider, log *slog.Logger, build func(context.Context) (*http.Request, error)) (exchange, error) {
	var ex exchange
	err := w.retries[p.Name()].Do(ctx, func(ctx context.Context, attempt int) error {
		done, err := w.breakers.Allow(p.Name())
		if err != nil {
			return retry.Final(err)
		}
		if attempt > 1 {
			w.metrics.Retries.WithLabelValues(p.Name()).Inc()
		}
		span := trace.SpanFromContext(context.Background()) // a no-op span unless tracing
		if w.tracing {
			ctx, span = w.tracer.Start(ctx, "upstream "+p.Name(), trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("lynkr.provider", p.Name()), attribute.Int("lynkr.attempt", attempt)))
		}
		actx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(w.cfg.UpstreamTimeout, func() { cancel(errUpstreamTimeout) })
		start := time.Now()
		resp, err := w.do(actx, p, build)
		timer.Stop()
		w.metrics.Upstream.WithLabelValues(p.Name()).Observe(time.Since(start).Seconds())
		w.metrics.UpstreamRequests.WithLabelValues(p.Name(), upstreamStatus(resp, err)).Inc()
		if err != nil {
			cancel(nil)
			done(breaker.OutcomeOf(err))
			if attempt > 1 || retry.Retryable(err) {
				log.Info("upstream attempt failed", "attempt", attempt, "error", err)
			}
			if w.tracing {
				span.SetStatus(codes.Error, err.Error())
				span.End()
			}
			return err
		}
		if w.tracing {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		}
		ex = exchange{resp: resp, finish: func(err error) {
			done(breaker.OutcomeOf(err))
			cancel(nil)
			if w.tracing {
				if err != nil {
					span.SetStatus(codes.Error, err.Error())
				}
				span.End()
			}
		}}
		return nil
	})
	return ex, err
}

// upstreamStatus is the status label of an upstream attempt: the HTTP status the upstream
// answered with, or "error" when it did not answer.
func upstreamStatus(resp *http.Response, err error) string {
	if resp != nil {
		return strconv.Itoa(resp.StatusCode)
	}
	return "error"
}

// do makes one upstream call and turns every failure into the error the client should see.
// With an error, a response is returned only when the upstream answered with an error status,
// and its body is closed.
func (w *Worker) do(ctx context.Context, p provider.Provider, build func(context.Context) (*http.Request, error)) (*http.Response, error) {
	hreq, err := build(ctx)
	if err != nil {
		return nil, apierror.New(http.StatusInternalServerError, "%s: could not build the upstream request: %v", p.Name(), err)
	}
	resp, err := w.http.Do(hreq)
	if err != nil {
		return nil, upstreamError(ctx, p, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := apierror.FromUpstream(p.Name(), resp.StatusCode, body)
		e.RetryAfter = retry.ParseRetryAfter(resp.Header, time.Now())
		return resp, e // the response only for its status: its body is closed
	}
	return resp, nil
}

// upstreamError describes a failed exchange with an upstream: unreachable, timed out, or cut
// off. The URL is named so the operator sees which endpoint to fix.
func upstreamError(ctx context.Context, p provider.Provider, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errUpstreamTimeout):
		return apierror.New(http.StatusGatewayTimeout, "%s: the upstream did not answer within its timeout (UPSTREAM_TIMEOUT)", p.Name())
	case errors.Is(cause, ErrCanceled) || errors.Is(cause, errShutdown):
		return &apierror.Error{Status: 499, Type: apierror.TypeInvalidRequest, Message: cause.Error()}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(cause, context.DeadlineExceeded):
		return apierror.New(http.StatusGatewayTimeout, "%s: the upstream did not answer before the request's deadline", p.Name())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return apierror.New(http.StatusBadGateway, "%s: upstream %s is unreachable: %v", p.Name(), config.RedactURL(ue.URL), ue.Err)
	}
	return apierror.New(http.StatusBadGateway, "%s: upstream connection failed: %v", p.Name(), err)
}

// streamError is an upstream stream that could not be converted, or that ended early.
func streamError(p provider.Provider, err error) error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return apierror.Named(p.Name(), ae)
	}
	if errors.Is(err, llm.ErrTruncated) {
		return apierror.New(http.StatusBadGateway, "%s: %v", p.Name(), err)
	}
	return apierror.New(http.StatusBadGateway, "%s: the upstream's stream could not be read: %v", p.Name(), err)
}

// providerDown is the client's error for a provider whose breaker is open.
func providerDown(err error) error {
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		return err
	}
	return &apierror.Error{
		Status:     http.StatusServiceUnavailable,
		Type:       apierror.TypeOverloaded,
		Message:    fmt.Sprintf("provider %s is unavailable: its circuit breaker is open after repeated failures", oe.Provider),
		RetryAfter: oe.RetryAfter(time.Now()),
	}
}
