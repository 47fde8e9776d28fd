package gateway

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nuid"
	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/limiter"
	"github.com/lynkr/lynkr/pkg/loopguard"
	"github.com/lynkr/lynkr/pkg/shed"
	"github.com/lynkr/lynkr/services/gateway/internal/route"
	"github.com/lynkr/lynkr/services/gateway/internal/tenancy"
)

// Config is the gateway's configuration. ConfigFromEnv fills it from Lynkr's variable names.
type Config struct {
	// Addr is the HTTP listen address (HOST and PORT; PORT defaults to 8081 as in Lynkr).
	Addr string
	// NATSURL is the NATS server (NATS_URL). Empty in the all-in-one, which passes its
	// embedded connection instead.
	NATSURL string
	// NATSAuth is how the gateway authenticates to NATS_URL, as bus.RoleGateway (NATS_CREDS,
	// NATS_NKEY, NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CA, NATS_CERT, NATS_KEY).
	NATSAuth bus.ClientAuth
	// Instance names this gateway on the bus (GATEWAY_ID); answers are addressed to it.
	Instance string
	// DefaultProvider gets every request no rule routes elsewhere (MODEL_PROVIDER).
	DefaultProvider string
	// FallbackProvider takes the requests of a provider whose circuit breaker is open
	// (FALLBACK_PROVIDER, when FALLBACK_ENABLED is not false).
	FallbackProvider string
	// EmbeddingsProvider serves /v1/embeddings (EMBEDDINGS_PROVIDER); empty picks the default
	// provider if it can, else any provider that can.
	EmbeddingsProvider string
	// Routes send model name patterns to providers (ROUTES=claude-*=anthropic,gpt-*=openai).
	Routes []route.Rule
	// StrictModels refuses (404) a model that no provider lists (STRICT_MODELS).
	StrictModels bool
	// MaxBodyBytes is the largest request body accepted (MAX_REQUEST_BODY_BYTES, 8 MiB).
	MaxBodyBytes int64
	// RequestTimeout bounds one request from arrival to its last byte (REQUEST_TIMEOUT, ms).
	RequestTimeout time.Duration
	// BodyTimeout and BodyMinRate bound the reading of a request body: it must start within
	// BodyTimeout and then arrive at BodyMinRate bytes a second or faster, so a client that
	// stalls cannot hold a connection (REQUEST_BODY_TIMEOUT, ms; REQUEST_BODY_MIN_RATE).
	BodyTimeout time.Duration
	BodyMinRate int64
	// MaxConnsPerIP and MaxConns bound the client connections open at once: from one client
	// address (MAX_CONNECTIONS_PER_IP, 256; IPv6 addresses by their /64) and in all
	// (MAX_CONNECTIONS, 10000). A connection over either is answered a plain 503 and closed
	// at once. 0 turns a cap off. Behind a load balancer every client has the balancer's
	// address: the per-address cap then applies per balancer node (see conncap.go).
	MaxConnsPerIP int
	MaxConns      int
	// PingInterval is how long a streaming client waits in silence before the gateway starts
	// the stream and sends keep-alive pings (SSE_PING_INTERVAL, ms).
	PingInterval time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests (GRACEFUL_SHUTDOWN_TIMEOUT, ms).
	ShutdownTimeout time.Duration
	// ReadinessDelay is how long /health/ready answers 503 while the gateway still takes
	// requests at the start of a graceful shutdown, so a load balancer stops sending before
	// the listener closes (SHUTDOWN_READINESS_DELAY, ms; 0 closes at once).
	ReadinessDelay time.Duration
	// MetricsEnabled serves /metrics and the JSON views under /metrics/ (METRICS_ENABLED).
	MetricsEnabled bool
	// RequestLogging writes one info line per request (REQUEST_LOGGING_ENABLED); errors are
	// logged either way.
	RequestLogging bool
	// HeartbeatEvery is how often the gateway tells the cluster it is alive and what it sees
	// (HEARTBEAT_INTERVAL, ms).
	HeartbeatEvery time.Duration
	// Streams shapes the JetStream assets the gateway creates if they are missing.
	Streams bus.StreamConfig
	// Shed sets the local load shedding (LOAD_SHEDDING_*).
	Shed shed.Config
	// BacklogThreshold refuses (503) requests for a provider with more requests than this
	// waiting in JetStream for a worker (LOAD_SHEDDING_BACKLOG_THRESHOLD; 0 turns it off).
	BacklogThreshold uint64
	// Limiter sets the cluster-wide limiter: shared through Redis with REDIS_URL, else in
	// this process (LIMITER_*).
	Limiter limiter.Config
	// LoopGuard refuses conversations that show a runaway agent loop (LOOP_GUARD_MAX_MESSAGES,
	// LOOP_GUARD_MAX_TOOL_ROUNDS or Lynkr's POLICY_MAX_STEPS, LOOP_GUARD_MAX_REPEATS; 0 turns a
	// check off).
	LoopGuard loopguard.Limits
	// Cache is the response cache of deterministic requests (RESPONSE_CACHE_ENABLED,
	// RESPONSE_CACHE_TTL ms, RESPONSE_CACHE_MAX_ENTRIES, RESPONSE_CACHE_MAX_BYTES).
	Cache CacheConfig
	// Tenancy is virtual keys, per-tenant rate limits and budgets (AUTH_ENABLED,
	// ADMIN_API_KEY, TRUST_TENANT_HEADERS, TENANT_STORE_PATH, TENANT_FAIL_OPEN,
	// TENANT_TIMEOUT ms, PRICE_TABLE_FILE, BUDGET_OUTPUT_TOKENS, KEY_MAX_CONCURRENT). All off
	// by default.
	Tenancy tenancy.Config
}

// ConfigFromEnv reads the gateway's settings.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	e := config.NewEnv(lookup)
	host, _ := os.Hostname()
	c := Config{
		Addr:               fmt.Sprintf("%s:%d", e.String("HOST", ""), port(e, "PORT", 8081)),
		NATSURL:            e.URLs("NATS_URL", "nats", "tls", "ws", "wss"),
		Instance:           e.String("GATEWAY_ID", bus.Token(host, "gateway")+"-"+nuid.Next()[16:]),
		DefaultProvider:    e.String("MODEL_PROVIDER", "ollama"),
		EmbeddingsProvider: e.String("EMBEDDINGS_PROVIDER", ""),
		FallbackProvider:   e.String("FALLBACK_PROVIDER", ""),
		StrictModels:       e.Bool("STRICT_MODELS", false),
		MaxBodyBytes:       e.Bytes("MAX_REQUEST_BODY_BYTES", 8<<20),
		RequestTimeout:     e.Millis("REQUEST_TIMEOUT", 10*time.Minute),
		BodyTimeout:        e.Millis("REQUEST_BODY_TIMEOUT", 10*time.Second),
		BodyMinRate:        e.Bytes("REQUEST_BODY_MIN_RATE", 64<<10),
		MaxConnsPerIP:      e.Int("MAX_CONNECTIONS_PER_IP", 256, 0),
		MaxConns:           e.Int("MAX_CONNECTIONS", 10_000, 0),
		PingInterval:       e.Millis("SSE_PING_INTERVAL", 10*time.Second),
		ShutdownTimeout:    e.Millis("GRACEFUL_SHUTDOWN_TIMEOUT", 30*time.Second),
		ReadinessDelay:     e.Millis("SHUTDOWN_READINESS_DELAY", 0),
		MetricsEnabled:     e.Bool("METRICS_ENABLED", true),
		RequestLogging:     e.Bool("REQUEST_LOGGING_ENABLED", true),
		HeartbeatEvery:     e.Millis("HEARTBEAT_INTERVAL", 5*time.Second),
		Streams:            bus.DefaultStreamConfig(),
	}
	c.Streams.Replicas = e.Int("NATS_REPLICAS", 1, 1)
	c.NATSAuth = bus.ReadClientAuth(e, bus.RoleGateway)
	c.BacklogThreshold = uint64(e.Int("LOAD_SHEDDING_BACKLOG_THRESHOLD", 5000, 0))
	c.Cache = CacheConfig{
		Enabled:    e.Bool("RESPONSE_CACHE_ENABLED", true),
		TTL:        e.Millis("RESPONSE_CACHE_TTL", time.Hour),
		MaxEntries: e.Int("RESPONSE_CACHE_MAX_ENTRIES", 10_000, 1),
		MaxBytes:   e.Bytes("RESPONSE_CACHE_MAX_BYTES", 64<<20),
	}
	c.Tenancy = tenancy.Config{
		Auth:         e.Bool("AUTH_ENABLED", false),
		AdminKey:     e.Secret("ADMIN_API_KEY"),
		TrustHeaders: e.Bool("TRUST_TENANT_HEADERS", false),
		StorePath:    e.String("TENANT_STORE_PATH", ""),
		FailOpen:     e.Bool("TENANT_FAIL_OPEN", true),
		Timeout:      e.Millis("TENANT_TIMEOUT", 500*time.Millisecond),
		PricesFile:   e.String("PRICE_TABLE_FILE", ""),
		// A request that sets no max_tokens is held at 4096 output tokens while it runs.
		OutputTokens: int64(e.Int("BUDGET_OUTPUT_TOKENS", 4096, 0)),
		// A key has at most 100 requests under way in a gateway (a tenth of the default
		// LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD) unless its max_concurrent says otherwise.
		KeyMaxConcurrent: int64(e.Int("KEY_MAX_CONCURRENT", 100, 0)),
	}
	c.LoopGuard = loopguard.Limits{
		MaxMessages:   e.Int("LOOP_GUARD_MAX_MESSAGES", 0, 0),
		MaxToolRounds: e.Int("LOOP_GUARD_MAX_TOOL_ROUNDS", e.Int("POLICY_MAX_STEPS", 0, 0), 0),
		MaxRepeats:    e.Int("LOOP_GUARD_MAX_REPEATS", 10, 0),
	}
	if !e.Bool("FALLBACK_ENABLED", true) {
		c.FallbackProvider = ""
	}
	rules, err := route.ParseRules(e.String("ROUTES", ""))
	e.Check(err == nil, "ROUTES", e.String("ROUTES", ""), fmt.Sprint(err))
	c.Routes = rules
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	if c.Shed, err = shed.ConfigFromEnv(lookup); err != nil {
		return Config{}, err
	}
	if c.Limiter, err = limiter.ConfigFromEnv(lookup); err != nil {
		return Config{}, err
	}
	if u := c.Limiter.RedisURL; u != "" {
		if _, err := redis.ParseURL(u); err != nil {
			return Config{}, fmt.Errorf("REDIS_URL=%q: want a redis:// or rediss:// URL such as redis://localhost:6379/0", config.RedactURL(u))
		}
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
	switch {
	case !bus.ValidToken(c.Instance):
		return fmt.Errorf("GATEWAY_ID=%q: want letters, digits, - or _ only", c.Instance)
	case !bus.ValidToken(c.DefaultProvider):
		return fmt.Errorf("MODEL_PROVIDER=%q: want a provider name", c.DefaultProvider)
	case c.MaxBodyBytes > bus.MaxMessageBytes-64<<10:
		return fmt.Errorf("MAX_REQUEST_BODY_BYTES=%d: at most %d fit in one bus message", c.MaxBodyBytes, bus.MaxMessageBytes-64<<10)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("REQUEST_TIMEOUT=%s: want a positive number of milliseconds", c.RequestTimeout)
	case c.BodyTimeout <= 0:
		return fmt.Errorf("REQUEST_BODY_TIMEOUT=%s: want a positive number of milliseconds", c.BodyTimeout)
	case c.BodyMinRate <= 0:
		return fmt.Errorf("REQUEST_BODY_MIN_RATE=%d: want a positive number of bytes a second", c.BodyMinRate)
	case c.LoopGuard.Validate() != nil:
		return c.LoopGuard.Validate()
	case c.Tenancy.Enabled() && c.Tenancy.Timeout <= 0:
		return fmt.Errorf("TENANT_TIMEOUT=%s: want a positive number of milliseconds", c.Tenancy.Timeout)
	case c.HeartbeatEvery <= 0:
		return fmt.Errorf("HEARTBEAT_INTERVAL=%s: want a positive number of milliseconds", c.HeartbeatEvery)
	case c.RequestTimeout >= c.Streams.MaxRequestAge:
		return fmt.Errorf("REQUEST_TIMEOUT=%s: must be shorter than the stream's maximum age %s", c.RequestTimeout, c.Streams.MaxRequestAge)
	}
	return nil
}
