package heartbeat_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/heartbeat"
	"github.com/lynkr/lynkr/proto/busv1"
)

// connect starts an embedded NATS server for the test and opens n connections to it, as n
// processes would.
func connect(tb testing.TB, n int) []*nats.Conn {
	tb.Helper()
	s := bustest.Server(tb)
	conns := make([]*nats.Conn, n)
	for i := range conns {
		conns[i] = bustest.Conn(tb, s, "heartbeat-test")
	}
	return conns
}

// start runs part until the test ends or stop is called, and returns what it returned.
func start(tb testing.TB, part func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- part(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

func roster(tb testing.TB, nc *nats.Conn, ttl time.Duration) *heartbeat.Roster {
	tb.Helper()
	r := heartbeat.NewRoster(ttl, nil)
	start(tb, func(ctx context.Context) error { return r.Run(ctx, nc) })
	select {
	case <-r.Ready():
	case <-time.After(5 * time.Second):
		tb.Fatal("roster did not subscribe")
	}
	return r
}

// eventually polls cond until it holds or 5 s pass.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func find(r *heartbeat.Roster, service, instance string) (heartbeat.Instance, bool) {
	for _, i := range r.Instances() {
		if i.Heartbeat.GetService() == service && i.Heartbeat.GetInstance() == instance {
			return i, true
		}
	}
	return heartbeat.Instance{}, false
}

// steady is an instance whose counters grow at fixed rates per second of real time.
func steady(service, instance string, reqs, errs, in, out float64) heartbeat.Source {
	began := time.Now()
	return func() *busv1.Heartbeat {
		s := time.Since(began).Seconds()
		return &busv1.Heartbeat{
			Service: service, Instance: instance, StartedUnixNano: began.UnixNano(), Ready: true,
			RequestsTotal: uint64(reqs * s), ErrorsTotal: uint64(errs * s),
			InputTokensTotal: uint64(in * s), OutputTokensTotal: uint64(out * s),
		}
	}
}

func near(got, want float64) bool { return math.Abs(got-want) <= 0.05*want+1e-9 }

func TestHeartbeatSubject(t *testing.T) {
	if got := bus.HeartbeatSubject("worker", "w-1"); got != "lynkr.heartbeat.worker.w-1" {
		t.Errorf("HeartbeatSubject = %q", got)
	}
	if bus.HeartbeatWildcard != "lynkr.heartbeat.>" {
		t.Errorf("HeartbeatWildcard = %q", bus.HeartbeatWildcard)
	}
}

func TestRunPublishesAtOnceThenEveryIntervalAndSaysGoodbye(t *testing.T) {
	conns := connect(t, 2)
	got := make(chan *busv1.Heartbeat, 100)
	sub, err := conns[1].Subscribe(bus.HeartbeatWildcard, func(m *nats.Msg) {
		hb := &busv1.Heartbeat{}
		if err := proto.Unmarshal(m.Data, hb); err != nil {
			t.Errorf("heartbeat on %s: %v", m.Subject, err)
			return
		}
		if m.Subject != "lynkr.heartbeat.gateway.g1" {
			t.Errorf("subject %q", m.Subject)
		}
		got <- hb
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := conns[1].Flush(); err != nil {
		t.Fatal(err)
	}

	src := &busv1.Heartbeat{Service: "gateway", Instance: "g1"}
	before := time.Now()
	stop := start(t, func(ctx context.Context) error {
		return heartbeat.Run(ctx, conns[0], 50*time.Millisecond, func() *busv1.Heartbeat { return src })
	})
	for n := range 3 {
		select {
		case hb := <-got:
			if hb.GetLeaving() {
				t.Fatalf("heartbeat %d says leaving", n)
			}
			if sent := time.Unix(0, hb.GetSentUnixNano()); sent.Before(before) || sent.After(time.Now()) {
				t.Errorf("heartbeat %d: sent_unix_nano %v not stamped now", n, sent)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("heartbeat %d did not come", n)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	for {
		select {
		case hb := <-got:
			if hb.GetLeaving() {
				if src.GetLeaving() || src.GetSentUnixNano() != 0 {
					t.Error("Run modified the source's heartbeat")
				}
				return
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no leaving heartbeat after the context ended")
		}
	}
}

func TestRunRefusesBadHeartbeats(t *testing.T) {
	conns := connect(t, 1)
	for name, hb := range map[string]*busv1.Heartbeat{
		"nil":             nil,
		"no service":      {Instance: "a"},
		"dotted instance": {Service: "worker", Instance: "a.b"},
		"wildcard":        {Service: "worker", Instance: "*"},
	} {
		err := heartbeat.Run(context.Background(), conns[0], time.Second, func() *busv1.Heartbeat { return hb })
		if err == nil {
			t.Errorf("%s: Run returned nil", name)
		}
	}
	if err := heartbeat.Run(context.Background(), conns[0], 0, nil); err == nil {
		t.Error("interval 0: Run returned nil")
	}
}

func TestRosterRatesLeavingAndTTL(t *testing.T) {
	conns := connect(t, 4)
	const ttl = 600 * time.Millisecond
	r := roster(t, conns[0], ttl)

	start(t, func(ctx context.Context) error {
		return heartbeat.Run(ctx, conns[1], 100*time.Millisecond, steady("worker", "w1", 200, 10, 5000, 800))
	})
	stopGateway := start(t, func(ctx context.Context) error {
		return heartbeat.Run(ctx, conns[2], 100*time.Millisecond, steady("gateway", "g1", 50, 0, 0, 0))
	})
	start(t, func(ctx context.Context) error {
		return heartbeat.Run(ctx, conns[3], 100*time.Millisecond, steady("worker", "w0", 1, 1, 1, 1))
	})

	eventually(t, "three instances with rates", func() bool {
		all := r.Instances()
		return len(all) == 3 && all[0].RequestRate > 0 && all[1].RequestRate > 0
	})
	var order []string
	for _, i := range r.Instances() {
		order = append(order, i.Heartbeat.GetService()+"/"+i.Heartbeat.GetInstance())
	}
	if want := "gateway/g1 worker/w0 worker/w1"; fmtList(order) != want {
		t.Errorf("order %s, want %s", fmtList(order), want)
	}
	w1, _ := find(r, "worker", "w1")
	if !near(w1.RequestRate, 200) || !near(w1.ErrorRate, 10) || !near(w1.InputTokenRate, 5000) || !near(w1.OutputTokenRate, 800) {
		t.Errorf("w1 rates %v/%v/%v/%v, want 200/10/5000/800", w1.RequestRate, w1.ErrorRate, w1.InputTokenRate, w1.OutputTokenRate)
	}

	// A graceful stop is seen at once, well before the TTL.
	if err := stopGateway(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	eventually(t, "gateway gone", func() bool { _, ok := find(r, "gateway", "g1"); return !ok })
	if took := time.Since(stopped); took > ttl/2 {
		t.Errorf("a leaving instance took %s to go", took)
	}

	// An instance that goes silent (its connection dies) is forgotten after the TTL.
	conns[3].Close()
	silent := time.Now()
	eventually(t, "silent worker gone", func() bool { _, ok := find(r, "worker", "w0"); return !ok })
	if took := time.Since(silent); took < ttl-150*time.Millisecond {
		t.Errorf("a silent instance went after %s, before the TTL %s", took, ttl)
	}
	if _, ok := find(r, "worker", "w1"); !ok {
		t.Error("the live worker was forgotten")
	}
}

func fmtList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestRosterRates(t *testing.T) {
	sec := int64(time.Second)
	clock := time.Unix(1000, 0)
	r := heartbeat.NewRoster(time.Minute, func() time.Time { return clock })
	hb := func(started, sent int64, reqs, errs uint64) *busv1.Heartbeat {
		return &busv1.Heartbeat{Service: "worker", Instance: "w", StartedUnixNano: started, SentUnixNano: sent, RequestsTotal: reqs, ErrorsTotal: errs, InputTokensTotal: reqs * 10, OutputTokensTotal: reqs}
	}
	steps := []struct {
		name      string
		hb        *busv1.Heartbeat
		advance   time.Duration
		reqs, err float64
	}{
		{"first heartbeat: no rate yet", hb(1, 10*sec, 100, 5), 0, 0, 0},
		{"2 s later, +40 requests", hb(1, 12*sec, 140, 9), 2 * time.Second, 20, 2},
		{"counter went down: restart, rate from zero", hb(1, 14*sec, 30, 0), 2 * time.Second, 15, 0},
		{"new start time: from the start", hb(15*sec, 16*sec, 10, 1), 2 * time.Second, 10, 1},
		{"no send stamps: the roster's clock", hb(15*sec, 0, 30, 1), 4 * time.Second, 5, 0},
	}
	for _, s := range steps {
		clock = clock.Add(s.advance)
		r.Observe(s.hb)
		all := r.Instances()
		if len(all) != 1 {
			t.Fatalf("%s: %d instances", s.name, len(all))
		}
		i := all[0]
		if i.RequestRate != s.reqs || i.ErrorRate != s.err || i.InputTokenRate != 10*s.reqs || i.OutputTokenRate != s.reqs {
			t.Errorf("%s: rates %v/%v/%v/%v, want %v/%v/%v/%v", s.name, i.RequestRate, i.ErrorRate, i.InputTokenRate, i.OutputTokenRate, s.reqs, s.err, 10*s.reqs, s.reqs)
		}
		if !i.SeenAt.Equal(clock) {
			t.Errorf("%s: SeenAt %v, want %v", s.name, i.SeenAt, clock)
		}
	}
	clock = clock.Add(time.Minute + time.Nanosecond)
	if n := len(r.Instances()); n != 0 {
		t.Errorf("after the TTL: %d instances", n)
	}
	// After being forgotten, an instance starts without rates again.
	r.Observe(hb(15*sec, 100*sec, 1000, 0))
	if i := r.Instances()[0]; i.RequestRate != 0 {
		t.Errorf("rate across a TTL gap: %v", i.RequestRate)
	}
	r.Observe(&busv1.Heartbeat{Service: "worker", Instance: "w", Leaving: true})
	if n := len(r.Instances()); n != 0 {
		t.Errorf("after leaving: %d instances", n)
	}
}
