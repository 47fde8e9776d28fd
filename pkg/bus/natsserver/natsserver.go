// Package natsserver runs the NATS server embedded in the all-in-one: JetStream in a local
// store, in process only unless told to listen, with lynkr's roles as its users. It is a
// package of its own so that only the binary that embeds the server links nats-server: a
// service that connects to a bus needs pkg/bus alone, whose Connect takes the server as
// nats.go's in-process interface (bustest.NoServerLinked holds the services to it).
package natsserver

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/config"
)

// Config configures the NATS server that runs inside the all-in-one process.
type Config struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// Listen is a host:port to also serve NATS clients on (NATS_LISTEN); empty serves this
	// process only. A server that listens requires authentication: Passwords, or the users
	// of ConfigFile.
	Listen string
	// Passwords are the users that may connect on Listen: one per role (NATS_GATEWAY_PASSWORD,
	// NATS_WORKER_PASSWORD, NATS_AGGREGATOR_PASSWORD), named for it and held to its
	// bus.Permissions. A password may be a bcrypt hash (nats server passwd).
	Passwords map[bus.Role]config.Secret
	// Internal is the user this process's own connections authenticate as when there are
	// Passwords (NewInternalAuth): it may do everything, but only in process, so its
	// password is of no use on the network even if it leaked.
	Internal bus.ClientAuth
	// TLSCert and TLSKey, PEM files, make Listen serve TLS only (NATS_LISTEN_CERT,
	// NATS_LISTEN_KEY).
	TLSCert, TLSKey string
	// ConfigFile is a nats-server configuration loaded instead of Passwords and TLS
	// (NATS_SERVER_CONFIG), for accounts, NKeys, TLS and clustering the operator's way. Its
	// listen address serves clients (NATS_LISTEN overrides it); without one the server serves
	// this process only. JetStream is on, in StoreDir unless the file names a store_dir, and
	// max_payload is at least bus.MaxMessageBytes.
	ConfigFile string
}

// Validate checks the settings of c that can be checked before the server starts: files that
// parse, pairs complete, a listener with authentication.
func (c Config) Validate() error {
	_, err := c.options()
	return err
}

// PasswordVar is the setting of the password of role's user of the embedded server
// (Config.Passwords): NATS_WORKER_PASSWORD, say.
func PasswordVar(role bus.Role) string { return "NATS_" + strings.ToUpper(string(role)) + "_PASSWORD" }

// areSet is "X is set" or "X and Y are set".
func areSet(names []string) string {
	if len(names) == 1 {
		return names[0] + " is set"
	}
	return strings.Join(names, " and ") + " are set"
}

// options are the server options of c, without the internal user.
func (c Config) options() (*server.Options, error) {
	var roles []string
	for _, role := range bus.Roles() {
		if !c.Passwords[role].IsZero() {
			roles = append(roles, PasswordVar(role))
		}
	}
	tls := c.TLSCert != "" || c.TLSKey != ""
	listenerVars := append(roles, tlsVars(c)...)
	switch {
	case c.ConfigFile != "" && len(listenerVars) > 0:
		return nil, fmt.Errorf("NATS_SERVER_CONFIG=%q is set with %s: the users and TLS of the file apply; set them there", c.ConfigFile, strings.Join(listenerVars, " and "))
	case c.ConfigFile == "" && c.Listen == "" && len(listenerVars) > 0:
		return nil, fmt.Errorf("%s without NATS_LISTEN: the embedded server serves this process only; set NATS_LISTEN for others to connect", areSet(listenerVars))
	case c.ConfigFile == "" && c.Listen != "" && len(roles) == 0:
		return nil, fmt.Errorf("NATS_LISTEN=%q: set the passwords of the users that may connect, one or more of %s, %s, %s, or NATS_SERVER_CONFIG",
			c.Listen, PasswordVar(bus.RoleGateway), PasswordVar(bus.RoleWorker), PasswordVar(bus.RoleAggregator))
	case c.TLSCert != "" && c.TLSKey == "":
		return nil, errors.New("NATS_LISTEN_CERT is set without NATS_LISTEN_KEY: TLS needs a certificate and its key")
	case c.TLSCert == "" && c.TLSKey != "":
		return nil, errors.New("NATS_LISTEN_KEY is set without NATS_LISTEN_CERT: TLS needs a certificate and its key")
	}
	opts := &server.Options{}
	if c.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(c.ConfigFile); err != nil {
			return nil, fmt.Errorf("NATS_SERVER_CONFIG=%q: %w", c.ConfigFile, err)
		}
		if opts.MaxPayload != 0 && opts.MaxPayload < bus.MaxMessageBytes {
			return nil, fmt.Errorf("NATS_SERVER_CONFIG=%q: max_payload %d is too small for the requests lynkr takes: want at least %d", c.ConfigFile, opts.MaxPayload, bus.MaxMessageBytes)
		}
	}
	if opts.ServerName == "" {
		opts.ServerName = "lynkr-embedded"
	}
	if opts.StoreDir == "" {
		opts.StoreDir = c.StoreDir
	}
	if opts.JetStreamMaxMemory == 0 {
		opts.JetStreamMaxMemory = 256 << 20
	}
	opts.JetStream = true
	opts.MaxPayload = max(opts.MaxPayload, bus.MaxMessageBytes)
	opts.NoSigs, opts.NoLog = true, true
	switch {
	case c.Listen != "":
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("NATS_LISTEN=%q: %w", c.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("NATS_LISTEN=%q: port %q: %w", c.Listen, port, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT // as net.Listen reads port 0, not nats-server's 4222
		}
		opts.Host, opts.Port = host, p
	case c.ConfigFile == "" || opts.Port == 0 && opts.Host == "":
		opts.DontListen = true
	}
	if tls {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLSCert, KeyFile: c.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("NATS_LISTEN_CERT=%q, NATS_LISTEN_KEY=%q: %w", c.TLSCert, c.TLSKey, err)
		}
		opts.TLSConfig, opts.TLS = tc, true
	}
	for _, role := range bus.Roles() {
		if pw := c.Passwords[role]; !pw.IsZero() {
			opts.Users = append(opts.Users, &server.User{Username: string(role), Password: pw.Reveal(), Permissions: permissions(bus.Permissions(role))})
		}
	}
	return opts, nil
}

// tlsVars names the TLS settings of c that are set.
func tlsVars(c Config) []string {
	var out []string
	if c.TLSCert != "" {
		out = append(out, "NATS_LISTEN_CERT")
	}
	if c.TLSKey != "" {
		out = append(out, "NATS_LISTEN_KEY")
	}
	return out
}

// internalUser is the name of Config.Internal's user.
const internalUser = "lynkr-internal"

// NewInternalAuth is a user for Config.Internal with a password of 256 random bits, made at
// each start and never written anywhere.
func NewInternalAuth() (bus.ClientAuth, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return bus.ClientAuth{}, fmt.Errorf("internal NATS password: %w", err)
	}
	return bus.ClientAuth{User: internalUser, Password: config.NewSecret(base64.RawURLEncoding.EncodeToString(b))}, nil
}

// Start starts a nats-server with JetStream and waits until it is ready. bus.Connect reaches
// it in process when given no URL.
func Start(cfg Config) (*server.Server, error) {
	opts, err := cfg.options()
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if len(opts.Users) > 0 && cfg.ConfigFile == "" {
		if cfg.Internal.User == "" || cfg.Internal.Password.IsZero() {
			return nil, errors.New("embedded nats: users are configured but no internal user for this process")
		}
		opts.Users = append(opts.Users, &server.User{
			Username:               cfg.Internal.User,
			Password:               cfg.Internal.Password.Reveal(),
			AllowedConnectionTypes: map[string]struct{}{"IN_PROCESS": {}}, // jwt.ConnectionTypeInProcess
		})
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
