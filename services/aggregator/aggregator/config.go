package aggregator

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nuid"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/heartbeat"
)

// Config is the aggregator's configuration. ConfigFromEnv fills it from the environment.
type Config struct {
	// Addr is the HTTP listen address (HOST and PORT; PORT defaults to 8083). Empty means Run
	// does not listen: the all-in-one mounts Handler on its gateway's server instead.
	Addr string
	// NATSURL is the NATS server (NATS_URL). Main requires it; the all-in-one passes its
	// embedded connection instead.
	NATSURL string
	// NATSAuth is how the aggregator authenticates to NATS_URL, as bus.RoleAggregator
	// (NATS_CREDS, NATS_NKEY, NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CA, NATS_CERT,
	// NATS_KEY).
	NATSAuth bus.ClientAuth
	// Instance names this aggregator in its own heartbeats (AGGREGATOR_ID).
	Instance string
	// HeartbeatTTL is how long an instance stays in the cluster view after its last
	// heartbeat (HEARTBEAT_TTL, ms). It should be a few times the instances' interval.
	HeartbeatTTL time.Duration
	// HeartbeatInterval is how often the aggregator sends its own heartbeat
	// (HEARTBEAT_INTERVAL, ms; by default 5 s, or a third of the TTL if that is less).
	HeartbeatInterval time.Duration
	// PollInterval is how often the aggregator reads each provider's backlog from JetStream.
	PollInterval time.Duration
	// ShutdownTimeout bounds the drain of HTTP requests in flight (GRACEFUL_SHUTDOWN_TIMEOUT,
	// ms).
	ShutdownTimeout time.Duration
}

// DefaultPort is where the aggregator listens unless PORT says otherwise.
const DefaultPort = 8083

// ConfigFromEnv reads the aggregator's settings.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	e := config.NewEnv(lookup)
	host, _ := os.Hostname()
	c := Config{
		Addr:            fmt.Sprintf("%s:%d", e.String("HOST", ""), port(e, "PORT", DefaultPort)),
		NATSURL:         e.URLs("NATS_URL", "nats", "tls", "ws", "wss"),
		Instance:        e.String("AGGREGATOR_ID", bus.Token(host, "aggregator")+"-"+nuid.Next()[16:]),
		HeartbeatTTL:    e.Millis("HEARTBEAT_TTL", heartbeat.DefaultTTL),
		PollInterval:    2 * time.Second,
		ShutdownTimeout: e.Millis("GRACEFUL_SHUTDOWN_TIMEOUT", 10*time.Second),
	}
	c.NATSAuth = bus.ReadClientAuth(e, bus.RoleAggregator)
	// Unless told otherwise, three heartbeats fit in the TTL, as the defaults have it.
	c.HeartbeatInterval = e.Millis("HEARTBEAT_INTERVAL", min(heartbeat.DefaultInterval, c.HeartbeatTTL/3))
	if err := e.Err(); err != nil {
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
	switch {
	case !bus.ValidToken(c.Instance):
		return fmt.Errorf("AGGREGATOR_ID=%q: want letters, digits, - or _ only", c.Instance)
	case c.HeartbeatInterval <= 0:
		return fmt.Errorf("HEARTBEAT_INTERVAL=%s: want a positive number of milliseconds", c.HeartbeatInterval)
	case c.HeartbeatTTL <= c.HeartbeatInterval:
		return fmt.Errorf("HEARTBEAT_TTL=%s: want more than HEARTBEAT_INTERVAL=%s, a few heartbeats' worth", c.HeartbeatTTL, c.HeartbeatInterval)
	case c.PollInterval <= 0:
		return fmt.Errorf("aggregator poll interval %s: want a positive duration", c.PollInterval)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("GRACEFUL_SHUTDOWN_TIMEOUT=%s: want a number of milliseconds", c.ShutdownTimeout)
	}
	return nil
}
