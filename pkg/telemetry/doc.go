// Package telemetry sets up the OpenTelemetry tracing every lynkr service uses, and carries
// trace context across the bus.
//
// One trace follows one request through the system:
//
//	gateway   HTTP server span (a client's traceparent, if any, is its parent: ExtractHTTP)
//	  └ publish   the gateway injects the span context into the request message's NATS
//	              headers (InjectNATS) before publishing it to JetStream
//	  └ queue     the worker extracts it from the consumed message (ExtractNATS) and records
//	              the wait in JetStream as a span from the gateway's acceptance to its taking
//	  └ process   the worker's span of the delivery, also a child of the publish span
//	      └ attempt   one span per try, so retries and backoff show up as siblings
//	          └ upstream HTTP   a client span from Transport, which also sends traceparent upstream
//
// The context travels in the message headers (traceparent, tracestate, baggage), never in the
// body, so a message redelivered to another worker still joins the same trace.
//
// Nothing here touches OpenTelemetry's globals: NewTracerProvider returns a provider that main
// passes to each constructor, and the propagator is fixed (W3C Trace Context and Baggage).
// Tracing is off unless configured (see ConfigFromEnv); off, the provider is a no-op,
// Transport returns its base transport unchanged and InjectNATS writes nothing, so tracing
// costs next to nothing when unused.
package telemetry
