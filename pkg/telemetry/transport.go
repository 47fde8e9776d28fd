package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Transport wraps base so every request made through it is a client span, and carries the
// trace context to the server in traceparent (and baggage). With a nil or no-op tp it returns
// base itself: no wrapper, no cost. A nil base is http.DefaultTransport.
//
// It records no metrics (lynkr's metrics are Prometheus, in pkg/metrics). The span ends when
// the response body is read to the end or closed, so a streamed answer is timed in full.
func Transport(base http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if !Recording(tp) {
		return base
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}

// Recording reports whether tp makes spans that record: false for nil and the no-op provider,
// so callers can skip building span names and attributes when tracing is off.
func Recording(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	return true
}
