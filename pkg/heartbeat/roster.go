package heartbeat

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// Instance is what a Roster knows of one instance.
type Instance struct {
	// Heartbeat is the instance's latest heartbeat; do not modify it.
	Heartbeat *busv1.Heartbeat
	// SeenAt is when the roster received it, on the roster's clock.
	SeenAt time.Time
	// Rates per second, from the cumulative counters of the last two heartbeats; zero until
	// the second one.
	RequestRate     float64
	ErrorRate       float64
	InputTokenRate  float64
	OutputTokenRate float64
}

// Roster keeps the latest heartbeat of every instance that is alive. It is safe for
// concurrent use; Run fills it.
type Roster struct {
	ttl   time.Duration
	now   func() time.Time
	ready chan struct{}

	mu        sync.Mutex
	instances map[key]Instance
}

// subscribeTimeout bounds one wait for the server to confirm the subscription.
const subscribeTimeout = 5 * time.Second

type key struct{ service, instance string }

// NewRoster returns an empty roster that forgets an instance ttl after its last heartbeat.
// now is the clock of SeenAt and of the TTL (nil: time.Now).
func NewRoster(ttl time.Duration, now func() time.Time) *Roster {
	if now == nil {
		now = time.Now
	}
	return &Roster{ttl: ttl, now: now, ready: make(chan struct{}), instances: map[key]Instance{}}
}

// Ready is closed once Run has subscribed and the server has confirmed it (or a few
// seconds passed without an answer, while NATS is away).
func (r *Roster) Ready() <-chan struct{} { return r.ready }

// Run receives every heartbeat (HeartbeatWildcard) until ctx ends.
func (r *Roster) Run(ctx context.Context, nc *nats.Conn) error {
	if r.ttl <= 0 {
		return fmt.Errorf("heartbeat roster: TTL %s: want a positive duration", r.ttl)
	}
	sub, err := nc.Subscribe(bus.HeartbeatWildcard, func(m *nats.Msg) {
		hb := &busv1.Heartbeat{}
		if proto.Unmarshal(m.Data, hb) != nil || !bus.ValidToken(hb.GetService()) || !bus.ValidToken(hb.GetInstance()) {
			return // not a heartbeat we can place: ignore it
		}
		r.Observe(hb)
	})
	if err != nil {
		return fmt.Errorf("heartbeat roster: subscribe to %s: %w", bus.HeartbeatWildcard, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Wait for the server to confirm the subscription; while NATS is away the subscription
	// takes effect when the connection is back, and the roster is as ready as it can be.
	fctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	_ = nc.FlushWithContext(fctx)
	cancel()
	close(r.ready)
	t := time.NewTicker(max(r.ttl/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.mu.Lock()
			r.expire(r.now())
			r.mu.Unlock()
		}
	}
}

// Observe takes one heartbeat, as Run does for each it receives. The roster keeps hb: the
// caller must not modify it afterwards.
func (r *Roster) Observe(hb *busv1.Heartbeat) {
	k := key{hb.GetService(), hb.GetInstance()}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if hb.GetLeaving() {
		delete(r.instances, k)
		return
	}
	next := Instance{Heartbeat: hb, SeenAt: now}
	if prev, ok := r.instances[k]; ok && now.Sub(prev.SeenAt) <= r.ttl {
		next.rates(prev)
	}
	r.instances[k] = next
}

// rates sets i's rates from the counters of the heartbeat before, prev.
func (i *Instance) rates(prev Instance) {
	cur, old := i.Heartbeat, prev.Heartbeat
	restarted := cur.GetStartedUnixNano() != old.GetStartedUnixNano() ||
		cur.GetRequestsTotal() < old.GetRequestsTotal() ||
		cur.GetErrorsTotal() < old.GetErrorsTotal() ||
		cur.GetInputTokensTotal() < old.GetInputTokensTotal() ||
		cur.GetOutputTokensTotal() < old.GetOutputTokensTotal()
	from := old.GetSentUnixNano()
	if restarted {
		// The counters started again from zero, at the restart if the heartbeat says when.
		old = &busv1.Heartbeat{}
		if s := cur.GetStartedUnixNano(); s > from {
			from = s
		}
	}
	// The sender's clock times both heartbeats, so transit delays do not skew the rates;
	// the roster's clock is the fallback for a sender that does not stamp them.
	secs := time.Duration(cur.GetSentUnixNano() - from).Seconds()
	if cur.GetSentUnixNano() == 0 || from == 0 || secs <= 0 {
		secs = i.SeenAt.Sub(prev.SeenAt).Seconds()
	}
	if secs <= 0 {
		i.RequestRate, i.ErrorRate = prev.RequestRate, prev.ErrorRate
		i.InputTokenRate, i.OutputTokenRate = prev.InputTokenRate, prev.OutputTokenRate
		return
	}
	rate := func(now, before uint64) float64 { return float64(now-before) / secs }
	i.RequestRate = rate(cur.GetRequestsTotal(), old.GetRequestsTotal())
	i.ErrorRate = rate(cur.GetErrorsTotal(), old.GetErrorsTotal())
	i.InputTokenRate = rate(cur.GetInputTokensTotal(), old.GetInputTokensTotal())
	i.OutputTokenRate = rate(cur.GetOutputTokensTotal(), old.GetOutputTokensTotal())
}

// expire forgets the instances silent for longer than the TTL; r.mu is held.
func (r *Roster) expire(now time.Time) {
	for k, i := range r.instances {
		if now.Sub(i.SeenAt) > r.ttl {
			delete(r.instances, k)
		}
	}
}

// Instances returns the instances alive now, sorted by service, then instance.
func (r *Roster) Instances() []Instance {
	r.mu.Lock()
	r.expire(r.now())
	out := make([]Instance, 0, len(r.instances))
	for _, i := range r.instances {
		out = append(out, i)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(
			cmp.Compare(a.Heartbeat.GetService(), b.Heartbeat.GetService()),
			cmp.Compare(a.Heartbeat.GetInstance(), b.Heartbeat.GetInstance()),
		)
	})
	return out
}
