package telemetry

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lynkr/lynkr/pkg/bus/bustest"
)

// TestNATSRoundTrip carries a span context through a real JetStream stream: the worker's span
// is a child of the gateway's publish span, in the same trace, and the baggage arrives too.
func TestNATSRoundTrip(t *testing.T) {
	tp, exp := recorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	nc := bustest.Conn(t, bustest.Server(t), "telemetry-test")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TRACE_TEST", Subjects: []string{"trace.>"}})
	if err != nil {
		t.Fatal(err)
	}

	// Gateway side.
	member, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(member)
	pubCtx, publish := tp.Tracer("gateway").Start(baggage.ContextWithBaggage(ctx, bag), "publish", trace.WithSpanKind(trace.SpanKindProducer))
	msg := nats.NewMsg("trace.req")
	msg.Data = []byte(`{"model":"m"}`)
	InjectNATS(pubCtx, msg.Header)
	if msg.Header.Get("traceparent") == "" {
		t.Fatalf("no traceparent in %v", msg.Header)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	publish.End()

	// Worker side.
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	workCtx := ExtractNATS(ctx, got.Headers())
	_, work := tp.Tracer("worker").Start(workCtx, "work", trace.WithSpanKind(trace.SpanKindConsumer))
	work.End()
	_ = got.Ack()

	if v := baggage.FromContext(workCtx).Member("tenant").Value(); v != "acme" {
		t.Errorf("baggage tenant = %q, want acme", v)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	pub, wrk := spans[0], spans[1]
	if !wrk.Parent.IsRemote() || wrk.Parent.SpanID() != pub.SpanContext.SpanID() || wrk.SpanContext.TraceID() != pub.SpanContext.TraceID() {
		t.Errorf("worker span parent %v (trace %s), want the publish span %v", wrk.Parent.SpanID(), wrk.SpanContext.TraceID(), pub.SpanContext.SpanID())
	}
}

// TestNATSCarrierCase reads a context that another publisher wrote as net/http spells it, over
// core NATS.
func TestNATSCarrierCase(t *testing.T) {
	tp, exp := recorder(t)
	nc := bustest.Conn(t, bustest.Server(t), "telemetry-test")
	sub, err := nc.SubscribeSync("core.req")
	if err != nil {
		t.Fatal(err)
	}

	ctx, span := tp.Tracer("foreign").Start(context.Background(), "foreign")
	span.End()
	hh := http.Header{}
	Propagator().Inject(ctx, propagation.HeaderCarrier(hh)) // writes "Traceparent"
	msg := nats.NewMsg("core.req")
	for k, v := range hh {
		msg.Header[k] = v
	}
	if _, ok := msg.Header["Traceparent"]; !ok {
		t.Fatalf("setup: header %v", msg.Header)
	}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.SpanContextFromContext(ExtractNATS(context.Background(), got.Header))
	if !sc.IsRemote() || sc.SpanID() != exp.GetSpans()[0].SpanContext.SpanID() {
		t.Errorf("extracted %v, want the foreign span", sc)
	}

	// Injecting again replaces the other spelling instead of adding a second traceparent.
	InjectNATS(ctx, got.Header)
	if _, ok := got.Header["Traceparent"]; ok || got.Header.Get("traceparent") == "" {
		t.Errorf("after inject: %v", got.Header)
	}
}

func TestNATSCarrier(t *testing.T) {
	h := nats.Header{"TraceParent": {"a"}, "baggage": {"k=v"}, "Baggage": {"k2=v2"}}
	c := NATSCarrier(h)
	if c.Get("traceparent") != "a" || c.Get("TRACEPARENT") != "a" || c.Get("tracestate") != "" {
		t.Errorf("Get: %v", h)
	}
	if v := c.Values("BAGGAGE"); len(v) != 2 {
		t.Errorf("Values(BAGGAGE) = %v, want both spellings", v)
	}
	c.Set("traceparent", "b")
	if len(h) != 3 || h.Get("traceparent") != "b" {
		t.Errorf("Set: %v", h)
	}
	if len(c.Keys()) != 3 {
		t.Errorf("Keys: %v", c.Keys())
	}
	InjectNATS(context.Background(), nil) // no panic
	if ctx := ExtractNATS(context.Background(), nil); trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("context from nil headers")
	}
}

// TestOffCostsNothing: without a span, injecting writes nothing and neither side allocates.
func TestOffCostsNothing(t *testing.T) {
	ctx := context.Background()
	h := nats.Header{"Nats-Msg-Id": {"req-1"}}
	InjectNATS(ctx, h)
	if len(h) != 1 {
		t.Errorf("InjectNATS without a span wrote %v", h)
	}
	if n := testing.AllocsPerRun(100, func() { InjectNATS(ctx, h) }); n != 0 {
		t.Errorf("InjectNATS allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = ExtractNATS(ctx, h) }); n != 0 {
		t.Errorf("ExtractNATS allocates %v times", n)
	}
}

func TestExtractHTTP(t *testing.T) {
	h := http.Header{}
	h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.Set("Baggage", "user=alice")
	ctx := ExtractHTTP(context.Background(), h)
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || !sc.IsSampled() || !sc.IsRemote() {
		t.Errorf("span context %v", sc)
	}
	if baggage.FromContext(ctx).Len() != 0 {
		t.Error("a client's baggage was taken")
	}
	if ctx := ExtractHTTP(context.Background(), http.Header{"Traceparent": {"junk"}}); trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("junk traceparent gave a span context")
	}
}
