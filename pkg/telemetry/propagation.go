package telemetry

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// Propagator is the W3C Trace Context and Baggage propagator lynkr uses everywhere.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NATSCarrier lets a propagator read and write NATS message headers. nats.Header, unlike
// http.Header, does not canonicalize keys, and other publishers may have written
// "Traceparent" as net/http spells it: Set writes the lower-case key W3C specifies (and removes
// other spellings of it), Get and Values find a key in any case.
type NATSCarrier nats.Header

var (
	_ propagation.TextMapCarrier = NATSCarrier{}
	_ propagation.ValuesGetter   = NATSCarrier{}
)

// Get returns the first value of key, found in any case.
func (c NATSCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Values returns every value of key, in any of its spellings.
func (c NATSCarrier) Values(key string) []string {
	var vals []string
	for k, v := range c {
		switch {
		case !strings.EqualFold(k, key):
		case vals == nil:
			vals = v
		default: // a second spelling: copy rather than append to the header's own slice
			vals = append(slices.Clip(vals), v...)
		}
	}
	return vals
}

// Set replaces every spelling of key with the lower-case key and value.
func (c NATSCarrier) Set(key, value string) {
	lower := strings.ToLower(key)
	for k := range c {
		if k != lower && strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[lower] = []string{value}
}

// Keys lists the header keys.
func (c NATSCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectNATS writes the trace context of ctx into h, the headers of a message about to be
// published (nats.NewMsg makes them). Without a span in ctx it writes nothing; a nil h is left
// alone.
func InjectNATS(ctx context.Context, h nats.Header) {
	if h == nil {
		return
	}
	propagation.TraceContext{}.Inject(ctx, NATSCarrier(h))
	propagation.Baggage{}.Inject(ctx, NATSCarrier(h))
}

// ExtractNATS returns ctx with the remote span context and baggage carried in h, the headers
// of a received message; a span started from it is a child of the publisher's span.
func ExtractNATS(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	ctx = propagation.TraceContext{}.Extract(ctx, NATSCarrier(h))
	return propagation.Baggage{}.Extract(ctx, NATSCarrier(h))
}

// ExtractHTTP returns ctx with the span context of a client's traceparent and tracestate
// headers, so the gateway's spans join the client's trace. A client's baggage is not taken:
// it would travel, unchecked, on to the workers and the upstream providers.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(h))
}
