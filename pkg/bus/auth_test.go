package bus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/bus/natsserver"
	"github.com/lynkr/lynkr/pkg/config"
)

// discardLog is the logger of connections whose errors the test reads from LastError.
var discardLog = slog.New(slog.DiscardHandler)

// logBuffer collects log lines from nats.go's callback goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rolePasswords are the passwords of the role users in these tests.
var rolePasswords = map[bus.Role]string{bus.RoleGateway: "gw-secret", bus.RoleWorker: "wk-secret", bus.RoleAggregator: "ag-secret"}

// startListening starts an embedded server that listens on loopback with the role users.
func startListening(t *testing.T, edit func(*natsserver.Config)) *server.Server {
	t.Helper()
	internal, err := natsserver.NewInternalAuth()
	if err != nil {
		t.Fatal(err)
	}
	cfg := natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Passwords: map[bus.Role]config.Secret{}, Internal: internal}
	for r, pw := range rolePasswords {
		cfg.Passwords[r] = config.NewSecret(pw)
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// connectAs connects to s over TCP with role's user, as that service does.
func connectAs(t *testing.T, s *server.Server, role bus.Role) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(s.ClientURL(), nil, "test-"+string(role), bus.ClientAuth{Role: role, User: string(role), Password: config.NewSecret(rolePasswords[role])}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func jetStream(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func storedRequests(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), bus.RequestStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A client without credentials, or with a wrong password, is refused: it can neither read
// requests nor publish one. bus.Connect says so at once rather than retrying for ever.
func TestClientWithoutCredentialsIsRefused(t *testing.T) {
	s := startListening(t, nil)
	if nc, err := nats.Connect(s.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("connect without credentials: %v, want an authorization violation", err)
	}
	for _, auth := range []bus.ClientAuth{
		{Role: bus.RoleWorker},
		{Role: bus.RoleGateway, User: "gateway", Password: config.NewSecret("wrong")},
		{Role: bus.RoleGateway, User: "gateway", Password: config.NewSecret(rolePasswords[bus.RoleWorker])},
	} {
		nc, err := bus.Connect(s.ClientURL(), nil, "stranger", auth, discardLog)
		if !errors.Is(err, nats.ErrAuthorization) {
			if nc != nil {
				nc.Close()
			}
			t.Errorf("bus.Connect as %q: %v, want an authorization violation", auth.User, err)
		}
	}
}

// A gateway's credentials publish a request that JetStream stores; a worker's cannot publish
// one, but take it through their provider's durable consumer; the aggregator can read
// neither the requests nor the answers.
func TestOnlyAGatewayPublishesRequestsAndWorkersConsumeThem(t *testing.T) {
	ctx := t.Context()
	s := startListening(t, nil)
	gw := connectAs(t, s, bus.RoleGateway)
	gjs := jetStream(t, gw)
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(ctx, gjs, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := gjs.Publish(ctx, bus.RequestSubject("openai"), []byte("from a gateway")); err != nil {
		t.Fatalf("gateway publishes a request: %v", err)
	}
	if n := storedRequests(t, gjs); n != 1 {
		t.Fatalf("%d requests stored, want 1", n)
	}

	var logs logBuffer
	wk, err := bus.Connect(s.ClientURL(), nil, "test-worker", bus.ClientAuth{Role: bus.RoleWorker, User: "worker", Password: config.NewSecret(rolePasswords[bus.RoleWorker])}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	if err := wk.Publish(bus.RequestSubject("openai"), []byte("injected")); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, wk, "Publish to \""+bus.RequestSubject("openai")+"\"")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"level":"ERROR"`) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, `"level":"ERROR"`) || !strings.Contains(l, `Permissions Violation for Publish to \"lynkr.req.openai\"`) {
		t.Errorf("the violation is not logged as an error: %s", l)
	}
	if _, err := wk.Subscribe(bus.RequestSubject(">"), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, wk, "Subscription to \""+bus.RequestSubject(">")+"\"")
	if n := storedRequests(t, gjs); n != 1 {
		t.Fatalf("%d requests stored after the worker's publish, want 1", n)
	}

	wjs := jetStream(t, wk)
	cons, err := bus.EnsureConsumer(ctx, wjs, "openai", bus.ConsumerConfig{MaxInFlight: 8, AckWait: 5 * time.Second, MaxDeliver: 2})
	if err != nil {
		t.Fatalf("worker creates its consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("worker acknowledges: %v", err)
		}
	}
	if len(got) != 1 || got[0] != "from a gateway" {
		t.Fatalf("worker took %q, want the gateway's request", got)
	}
	if n := storedRequests(t, gjs); n != 0 {
		t.Errorf("%d requests stored after the worker's ack, want 0", n)
	}

	ag := connectAs(t, s, bus.RoleAggregator)
	if _, err := ag.Subscribe(bus.ReplyWildcard("*"), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, ag, "Subscription to \""+bus.ReplyWildcard("*")+"\"")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := jetStream(t, ag).CreateConsumer(short, bus.RequestStream, jetstream.ConsumerConfig{FilterSubject: bus.RequestSubject("openai")}); err == nil {
		t.Error("the aggregator created a consumer of the requests")
	}
	bustest.WaitViolation(t, ag, "$JS.API.CONSUMER.CREATE."+bus.RequestStream)
}

// A worker's credentials cannot reshape the request stream to inject requests through it (a
// source from a stream of its own, say): they may create it if no gateway did yet, never
// update it. Setup as workers run it joins the stream as the gateway made it.
func TestAWorkerCannotReshapeTheRequestStream(t *testing.T) {
	ctx := t.Context()
	s := startListening(t, nil)
	cfg := bus.DefaultStreamConfig()
	cfg.Memory = true
	if err := bus.Setup(ctx, jetStream(t, connectAs(t, s, bus.RoleGateway)), cfg); err != nil {
		t.Fatal(err)
	}
	wk := connectAs(t, s, bus.RoleWorker)
	wjs := jetStream(t, wk)
	joined := cfg
	joined.JoinRequests = true
	if err := bus.Setup(ctx, wjs, joined); err != nil {
		t.Fatalf("a worker joins the gateway's streams: %v", err)
	}
	st, err := wjs.Stream(ctx, bus.RequestStream)
	if err != nil {
		t.Fatal(err)
	}
	reshaped := st.CachedInfo().Config
	reshaped.Sources = []*jetstream.StreamSource{{Name: "SMUGGLED"}}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := wjs.UpdateStream(short, reshaped); err == nil {
		t.Fatal("a worker updated the request stream")
	}
	bustest.WaitViolation(t, wk, "$JS.API.STREAM.UPDATE."+bus.RequestStream)
	st, err = jetStream(t, connectAs(t, s, bus.RoleGateway)).Stream(ctx, bus.RequestStream)
	if err != nil {
		t.Fatal(err)
	}
	if src := st.CachedInfo().Config.Sources; len(src) != 0 {
		t.Errorf("the request stream has sources %v", src)
	}
}

// With TLS on the listener, a client that trusts the authority (NATS_CA) connects; one that
// does not is refused at once.
func TestTLSListenerServesClientsThatTrustItsAuthority(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := bustest.Certificates(t, dir)
	s := startListening(t, func(c *natsserver.Config) { c.TLSCert, c.TLSKey = cert, key })
	url := "tls://" + s.Addr().String()
	e := config.NewEnv(config.Map(map[string]string{"NATS_USER": "worker", "NATS_PASSWORD": rolePasswords[bus.RoleWorker], "NATS_CA": ca}))
	auth := bus.ReadClientAuth(e, bus.RoleWorker)
	if e.Err() != nil {
		t.Fatal(e.Err())
	}
	nc, err := bus.Connect(url, nil, "tls-client", auth, discardLog)
	if err != nil {
		t.Fatalf("connect with NATS_CA: %v", err)
	}
	defer nc.Close()
	if !nc.IsConnected() || nc.TLSRequired() == false {
		t.Errorf("connected %v, TLS %v", nc.IsConnected(), nc.TLSRequired())
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Errorf("not a TLS connection: %v", err)
	}
	auth.CA = ""
	if nc, err := bus.Connect(url, nil, "tls-client", auth, discardLog); err == nil {
		nc.Close()
		t.Fatal("connected without trusting the server's authority")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %v, want one about the certificate", err)
	}
	plain, err := nats.Connect(s.ClientURL(), nats.UserInfo("worker", rolePasswords[bus.RoleWorker]))
	if err == nil {
		plain.Close()
		t.Fatal("connected without TLS")
	}
}

// A server that is not there yet is waited for, as before credentials existed.
func TestConnectWaitsForAServerThatIsNotUpYet(t *testing.T) {
	port := bustest.FreePort(t)
	nc, err := bus.Connect("nats://127.0.0.1:"+strconv.Itoa(port), nil, "early", bus.ClientAuth{Role: bus.RoleWorker, User: "worker", Password: config.NewSecret(rolePasswords[bus.RoleWorker])}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	startListening(t, func(c *natsserver.Config) { c.Listen = "127.0.0.1:" + strconv.Itoa(port) })
	deadline := time.Now().Add(20 * time.Second)
	for !nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !nc.IsConnected() {
		t.Fatalf("not connected once the server is up: %v", nc.LastError())
	}
}

func TestReadClientAuth(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := bustest.Certificates(t, dir)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	seedFile := bustest.WriteFile(t, dir, "user.nk", string(seed))
	creds := bustest.WriteFile(t, dir, "user.creds", "-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5In0.e30.c2ln\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n"+string(seed)+"\n------END USER NKEY SEED------\n")
	jwtOnly := bustest.WriteFile(t, dir, "jwt-only.creds", "-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5In0.e30.c2ln\n------END NATS USER JWT------\n")
	notPEM := bustest.WriteFile(t, dir, "not.pem", "hello")
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // "" for no error; else in the message
	}{
		{"nothing", nil, ""},
		{"user and password", map[string]string{"NATS_USER": "gateway", "NATS_PASSWORD": "pw"}, ""},
		{"token", map[string]string{"NATS_TOKEN": "tok"}, ""},
		{"nkey", map[string]string{"NATS_NKEY": seedFile}, ""},
		{"creds", map[string]string{"NATS_CREDS": creds}, ""},
		{"TLS", map[string]string{"NATS_CA": ca, "NATS_CERT": cert, "NATS_KEY": key}, ""},
		{"user without password", map[string]string{"NATS_USER": "gateway"}, `NATS_USER="gateway": want NATS_PASSWORD`},
		{"password without user", map[string]string{"NATS_PASSWORD": "hunter2"}, `NATS_PASSWORD="[REDACTED]": want NATS_USER`},
		{"two ways", map[string]string{"NATS_USER": "gateway", "NATS_PASSWORD": "pw", "NATS_TOKEN": "hunter2"}, "NATS_USER and NATS_TOKEN are both set"},
		{"creds missing", map[string]string{"NATS_CREDS": filepath.Join(dir, "none.creds")}, "NATS_CREDS="},
		{"creds without seed", map[string]string{"NATS_CREDS": jwtOnly}, "NATS_CREDS="},
		{"nkey not a seed", map[string]string{"NATS_NKEY": notPEM}, "NATS_NKEY="},
		{"CA not PEM", map[string]string{"NATS_CA": notPEM}, "NATS_CA="},
		{"CA missing", map[string]string{"NATS_CA": filepath.Join(dir, "none.pem")}, "NATS_CA="},
		{"cert without key", map[string]string{"NATS_CERT": cert}, "NATS_CERT=" + strconv.Quote(cert) + ": want NATS_KEY"},
		{"key without cert", map[string]string{"NATS_KEY": key}, "NATS_KEY=" + strconv.Quote(key) + ": want NATS_CERT"},
		{"cert with the wrong key", map[string]string{"NATS_CERT": cert, "NATS_KEY": notPEM}, "NATS_CERT="},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := config.NewEnv(config.Map(c.env))
			bus.ReadClientAuth(e, bus.RoleGateway)
			err := e.Err()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one with %q", err, c.want)
			case err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), string(seed))):
				t.Fatalf("the error prints a secret: %v", err)
			}
		})
	}
}
