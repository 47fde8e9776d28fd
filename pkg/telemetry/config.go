package telemetry

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/net/http/httpguts"

	"github.com/lynkr/lynkr/pkg/config"
)

// Exporters, protocols and samplers, as spelled in the OTEL_* variables.
const (
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
	ExporterNone    = "none"

	ProtocolHTTPProtobuf = "http/protobuf"
	ProtocolHTTPJSON     = "http/json"
	ProtocolGRPC         = "grpc"

	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Config is how a service traces. ConfigFromEnv fills it from the standard OTEL_* variables;
// the zero value, like an empty environment, means no tracing.
type Config struct {
	// Disabled turns tracing off whatever else is set (OTEL_SDK_DISABLED=true).
	Disabled bool
	// Exporter is where spans go: ExporterOTLP, ExporterConsole or ExporterNone; empty is none.
	Exporter string
	// Protocol is the OTLP protocol: ProtocolHTTPProtobuf (empty), ProtocolHTTPJSON or
	// ProtocolGRPC.
	Protocol string
	// Endpoint is the full URL spans are exported to, path included for HTTP
	// (http://collector:4318/v1/traces); for gRPC only its scheme and host:port count.
	// Empty is the collector's default on localhost for the protocol.
	Endpoint string
	// Headers are sent with every export. They often hold credentials: LogValue hides them.
	Headers map[string]string
	// ServiceName is service.name; empty leaves it to NewTracerProvider's caller.
	ServiceName string
	// InstanceID is service.instance.id: set it to the instance's own id (a gateway's reply
	// subject token) when empty; NewTracerProvider makes a random one if it stays empty.
	InstanceID string
	// Attributes are further resource attributes (OTEL_RESOURCE_ATTRIBUTES).
	Attributes []attribute.KeyValue
	// Sampler is one of the Sampler* names; empty is SamplerParentBasedAlwaysOn.
	Sampler string
	// SamplerArg is the ratio of traces a ratio sampler keeps, in [0, 1].
	SamplerArg float64
	// Console is where ExporterConsole writes; nil is standard output.
	Console io.Writer
}

// ConfigFromEnv reads the standard OpenTelemetry variables:
//
//	OTEL_SDK_DISABLED                  true turns tracing off
//	OTEL_TRACES_EXPORTER               otlp, console or none; otlp when an endpoint is set, else none
//	OTEL_EXPORTER_OTLP_ENDPOINT        collector base URL; /v1/traces is added for HTTP
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT full traces URL, used as it is
//	OTEL_EXPORTER_OTLP_PROTOCOL        http/protobuf (default), http/json or grpc (also _TRACES_)
//	OTEL_EXPORTER_OTLP_HEADERS         key=value,... sent with every export (also _TRACES_)
//	OTEL_SERVICE_NAME                  service.name
//	OTEL_RESOURCE_ATTRIBUTES           key=value,... resource attributes
//	OTEL_TRACES_SAMPLER                parentbased_always_on (default), always_on, always_off,
//	                                   traceidratio, parentbased_traceidratio, parentbased_always_off
//	OTEL_TRACES_SAMPLER_ARG            the ratio for the ratio samplers, 0..1 (default 1)
//
// An empty variable counts as unset. A bad value is an error that names the variable and what
// it expects.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	env := config.NewEnv(lookup)
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var cfg Config
	cfg.Disabled = env.Bool("OTEL_SDK_DISABLED", false)

	cfg.Protocol = env.String("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.String("OTEL_EXPORTER_OTLP_PROTOCOL", ProtocolHTTPProtobuf))
	protoVar := "OTEL_EXPORTER_OTLP_PROTOCOL"
	if get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") != "" {
		protoVar = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	}
	env.Check(validProtocol(cfg.Protocol), protoVar, cfg.Protocol, "want http/protobuf, http/json or grpc")

	base, traces := get("OTEL_EXPORTER_OTLP_ENDPOINT"), get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	switch {
	case traces != "":
		u, ok := parseEndpoint(traces)
		env.Check(ok, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", config.RedactURL(traces), "want an http:// or https:// URL of the collector's traces endpoint")
		if ok {
			cfg.Endpoint = u.String()
		}
	case base != "":
		u, ok := parseEndpoint(base)
		env.Check(ok, "OTEL_EXPORTER_OTLP_ENDPOINT", config.RedactURL(base), "want an http:// or https:// URL of the collector")
		if ok {
			if cfg.Protocol != ProtocolGRPC {
				u.Path = path.Join("/", u.Path, "v1/traces")
			}
			cfg.Endpoint = u.String()
		}
	}

	def := ExporterNone
	if base != "" || traces != "" {
		def = ExporterOTLP
	}
	cfg.Exporter = strings.ToLower(env.String("OTEL_TRACES_EXPORTER", def))
	env.Check(slices.Contains([]string{ExporterOTLP, ExporterConsole, ExporterNone}, cfg.Exporter),
		"OTEL_TRACES_EXPORTER", cfg.Exporter, "want otlp, console or none")

	// Header values are often credentials: their errors name the variable, not the value.
	var headerErr error
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if v := get(name); v != "" && headerErr == nil {
			var err error
			if cfg.Headers, err = parseHeaders(v, cfg.Headers); err != nil {
				headerErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	}

	if v := get("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		attrs, ok := parseAttributes(v)
		env.Check(ok, "OTEL_RESOURCE_ATTRIBUTES", v, "want key=value pairs separated by commas, values percent-encoded")
		for _, a := range attrs {
			switch a.Key {
			case "service.name":
				cfg.ServiceName = a.Value.AsString()
			case "service.instance.id":
				cfg.InstanceID = a.Value.AsString()
			default:
				cfg.Attributes = append(cfg.Attributes, a)
			}
		}
	}
	cfg.ServiceName = env.String("OTEL_SERVICE_NAME", cfg.ServiceName)

	cfg.Sampler = strings.ToLower(env.String("OTEL_TRACES_SAMPLER", SamplerParentBasedAlwaysOn))
	env.Check(validSampler(cfg.Sampler), "OTEL_TRACES_SAMPLER", cfg.Sampler,
		"want parentbased_always_on, always_on, always_off, traceidratio, parentbased_traceidratio or parentbased_always_off")
	cfg.SamplerArg = 1
	if cfg.Sampler == SamplerTraceIDRatio || cfg.Sampler == SamplerParentBasedTraceIDRatio {
		cfg.SamplerArg = env.Float("OTEL_TRACES_SAMPLER_ARG", 1, 0, 1)
	}
	if err := cmp.Or(env.Err(), headerErr); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Enabled reports whether spans are recorded and exported.
func (c Config) Enabled() bool {
	return !c.Disabled && c.Exporter != "" && c.Exporter != ExporterNone
}

// Validate checks a Config built in code; ConfigFromEnv's are valid.
func (c Config) Validate() error {
	var errs []error
	if !slices.Contains([]string{"", ExporterOTLP, ExporterConsole, ExporterNone}, c.Exporter) {
		errs = append(errs, fmt.Errorf("telemetry exporter %q: want otlp, console or none", c.Exporter))
	}
	if c.Protocol != "" && !validProtocol(c.Protocol) {
		errs = append(errs, fmt.Errorf("telemetry protocol %q: want http/protobuf, http/json or grpc", c.Protocol))
	}
	if c.Endpoint != "" {
		if _, ok := parseEndpoint(c.Endpoint); !ok {
			errs = append(errs, fmt.Errorf("telemetry endpoint %q: want an http:// or https:// URL", config.RedactURL(c.Endpoint)))
		}
	}
	if c.Sampler != "" && !validSampler(c.Sampler) {
		errs = append(errs, fmt.Errorf("telemetry sampler %q: want parentbased_always_on, always_on, always_off, traceidratio, parentbased_traceidratio or parentbased_always_off", c.Sampler))
	}
	if c.SamplerArg < 0 || c.SamplerArg > 1 {
		errs = append(errs, fmt.Errorf("telemetry sampler ratio %g: want a number between 0 and 1", c.SamplerArg))
	}
	return errors.Join(errs...)
}

// LogValue shows the settings for a start-up log line, with header values hidden.
func (c Config) LogValue() slog.Value {
	if !c.Enabled() {
		return slog.GroupValue(slog.Bool("enabled", false))
	}
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	return slog.GroupValue(
		slog.Bool("enabled", true),
		slog.String("exporter", c.Exporter),
		slog.String("protocol", c.Protocol),
		slog.String("endpoint", config.RedactURL(c.endpoint())),
		slog.Any("headers", names),
		slog.String("sampler", c.Sampler),
		slog.Float64("sampler_arg", c.SamplerArg),
	)
}

// endpoint is the URL spans go to: Endpoint, or the collector's default for the protocol.
func (c Config) endpoint() string {
	switch {
	case c.Exporter != ExporterOTLP:
		return ""
	case c.Endpoint != "":
		return c.Endpoint
	case c.Protocol == ProtocolGRPC:
		return "http://localhost:4317"
	}
	return "http://localhost:4318/v1/traces"
}

func validProtocol(p string) bool {
	return p == ProtocolHTTPProtobuf || p == ProtocolHTTPJSON || p == ProtocolGRPC
}

func validSampler(s string) bool {
	switch s {
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio,
		SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio:
		return true
	}
	return false
}

// parseEndpoint accepts an absolute http or https URL with a host.
func parseEndpoint(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// parseHeaders adds the key=value,... list s to into, the later value winning. The error never
// quotes the value: it may be a credential.
func parseHeaders(s string, into map[string]string) (map[string]string, error) {
	if into == nil {
		into = map[string]string{}
	}
	for i, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("entry %d is not name=value (value not shown): want key=value pairs separated by commas, values percent-encoded", i+1)
		}
		v, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil || !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("the value of %s is not a valid header value (not shown): want it percent-encoded", k)
		}
		into[k] = v
	}
	return into, nil
}

// parseAttributes reads key=value,... with percent-encoded values.
func parseAttributes(s string) ([]attribute.KeyValue, bool) {
	var attrs []attribute.KeyValue
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, false
		}
		v, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, false
		}
		attrs = append(attrs, attribute.String(k, v))
	}
	return attrs, true
}
