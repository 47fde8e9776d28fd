package telemetry

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/config"
)

// recorder is a tracer provider that keeps its spans in memory, forced on with an empty Config.
func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp, shutdown, err := NewTracerProvider(context.Background(), Config{InstanceID: "test-1"}, "lynkr-test", sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	return tp.(*sdktrace.TracerProvider), exp
}

func TestNewTracerProviderOff(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Exporter: ExporterNone},
		{Disabled: true, Exporter: ExporterOTLP, Endpoint: "http://127.0.0.1:1"},
	} {
		tp, shutdown, err := NewTracerProvider(context.Background(), cfg, "lynkr")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tp.(noop.TracerProvider); !ok {
			t.Errorf("%+v: provider is %T, want noop", cfg, tp)
		}
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	// Disabled wins even over a test's forced exporter.
	tp, _, _ := NewTracerProvider(context.Background(), Config{Disabled: true}, "lynkr", sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Errorf("disabled with opts: provider is %T, want noop", tp)
	}
}

func TestNewTracerProviderInvalid(t *testing.T) {
	if _, _, err := NewTracerProvider(context.Background(), Config{Exporter: "zipkin"}, "lynkr"); err == nil {
		t.Error("no error for an unknown exporter")
	}
}

func TestNewTracerProviderRecords(t *testing.T) {
	tp, exp := recorder(t)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	_, child := tp.Tracer("test").Start(ctx, "child")
	child.End()
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	if spans[0].Name != "child" || spans[0].Parent.SpanID() != spans[1].SpanContext.SpanID() {
		t.Errorf("child %q has parent %s, want %s", spans[0].Name, spans[0].Parent.SpanID(), spans[1].SpanContext.SpanID())
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["service.name"] != "lynkr-test" || attrs["service.instance.id"] != "test-1" || attrs["telemetry.sdk.language"] != "go" {
		t.Errorf("resource = %v", attrs)
	}
}

func TestSampler(t *testing.T) {
	for _, tt := range []struct {
		cfg     Config
		sampled bool
	}{
		{Config{}, true},
		{Config{Sampler: SamplerAlwaysOff}, false},
		{Config{Sampler: SamplerTraceIDRatio, SamplerArg: 0}, false},
		{Config{Sampler: SamplerParentBasedTraceIDRatio, SamplerArg: 1}, true},
	} {
		exp := tracetest.NewInMemoryExporter()
		tp, _, err := NewTracerProvider(context.Background(), tt.cfg, "lynkr", sdktrace.WithSyncer(exp))
		if err != nil {
			t.Fatal(err)
		}
		_, span := tp.Tracer("test").Start(context.Background(), "root")
		span.End()
		if got := len(exp.GetSpans()) == 1; got != tt.sampled {
			t.Errorf("sampler %q: sampled = %v, want %v", tt.cfg.Sampler, got, tt.sampled)
		}
	}
}

func TestConsoleExporter(t *testing.T) {
	var buf syncBuffer
	tp, shutdown, err := NewTracerProvider(context.Background(), Config{Exporter: ExporterConsole, Console: &buf}, "lynkr")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "console-span")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Name":"console-span"`) {
		t.Errorf("console output: %s", buf.String())
	}
}

// TestOTLPHTTPExport is the production path: the variables are in the process environment,
// and a collector (here an httptest server) receives the protobuf export.
func TestOTLPHTTPExport(t *testing.T) {
	type export struct {
		path, contentType, auth string
		body                    []byte
	}
	got := make(chan export, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- export{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0ken")
	t.Setenv("OTEL_SERVICE_NAME", "lynkr-gateway-eu")
	cfg, err := ConfigFromEnv(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	tp, shutdown, err := NewTracerProvider(context.Background(), cfg, "lynkr-gateway")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "exported-span")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil { // flushes the batch
		t.Fatal(err)
	}

	var e export
	select {
	case e = <-got:
	case <-ctx.Done():
		t.Fatal("the collector received nothing")
	}
	if e.path != "/v1/traces" || e.contentType != "application/x-protobuf" || e.auth != "Bearer t0ken" || len(e.body) == 0 {
		t.Fatalf("export: path %q, content type %q, authorization %q, %d bytes", e.path, e.contentType, e.auth, len(e.body))
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(e.body, &req); err != nil {
		t.Fatal(err)
	}
	rs := req.GetResourceSpans()
	if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || rs[0].GetScopeSpans()[0].GetSpans()[0].GetName() != "exported-span" {
		t.Fatalf("export request: %v", &req)
	}
	var service string
	for _, kv := range rs[0].GetResource().GetAttributes() {
		if kv.GetKey() == "service.name" {
			service = kv.GetValue().GetStringValue()
		}
	}
	if service != "lynkr-gateway-eu" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", service)
	}
}

type traceCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	got chan *coltracepb.ExportTraceServiceRequest
	md  chan metadata.MD
}

func (c *traceCollector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.md <- md
	c.got <- req
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestOTLPGRPCExport(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &traceCollector{got: make(chan *coltracepb.ExportTraceServiceRequest, 4), md: make(chan metadata.MD, 4)}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	cfg, err := ConfigFromEnv(config.Map(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + lis.Addr().String(),
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_HEADERS":  "x-tenant=lynkr",
	}))
	if err != nil {
		t.Fatal(err)
	}
	tp, shutdown, err := NewTracerProvider(context.Background(), cfg, "lynkr-worker")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "grpc-span")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-col.got:
		if name := req.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetName(); name != "grpc-span" {
			t.Errorf("span %q", name)
		}
		if md := <-col.md; len(md.Get("x-tenant")) != 1 || md.Get("x-tenant")[0] != "lynkr" {
			t.Errorf("metadata %v lacks x-tenant", md)
		}
	case <-ctx.Done():
		t.Fatal("the collector received nothing")
	}
}

// syncBuffer is a bytes.Buffer safe for the exporter's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
