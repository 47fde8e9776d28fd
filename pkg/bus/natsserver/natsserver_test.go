package natsserver_test

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/bus/natsserver"
	"github.com/lynkr/lynkr/pkg/config"
)

// serverConfFile is the example configuration of a nats-server run apart, with lynkr's users.
const serverConfFile = "../../../deployments/nats/nats-server.conf"

// discardLog is the logger of connections whose errors the test reads from LastError.
var discardLog = slog.New(slog.DiscardHandler)

// start starts the server of cfg, shut down when the test ends.
func start(t *testing.T, cfg natsserver.Config) *server.Server {
	t.Helper()
	s, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func jetStream(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// The internal user may do everything in process, and nothing on the network even with its
// password.
func TestInternalUserIsInProcessOnly(t *testing.T) {
	internal, err := natsserver.NewInternalAuth()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
		Passwords: map[bus.Role]config.Secret{bus.RoleWorker: config.NewSecret("wk-secret")}, Internal: internal})
	nc, err := bus.Connect("", s, "all-in-one", internal, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := jetStream(t, nc)
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), bus.RequestSubject("openai"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if tcp, err := nats.Connect(s.ClientURL(), nats.UserInfo(internal.User, internal.Password.Reveal())); !errors.Is(err, nats.ErrAuthorization) {
		if tcp != nil {
			tcp.Close()
		}
		t.Fatalf("internal user over TCP: %v, want an authorization violation", err)
	}
}

// A server configuration file (NATS_SERVER_CONFIG) replaces the role passwords: here NKey
// users with the generated permissions. The all-in-one's own connection uses the client
// settings.
func TestServerConfigFileWithNKeyUsers(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "permissions"), 0o700); err != nil {
		t.Fatal(err)
	}
	seeds := map[bus.Role]string{}
	var users []string
	for _, role := range []bus.Role{bus.RoleGateway, bus.RoleWorker} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		seeds[role] = filepath.Join(dir, string(role)+".nk")
		if err := os.WriteFile(seeds[role], seed, 0o600); err != nil {
			t.Fatal(err)
		}
		bustest.WriteFile(t, filepath.Join(dir, "permissions"), string(role)+".conf", bus.PermissionsConf(role))
		users = append(users, fmt.Sprintf("{nkey: %s, permissions: {include \"permissions/%s.conf\"}}", pub, role))
	}
	port := bustest.FreePort(t)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization { users: [\n%s\n] }\n", port, strings.Join(users, "\n"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := natsserver.Config{StoreDir: t.TempDir(), ConfigFile: conf}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := start(t, cfg)

	in, err := bus.Connect("", s, "all-in-one", bus.ClientAuth{Role: bus.RoleGateway, NKey: seeds[bus.RoleGateway]}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	mem := bus.DefaultStreamConfig()
	mem.Memory = true
	if err := bus.Setup(t.Context(), jetStream(t, in), mem); err != nil {
		t.Fatal(err)
	}
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	wk, err := bus.Connect(url, nil, "worker", bus.ClientAuth{Role: bus.RoleWorker, NKey: seeds[bus.RoleWorker]}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	if err := wk.Publish(bus.RequestSubject("openai"), nil); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, wk, "Publish to \""+bus.RequestSubject("openai")+"\"")
	if nc, err := nats.Connect(url); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("connect without credentials: %v, want an authorization violation", err)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	_, cert, key := bustest.Certificates(t, dir)
	pw := map[bus.Role]config.Secret{bus.RoleWorker: config.NewSecret("pw")}
	small := bustest.WriteFile(t, dir, "small.conf", "max_payload: 1048576\n")
	broken := bustest.WriteFile(t, dir, "broken.conf", "listen: {{\n")
	good := bustest.WriteFile(t, dir, "good.conf", "listen: 127.0.0.1:4222\n")
	for _, c := range []struct {
		name string
		cfg  natsserver.Config
		want string
	}{
		{"in process", natsserver.Config{}, ""},
		{"listen with a password", natsserver.Config{Listen: "127.0.0.1:4222", Passwords: pw}, ""},
		{"listen with TLS", natsserver.Config{Listen: "127.0.0.1:4222", Passwords: pw, TLSCert: cert, TLSKey: key}, ""},
		{"a config file", natsserver.Config{ConfigFile: good}, ""},
		{"listen without users", natsserver.Config{Listen: "127.0.0.1:4222"}, "NATS_LISTEN=\"127.0.0.1:4222\": set the passwords of the users that may connect, one or more of NATS_GATEWAY_PASSWORD, NATS_WORKER_PASSWORD, NATS_AGGREGATOR_PASSWORD, or NATS_SERVER_CONFIG"},
		{"password without listen", natsserver.Config{Passwords: pw}, "NATS_WORKER_PASSWORD is set without NATS_LISTEN"},
		{"TLS without listen", natsserver.Config{TLSCert: cert, TLSKey: key}, "NATS_LISTEN_CERT and NATS_LISTEN_KEY are set without NATS_LISTEN"},
		{"cert without key", natsserver.Config{Listen: "127.0.0.1:4222", Passwords: pw, TLSCert: cert}, "NATS_LISTEN_CERT is set without NATS_LISTEN_KEY"},
		{"key without cert", natsserver.Config{Listen: "127.0.0.1:4222", Passwords: pw, TLSKey: key}, "NATS_LISTEN_KEY is set without NATS_LISTEN_CERT"},
		{"cert with the wrong key", natsserver.Config{Listen: "127.0.0.1:4222", Passwords: pw, TLSCert: cert, TLSKey: small}, "NATS_LISTEN_CERT="},
		{"config file and passwords", natsserver.Config{ConfigFile: good, Passwords: pw}, "NATS_SERVER_CONFIG=" + strconv.Quote(good) + " is set with NATS_WORKER_PASSWORD"},
		{"config file that does not parse", natsserver.Config{ConfigFile: broken}, "NATS_SERVER_CONFIG=" + strconv.Quote(broken)},
		{"config file missing", natsserver.Config{ConfigFile: filepath.Join(dir, "none.conf")}, "NATS_SERVER_CONFIG="},
		{"config file with a small max_payload", natsserver.Config{ConfigFile: small}, "max_payload 1048576 is too small"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw") && !strings.Contains(c.want, "pw") {
				t.Fatalf("the error prints a password: %v", err)
			}
		})
	}
}

// The example server configuration loads in nats-server as written, with the passwords from
// the environment, and gives each role's user exactly the permissions of bus.Permissions.
func TestServerConfGivesEachRoleItsPermissions(t *testing.T) {
	for _, role := range bus.Roles() {
		t.Setenv("NATS_"+strings.ToUpper(string(role))+"_PASSWORD", "pw-"+string(role))
	}
	opts, err := server.ProcessConfigFile(serverConfFile)
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxPayload != bus.MaxMessageBytes {
		t.Errorf("max_payload %d, want bus.MaxMessageBytes %d", opts.MaxPayload, bus.MaxMessageBytes)
	}
	if !opts.JetStream {
		t.Error("JetStream is off")
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	if len(users) != len(bus.Roles()) {
		t.Errorf("users %v, want one per role", slices.Sorted(maps.Keys(users)))
	}
	for _, role := range bus.Roles() {
		u := users[string(role)]
		if u == nil {
			t.Errorf("no user %s", role)
			continue
		}
		if u.Password != "pw-"+string(role) {
			t.Errorf("user %s: password not taken from the environment", role)
		}
		want := bus.Permissions(role)
		p := u.Permissions
		if p == nil || p.Publish == nil || p.Subscribe == nil {
			t.Fatalf("user %s: permissions %+v", role, p)
		}
		if !slices.Equal(p.Publish.Allow, want.Publish) || !slices.Equal(p.Publish.Deny, want.DenyPublish) ||
			!slices.Equal(p.Subscribe.Allow, want.Subscribe) || (p.Response != nil) != want.Respond {
			t.Errorf("user %s: permissions in the server\n  %+v %+v %+v\nwant %+v", role, p.Publish, p.Subscribe, p.Response, want)
		}
	}
}
