// Package bus is lynkr's use of NATS: the subjects, the JetStream streams and consumers, the
// provider registry and the roles' credentials and permissions. Every service talks to the
// others only through what this package names. The embedded server is package natsserver's.
package bus

import "strings"

// Names of the JetStream assets.
const (
	// RequestStream holds accepted requests until a worker has answered them (work queue).
	RequestStream = "LLM_REQUESTS"
	// UsageStream holds what every answered request consumed, for budgets and metrics.
	UsageStream = "LLM_USAGE"
	// ProviderBucket is the key-value bucket where workers announce the providers they serve.
	ProviderBucket = "lynkr_providers"
	// BreakerBucket is the key-value bucket of the circuit breakers' states (package breaker).
	BreakerBucket = "lynkr_breakers"
)

// Subjects.
const (
	requestPrefix = "lynkr.req."
	replyPrefix   = "lynkr.resp."
	cancelPrefix  = "lynkr.cancel."
	usagePrefix   = "lynkr.usage."
	holdingPrefix = "lynkr.holding."
)

// RequestSubject is where requests for a provider are published.
func RequestSubject(provider string) string { return requestPrefix + provider }

// ReplySubject is where a worker sends the chunks of one request's answer: the gateway
// instance that holds the client's connection.
func ReplySubject(gateway, requestID string) string {
	return replyPrefix + gateway + "." + requestID
}

// GatewayOfReply is the gateway instance a ReplySubject addresses.
func GatewayOfReply(subject string) (gateway string, ok bool) {
	rest, ok := strings.CutPrefix(subject, replyPrefix)
	if !ok {
		return "", false
	}
	gateway, _, ok = strings.Cut(rest, ".")
	return gateway, ok && gateway != ""
}

// ReplyWildcard is the one subscription a gateway instance makes for all its answers and
// JetStream's confirmations of its requests.
func ReplyWildcard(gateway string) string { return replyPrefix + gateway + ".>" }

// AckSubject is where JetStream confirms (or refuses) that it holds a request a gateway
// instance published: the reply subject of the publish, beside the request's answer so that
// one subscription takes both.
func AckSubject(gateway, requestID string) string {
	return replyPrefix + gateway + "." + requestID + ackSuffix
}

const ackSuffix = ".ack"

// ReplyTarget tells what a subject under ReplyWildcard carries: the request id, and whether
// it is JetStream's confirmation of the request rather than a chunk of its answer.
func ReplyTarget(subject string) (requestID string, ack bool) {
	if strings.Count(subject, ".") == ackDots { // not an answer's subject, even for an id "ack"
		subject, ack = strings.CutSuffix(subject, ackSuffix)
	}
	return subject[strings.LastIndexByte(subject, '.')+1:], ack
}

// ackDots is the number of dots in every AckSubject (gateway and request ids have none).
var ackDots = strings.Count(AckSubject("g", "r"), ".")

// CancelSubject is where a gateway says that a request's client went away.
func CancelSubject(requestID string) string { return cancelPrefix + requestID }

// CancelWildcard is the subscription of a worker for every cancellation.
const CancelWildcard = cancelPrefix + "*"

// RequestIDOfCancel returns the request id a cancellation subject names.
func RequestIDOfCancel(subject string) string { return strings.TrimPrefix(subject, cancelPrefix) }

// HoldingSubject is where a worker asks a gateway instance which of the requests it runs for
// it the gateway still holds a client for (a request with the ids, the reply the ids it no
// longer holds). No responder means the gateway is gone: its requests are canceled.
func HoldingSubject(gateway string) string { return holdingPrefix + gateway }

// HoldingWildcard covers every gateway's HoldingSubject, for permissions.
const HoldingWildcard = holdingPrefix + ">"

// UsageSubject is where a worker publishes what a request of a provider consumed.
func UsageSubject(provider string) string { return usagePrefix + provider }

// ConsumerName is the durable pull consumer that the workers of a provider share.
func ConsumerName(provider string) string { return "worker-" + provider }

// ValidToken reports whether s can be one token of a subject (a provider name, a gateway
// instance, a request id): no dots, wildcards or white space, and not empty.
func ValidToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}

// Token turns s (a host name, say) into a valid subject token: characters other than letters,
// digits, - and _ become _, and an empty s becomes def.
func Token(s, def string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return def
	}
	return string(b)
}
