package telemetry

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/lynkr/lynkr/pkg/config"
)

func TestConfigFromEnv(t *testing.T) {
	off := Config{Exporter: ExporterNone, Protocol: ProtocolHTTPProtobuf, Sampler: SamplerParentBasedAlwaysOn, SamplerArg: 1}
	with := func(f func(*Config)) Config {
		c := off
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		enabled bool
	}{
		{name: "nothing set is off", env: nil, want: off},
		{name: "empty values count as unset", env: map[string]string{"OTEL_TRACES_EXPORTER": "", "OTEL_EXPORTER_OTLP_ENDPOINT": " "}, want: off},
		{
			name:    "an endpoint turns otlp on and gets /v1/traces",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want:    with(func(c *Config) { c.Exporter, c.Endpoint = ExporterOTLP, "http://collector:4318/v1/traces" }),
			enabled: true,
		},
		{
			name:    "a base endpoint keeps its path",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.com/prefix/"},
			want:    with(func(c *Config) { c.Exporter, c.Endpoint = ExporterOTLP, "https://otel.example.com/prefix/v1/traces" }),
			enabled: true,
		},
		{
			name: "the traces endpoint wins and is used as it is",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/custom",
			},
			want:    with(func(c *Config) { c.Exporter, c.Endpoint = ExporterOTLP, "http://tempo:4318/custom" }),
			enabled: true,
		},
		{
			name: "grpc endpoint gets no path",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			},
			want: with(func(c *Config) {
				c.Exporter, c.Endpoint, c.Protocol = ExporterOTLP, "http://collector:4317", ProtocolGRPC
			}),
			enabled: true,
		},
		{
			name: "traces protocol overrides the general one",
			env: map[string]string{
				"OTEL_TRACES_EXPORTER":               "otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
			},
			want:    with(func(c *Config) { c.Exporter, c.Protocol = ExporterOTLP, ProtocolHTTPJSON }),
			enabled: true,
		},
		{
			name:    "console needs no endpoint",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "Console"},
			want:    with(func(c *Config) { c.Exporter = ExporterConsole }),
			enabled: true,
		},
		{
			name: "none beats an endpoint",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: with(func(c *Config) { c.Endpoint = "http://collector:4318/v1/traces" }),
		},
		{
			name: "sdk disabled beats everything",
			env:  map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"},
			want: with(func(c *Config) { c.Disabled, c.Exporter = true, ExporterConsole }),
		},
		{
			name: "headers are merged, percent-decoded, traces ones winning",
			env: map[string]string{
				"OTEL_TRACES_EXPORTER":              "otlp",
				"OTEL_EXPORTER_OTLP_HEADERS":        "Authorization=Bearer%20abc, x-tenant = a",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=b",
			},
			want: with(func(c *Config) {
				c.Exporter = ExporterOTLP
				c.Headers = map[string]string{"Authorization": "Bearer abc", "x-tenant": "b"}
			}),
			enabled: true,
		},
		{
			name: "service name and resource attributes",
			env: map[string]string{
				"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,service.name=from-attrs,service.instance.id=pod-1,team=ai%20infra",
			},
			want: with(func(c *Config) {
				c.ServiceName, c.InstanceID = "from-attrs", "pod-1"
				c.Attributes = []attribute.KeyValue{attribute.String("deployment.environment.name", "prod"), attribute.String("team", "ai infra")}
			}),
		},
		{
			name: "OTEL_SERVICE_NAME beats service.name in the attributes",
			env:  map[string]string{"OTEL_SERVICE_NAME": "gw-eu", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"},
			want: with(func(c *Config) { c.ServiceName = "gw-eu" }),
		},
		{
			name: "ratio sampler with its argument",
			env:  map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			want: with(func(c *Config) { c.Sampler, c.SamplerArg = SamplerParentBasedTraceIDRatio, 0.25 }),
		},
		{
			name: "a sampler without an argument ignores one",
			env:  map[string]string{"OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "junk"},
			want: with(func(c *Config) { c.Sampler = SamplerAlwaysOff }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(config.Map(tt.env))
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if got.Enabled() != tt.enabled {
				t.Errorf("Enabled() = %v, want %v", got.Enabled(), tt.enabled)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // the error must contain it
	}{
		{map[string]string{"OTEL_SDK_DISABLED": "maybe"}, `OTEL_SDK_DISABLED="maybe": want true or false`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, `OTEL_TRACES_EXPORTER="jaeger": want otlp, console or none`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp,console"}, `OTEL_TRACES_EXPORTER="otlp,console"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, `OTEL_EXPORTER_OTLP_PROTOCOL="thrift": want http/protobuf, http/json or grpc`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="udp"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, `OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318": want an http:// or https:// URL`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x/v1/traces"}, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="ftp://x/v1/traces"`},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, `OTEL_RESOURCE_ATTRIBUTES="team": want key=value pairs`},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=%zz"}, `OTEL_RESOURCE_ATTRIBUTES="a=%zz"`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, `OTEL_TRACES_SAMPLER="sometimes": want parentbased_always_on`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, `OTEL_TRACES_SAMPLER_ARG="1.5": want a number between 0 and 1`},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, `OTEL_TRACES_SAMPLER_ARG="half"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret,broken"}, `OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not name=value`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "bad key=s3cret"}, `OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret%0A"}, `OTEL_EXPORTER_OTLP_HEADERS: the value of api-key is not a valid header value`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := ConfigFromEnv(config.Map(tt.env))
			if err == nil {
				t.Fatalf("no error for %v", tt.env)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a header value", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Exporter: "zipkin"},
		{Protocol: "grpc+tls"},
		{Endpoint: "localhost:4317"},
		{Sampler: "sometimes"},
		{SamplerArg: 2},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestConfigLogValueHidesHeaders(t *testing.T) {
	cfg := Config{Exporter: ExporterOTLP, Headers: map[string]string{"authorization": "Bearer s3cret"}}
	got := fmt.Sprint(slog.AnyValue(cfg).Resolve())
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "authorization") || !strings.Contains(got, "http://localhost:4318/v1/traces") {
		t.Errorf("LogValue = %s", got)
	}
}
