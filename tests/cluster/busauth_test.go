package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/tests/harness"
)

// A cluster on a nats-server that requires credentials, each service with its role's user and
// the permissions lynkr ships: requests of every kind are answered, a long one kept alive and
// a canceled one stopped, the aggregator sees everyone, usage is charged, and neither a
// process nor the server reports a violation (the permissions are enough); a client with the worker's credentials cannot put a request on the bus,
// though one with a gateway's can (which is what a gateway does, and why only gateways may);
// a client without credentials is refused.
func TestBusWithRoleCredentials(t *testing.T) {
	n := harness.NATSWithUsers(t, bin)
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Echo: true}))
	t.Cleanup(fake.Close)
	worker := harness.Start(t, "worker", bin.Worker, mergeEnv(workerEnv(n.URL, fake.URL(), map[string]string{"WORKER_ID": "worker-1"}), n.Env(bus.RoleWorker)))
	gwPort, aggPort := harness.FreePort(t), harness.FreePort(t)
	gateway := harness.Start(t, "gateway", bin.Gateway, mergeEnv(map[string]string{
		"MODEL_PROVIDER":       "openai",
		"HOST":                 "127.0.0.1",
		"PORT":                 strconv.Itoa(gwPort),
		"GATEWAY_ID":           "gateway-1",
		"LOG_LEVEL":            "warn",
		"TRUST_TENANT_HEADERS": "true", // the usage charger: a consumer of LLM_USAGE
		"TENANT_STORE_PATH":    t.TempDir() + "/tenants.db",
	}, n.Env(bus.RoleGateway)))
	aggregator := harness.Start(t, "aggregator", bin.Aggregator, mergeEnv(map[string]string{
		"HOST":          "127.0.0.1",
		"PORT":          strconv.Itoa(aggPort),
		"AGGREGATOR_ID": "aggregator-1",
		"LOG_LEVEL":     "warn",
	}, n.Env(bus.RoleAggregator)))
	base := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	waitReady(t, base)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{}
	for k := range kinds {
		for i := range 3 {
			prompt := fmt.Sprintf("role credentials %d-%d", k, i)
			text, err := send(ctx, client, base, k, prompt)
			if err != nil {
				t.Fatalf("request kind %d: %v", k, err)
			}
			if !strings.Contains(text, prompt) {
				t.Fatalf("request kind %d answered %q, want the echo of %q", k, text, prompt)
			}
		}
	}
	// A request that runs for seconds: the worker reports progress to JetStream and asks the
	// gateway every second whether it still holds the client, which the gateway answers.
	fake.Enqueue(fakeupstream.Reply{Text: "slow but still wanted", Chunks: 6, ChunkDelay: 500 * time.Millisecond})
	if text, err := send(ctx, client, base, chatStream, "slow"); err != nil || text != "slow but still wanted" {
		t.Fatalf("a request of 3 s: %q, %v", text, err)
	}
	// A client that goes away: the gateway publishes the cancellation, the worker takes it.
	fake.Enqueue(fakeupstream.Reply{Text: "slow", HeaderDelay: 30 * time.Second})
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, err := send(short, client, base, chatPlain, "gone"); err == nil {
		t.Fatal("a request whose client left was answered")
	}
	stop()

	agg := fmt.Sprintf("http://127.0.0.1:%d", aggPort)
	var view clusterView
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v, err := getCluster(agg)
		if err == nil && len(v.Instances) == 3 && len(v.Providers) > 0 {
			view = v
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(view.Instances) != 3 || len(view.Providers) == 0 {
		t.Fatalf("the aggregator sees %v and %d providers, want the gateway, the worker, itself and openai", view.names(), len(view.Providers))
	}

	// The gateway charged the usage the worker reported: its consumer acknowledged it all.
	gw := connect(t, n, bus.RoleGateway)
	gjs, err := jetstream.New(gw)
	if err != nil {
		t.Fatal(err)
	}
	var charged *jetstream.ConsumerInfo
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := gjs.Consumer(ctx, bus.UsageStream, "lynkr-charger"); err == nil {
			if charged = c.CachedInfo(); charged.Delivered.Stream > 0 && charged.AckFloor.Stream == charged.Delivered.Stream && charged.NumPending == 0 {
				break
			}
		}
	}
	if charged == nil || charged.Delivered.Stream == 0 || charged.AckFloor.Stream != charged.Delivered.Stream {
		t.Errorf("usage charged: %+v, want every batch delivered and acknowledged", charged)
	}

	// Every service did its part within its permissions; the server says so too (the
	// violations below are the test's own).
	for _, p := range []*harness.Proc{worker, gateway, aggregator, n.Proc} {
		if out := p.Output(); strings.Contains(strings.ToLower(out), "violation") {
			t.Errorf("%s reports a permission violation: the shipped permissions lack what lynkr does:\n%s", p.Name, violations(out))
		}
	}

	// The worker's credentials: no request goes on the bus.
	lastSeq := func() uint64 {
		st, err := gjs.Stream(ctx, bus.RequestStream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.LastSeq
	}
	injected := injection(t, "injected-by-worker")
	before, callsBefore := lastSeq(), fake.Calls()
	wk := connect(t, n, bus.RoleWorker)
	if err := wk.PublishMsg(injected); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, wk, "Publish to \""+bus.RequestSubject("openai")+"\"")
	if after := lastSeq(); after != before {
		t.Errorf("the requests stream moved from %d to %d after the worker's publish", before, after)
	}
	if _, err := wk.Subscribe(bus.RequestSubject(">"), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, wk, "Subscription to \""+bus.RequestSubject(">")+"\"")

	// A gateway's credentials: the same message runs, with the provider's key.
	ok := injection(t, "published-with-gateway-credentials")
	answers, err := gw.SubscribeSync(bus.ReplySubject("intruder", "published-with-gateway-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.PublishMsg(ok); err != nil {
		t.Fatal(err)
	}
	if _, err := answers.NextMsg(20 * time.Second); err != nil {
		t.Fatalf("no answer to the request published with a gateway's credentials: %v", err)
	}
	if fake.Calls() <= callsBefore {
		t.Errorf("upstream calls %d, want more than %d", fake.Calls(), callsBefore)
	}

	if nc, err := nats.Connect(n.URL); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("a client without credentials: %v, want an authorization violation", err)
	}
	for _, p := range []*harness.Proc{worker, gateway, aggregator} {
		if out := p.Output(); strings.Contains(strings.ToLower(out), "violation") {
			t.Errorf("%s reports a permission violation:\n%s", p.Name, violations(out))
		}
	}
}

// The all-in-one with NATS_LISTEN requires credentials on its listener: a client without them
// is refused and one with the worker's cannot publish a request. Its gateway and aggregator,
// connected in process as its internal user, answer requests through a worker of its own
// process that joined the listener with the worker's credentials.
func TestAllInOneListenerRequiresCredentials(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Echo: true}))
	t.Cleanup(fake.Close)
	natsPort, httpPort := harness.FreePort(t), harness.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", natsPort)
	url := "nats://" + listen
	const workerPassword = "worker-pw-for-the-test"
	lynkr := harness.Start(t, "lynkr", bin.Lynkr, map[string]string{
		"MODEL_PROVIDER":        "openai",
		"HOST":                  "127.0.0.1",
		"PORT":                  strconv.Itoa(httpPort),
		"LYNKR_DATA_DIR":        t.TempDir(),
		"LOG_LEVEL":             "warn",
		"NATS_LISTEN":           listen,
		"NATS_WORKER_PASSWORD":  workerPassword,
		"NATS_GATEWAY_PASSWORD": "gateway-pw-for-the-test",
	}, "-target", "gateway,aggregator")
	worker := harness.Start(t, "worker", bin.Worker, workerEnv(url, fake.URL(), map[string]string{
		"WORKER_ID":     "joining-worker",
		"NATS_USER":     "worker",
		"NATS_PASSWORD": workerPassword,
	}))
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitReady(t, base) // the gateway knows the worker's provider

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for k := range kinds {
		prompt := fmt.Sprintf("through the listener %d", k)
		if text, err := send(ctx, &http.Client{}, base, k, prompt); err != nil || !strings.Contains(text, prompt) {
			t.Fatalf("request kind %d: %q, %v", k, text, err)
		}
	}
	for _, p := range []*harness.Proc{lynkr, worker} {
		if out := p.Output(); strings.Contains(strings.ToLower(out), "violation") {
			t.Errorf("%s reports a permission violation:\n%s", p.Name, violations(out))
		}
	}

	if nc, err := nats.Connect(url); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("a client without credentials: %v, want an authorization violation", err)
	}
	if nc, err := nats.Connect(url, nats.UserInfo("aggregator", "")); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("the aggregator, which has no password here: %v, want an authorization violation", err)
	}
	wk, err := nats.Connect(url, nats.UserInfo("worker", workerPassword), nats.CustomInboxPrefix(bus.InboxPrefix(bus.RoleWorker)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	if err := wk.PublishMsg(injection(t, "injected")); err != nil {
		t.Fatal(err)
	}
	bustest.WaitViolation(t, wk, "Publish to \""+bus.RequestSubject("openai")+"\"")
}

// connect opens a plain NATS client with role's credentials of n.
func connect(t *testing.T, n *harness.SecureNATS, role bus.Role) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.URL, nats.UserInfo(string(role), n.Passwords[role]), nats.CustomInboxPrefix(bus.InboxPrefix(role)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // read from LastError
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// injection is a request for provider openai as a gateway would publish it, answered to a
// reply subject of its own, bus.ReplySubject("intruder", id): what a client with bus access
// would put on the bus to have a worker run it with the provider's key.
func injection(t *testing.T, id string) *nats.Msg {
	t.Helper()
	reply := bus.ReplySubject("intruder", id)
	data, err := proto.Marshal(&busv1.Request{
		Id:               id,
		ReplySubject:     reply,
		Operation:        busv1.Operation_OPERATION_CHAT_COMPLETIONS,
		Provider:         "openai",
		Model:            "gpt-4o",
		DeadlineUnixNano: time.Now().Add(time.Minute).UnixNano(),
		AcceptedUnixNano: time.Now().UnixNano(),
		Body:             []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"` + id + `"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &nats.Msg{Subject: bus.RequestSubject("openai"), Data: data,
		Header: nats.Header{nats.MsgIdHdr: []string{id}}}
}

// violations are the lines of out that report one.
func violations(out string) string {
	var lines []string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(strings.ToLower(line), "violation") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}
