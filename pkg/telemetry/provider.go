package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// NewTracerProvider returns the provider a service hands to its constructors, and the function
// that flushes and stops it at shutdown. serviceName is service.name unless cfg names one.
//
// When tracing is off (cfg.Enabled() is false and no opts are given, or cfg.Disabled) it is a
// no-op provider and the shutdown does nothing. Otherwise it is an SDK provider with cfg's
// sampler, a batch span processor over cfg's exporter (none for ExporterNone) and a resource
// with service.name, service.instance.id and cfg.Attributes. opts come last, so a test can add
// sdktrace.WithSyncer(tracetest.NewInMemoryExporter()) to an otherwise empty Config.
//
// The OTLP exporters also read, from the process environment, the settings lynkr does not:
// OTEL_EXPORTER_OTLP_TIMEOUT, _COMPRESSION, _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY
// (and their _TRACES_ forms); the batch processor reads OTEL_BSP_*.
func NewTracerProvider(ctx context.Context, cfg Config, serviceName string, opts ...sdktrace.TracerProviderOption) (trace.TracerProvider, func(context.Context) error, error) {
	noShutdown := func(context.Context) error { return nil }
	if cfg.Disabled || (!cfg.Enabled() && len(opts) == 0) {
		return noop.NewTracerProvider(), noShutdown, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	instance := cfg.InstanceID
	if instance == "" {
		instance = uuid.NewString()
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(cfg.Attributes...),
		resource.WithAttributes(
			attribute.String("service.name", cmp.Or(cfg.ServiceName, serviceName, "lynkr")),
			attribute.String("service.instance.id", instance),
		),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry resource: %w", err)
	}
	all := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(cfg.sampler())}
	if cfg.Enabled() {
		exp, err := cfg.exporter(ctx)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(append(all, opts...)...)
	return tp, tp.Shutdown, nil
}

func (c Config) sampler() sdktrace.Sampler {
	switch c.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample()
	case SamplerAlwaysOff:
		return sdktrace.NeverSample()
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(c.SamplerArg)
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// exporter builds the span exporter. Endpoint and headers are passed explicitly, so they are
// the ones ConfigFromEnv read and validated, whatever the process environment says.
func (c Config) exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch {
	case c.Exporter == ExporterConsole:
		var w io.Writer = os.Stdout
		if c.Console != nil {
			w = c.Console
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case c.Protocol == ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpointURL(c.endpoint()),
			otlptracegrpc.WithHeaders(c.Headers))
	default:
		enc := otlptracehttp.EncodingProtobuf
		if c.Protocol == ProtocolHTTPJSON {
			enc = otlptracehttp.EncodingJSON
		}
		exp, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(c.endpoint()),
			otlptracehttp.WithEncoding(enc),
			otlptracehttp.WithHeaders(c.Headers))
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry %s exporter: %w", c.Exporter, err)
	}
	return exp, nil
}

// Flush calls the shutdown NewTracerProvider returned, giving the spans still buffered at most
// five seconds to leave: what a service does last.
func Flush(shutdown func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = shutdown(ctx)
}
