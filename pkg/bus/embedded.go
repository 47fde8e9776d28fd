package bus

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// MaxMessageBytes is the largest message lynkr's embedded server accepts: room for an 8 MiB
// request body and its envelope. An external cluster needs max_payload at least this large
// for requests of that size; the gateway refuses larger requests with a 413 either way.
const MaxMessageBytes = 8<<20 + 64<<10

// EmbeddedConfig configures the NATS server that runs inside the all-in-one process.
type EmbeddedConfig struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// Listen is a host:port to also serve NATS clients on; empty serves this process only.
	Listen string
}

// StartEmbedded starts a nats-server with JetStream and waits until it is ready.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	opts := &server.Options{
		ServerName:         "lynkr-embedded",
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		MaxPayload:         MaxMessageBytes,
		NoSigs:             true,
		NoLog:              true,
		DontListen:         cfg.Listen == "",
		JetStreamMaxMemory: 256 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen port %q: %w", port, err)
		}
		opts.Host, opts.Port = host, p
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 10s")
	}
	return s, nil
}

// Connect opens a connection to url, or to the embedded server s when url is empty. The
// connection reconnects for ever: a NATS restart is an outage to ride out, not a reason to die.
func Connect(url string, s *server.Server, name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(64 << 20),
	}
	if url == "" {
		if s == nil {
			return nil, fmt.Errorf("connect %s: neither NATS_URL nor an embedded server", name)
		}
		opts = append(opts, nats.InProcessServer(s))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s to NATS %s: %w", name, url, err)
	}
	return nc, nil
}
