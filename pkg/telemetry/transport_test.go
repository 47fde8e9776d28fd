package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestTransportInjectsTraceparent(t *testing.T) {
	tp, exp := recorder(t)
	seen := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("traceparent")
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	client := &http.Client{Transport: Transport(http.DefaultTransport, tp)}
	ctx, parent := tp.Tracer("worker").Start(context.Background(), "attempt")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close() // ends the client span
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2 (client, parent)", len(spans))
	}
	clientSpan := spans[0]
	if clientSpan.SpanKind != trace.SpanKindClient || clientSpan.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("client span %q kind %v parent %v", clientSpan.Name, clientSpan.SpanKind, clientSpan.Parent.SpanID())
	}
	want := "00-" + clientSpan.SpanContext.TraceID().String() + "-" + clientSpan.SpanContext.SpanID().String() + "-01"
	if got := <-seen; got != want {
		t.Errorf("upstream saw traceparent %q, want %q", got, want)
	}
}

func TestTransportOffReturnsBase(t *testing.T) {
	base := &http.Transport{}
	tp, _, err := NewTracerProvider(context.Background(), Config{}, "lynkr")
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []trace.TracerProvider{tp, nil, noop.NewTracerProvider(), &noop.TracerProvider{}} {
		if got := Transport(base, tp); got != base {
			t.Errorf("Transport(base, %T) = %T, want base itself", tp, got)
		}
	}
}
