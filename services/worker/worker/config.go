package worker

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nuid"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/retry"
)

// Config is a worker's configuration; the providers themselves are configured by
// provider.Load from the same environment.
type Config struct {
	// NATSURL is the NATS server (NATS_URL); empty in the all-in-one.
	NATSURL string
	// NATSAuth is how the worker authenticates to NATS_URL, as bus.RoleWorker (NATS_CREDS,
	// NATS_NKEY, NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CA, NATS_CERT, NATS_KEY).
	NATSAuth bus.ClientAuth
	// Instance names this worker in logs (WORKER_ID).
	Instance string
	// Addr serves the worker's /metrics and /health (WORKER_PORT, default 8082). The
	// all-in-one leaves it empty: its gateway serves the process's.
	Addr string
	// HeartbeatEvery is how often the worker tells the cluster it is alive (HEARTBEAT_INTERVAL,
	// ms).
	HeartbeatEvery time.Duration
	// RequestLogging writes one info line per answered request (REQUEST_LOGGING_ENABLED).
	RequestLogging bool
	// UsageFlushEvery is how often the usage of answered requests goes to the usage stream,
	// as one batch per provider (USAGE_FLUSH_INTERVAL, ms).
	UsageFlushEvery time.Duration
	// Concurrency is how many requests this worker runs at once, per provider
	// (WORKER_CONCURRENCY).
	Concurrency int
	// MaxInFlight is the cluster-wide cap of requests a provider's workers hold at once: the
	// consumer's MaxAckPending (PROVIDER_MAX_IN_FLIGHT).
	MaxInFlight int
	// AckWait is how long a silent worker keeps a request before another worker gets it
	// (WORKER_ACK_WAIT, ms). Workers report progress every sixth of it, so a worker stalled
	// (a long GC pause, a throttled CPU) for up to three quarters of it keeps its requests.
	AckWait time.Duration
	// MaxDeliver bounds how often a request is tried when workers keep dying on it.
	MaxDeliver int
	// ShutdownTimeout bounds the drain of in-flight requests (GRACEFUL_SHUTDOWN_TIMEOUT, ms);
	// what is not finished by then is handed back to the bus.
	ShutdownTimeout time.Duration
	// AnnounceEvery is how often the worker announces its providers.
	AnnounceEvery time.Duration
	// Streams shapes the JetStream assets the worker creates if they are missing.
	Streams bus.StreamConfig
	// UpstreamTimeout bounds the wait for an upstream's answer to begin, per attempt
	// (UPSTREAM_TIMEOUT, ms); the request's deadline bounds the rest.
	UpstreamTimeout time.Duration
	// Breaker sets every provider's circuit breaker (CIRCUIT_BREAKER_*).
	Breaker breaker.Config
	// Retry sets every provider's retry policy (API_RETRY_*).
	Retry retry.Config
}

// ConfigFromEnv reads the worker's settings.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	e := config.NewEnv(lookup)
	host, _ := os.Hostname()
	c := Config{
		NATSURL:         e.URLs("NATS_URL", "nats", "tls", "ws", "wss"),
		Instance:        e.String("WORKER_ID", bus.Token(host, "worker")+"-"+nuid.Next()[16:]),
		Addr:            fmt.Sprintf("%s:%d", e.String("HOST", ""), port(e, "WORKER_PORT", 8082)),
		HeartbeatEvery:  e.Millis("HEARTBEAT_INTERVAL", 5*time.Second),
		RequestLogging:  e.Bool("REQUEST_LOGGING_ENABLED", true),
		UsageFlushEvery: e.Millis("USAGE_FLUSH_INTERVAL", 200*time.Millisecond),
		Concurrency:     e.Int("WORKER_CONCURRENCY", 256, 1),
		MaxInFlight:     e.Int("PROVIDER_MAX_IN_FLIGHT", 1024, 1),
		AckWait:         e.Millis("WORKER_ACK_WAIT", 3*time.Second),
		MaxDeliver:      e.Int("WORKER_MAX_DELIVER", 5, 1),
		ShutdownTimeout: e.Millis("GRACEFUL_SHUTDOWN_TIMEOUT", 30*time.Second),
		AnnounceEvery:   bus.ProviderTTL / 3,
		Streams:         bus.DefaultStreamConfig(),
	}
	c.Streams.Replicas = e.Int("NATS_REPLICAS", 1, 1)
	c.NATSAuth = bus.ReadClientAuth(e, bus.RoleWorker)
	c.UpstreamTimeout = e.Millis("UPSTREAM_TIMEOUT", 2*time.Minute)
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	var err error
	if c.Breaker, err = breaker.ConfigFromEnv(lookup); err != nil {
		return Config{}, err
	}
	if c.Retry, err = retry.ConfigFromEnv(lookup); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// port reads a listening port variable: 0 to 65535.
func port(e *config.Env, name string, def int) int {
	p := e.Int(name, def, 0)
	e.Check(p <= 65535, name, strconv.Itoa(p), "want a port number between 0 and 65535")
	return p
}

// Validate checks the settings that must agree with each other.
func (c Config) Validate() error {
	if c.AckWait < time.Second {
		return fmt.Errorf("WORKER_ACK_WAIT=%s: want at least 1000 ms", c.AckWait)
	}
	if !bus.ValidToken(c.Instance) {
		return fmt.Errorf("WORKER_ID=%q: want letters, digits, - or _ only", c.Instance)
	}
	if c.UsageFlushEvery <= 0 {
		return fmt.Errorf("USAGE_FLUSH_INTERVAL=%s: want a positive number of milliseconds", c.UsageFlushEvery)
	}
	if c.HeartbeatEvery <= 0 {
		return fmt.Errorf("HEARTBEAT_INTERVAL=%s: want a positive number of milliseconds", c.HeartbeatEvery)
	}
	if c.UpstreamTimeout <= 0 {
		return fmt.Errorf("UPSTREAM_TIMEOUT=%s: want a positive number of milliseconds", c.UpstreamTimeout)
	}
	if err := c.Breaker.Validate(); err != nil {
		return err
	}
	return c.Retry.Validate()
}
