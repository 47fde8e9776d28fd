package limiter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the limiter the gateways share through Redis. Each Acquire is one script call;
// Release is one ZREM; a background loop renews the held leases in one call every
// LeaseTTL/3.
type Redis struct {
	client  redis.UniversalClient
	owns    bool // close the client on Close
	cfg     Config
	log     *slog.Logger
	acquire *redis.Script
	renew   *redis.Script
	keys    []string // in-flight sorted set, rate TAT
	id      string   // this limiter's lease id prefix
	seq     atomic.Uint64

	ttl      string // lease TTL, µs
	interval string // µs per request, "0" = no rate
	burst    string

	mu   sync.Mutex
	held map[string]struct{} // lease ids to renew

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	healthy   atomic.Bool // Redis answered the last call; for logging the transitions
	// While Redis is unreachable, Acquire decides without it until downUntil (unix ns), so
	// an outage costs each request nothing rather than a Timeout; the first Acquire after
	// downUntil probes Redis again. 0 when Redis answers.
	downUntil atomic.Int64
	lastErr   atomic.Pointer[error]

	admitted, limited, failedOpen, failedClosed, leasesLost atomic.Uint64
}

// NewRedis returns a limiter sharing its limits through client (a *redis.Client, or a
// cluster client: both keys carry one hash tag). The caller keeps the client and closes it
// after Close.
func NewRedis(client redis.UniversalClient, cfg Config) (*Redis, error) {
	return newRedis(client, cfg, false)
}

func newRedis(client redis.UniversalClient, cfg Config, owns bool) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	tag := "{" + cfg.KeyPrefix + "}"
	r := &Redis{
		client:   client,
		owns:     owns,
		cfg:      cfg,
		log:      cfg.logger(),
		acquire:  redis.NewScript(acquireLua),
		renew:    redis.NewScript(renewLua),
		keys:     []string{tag + ":inflight", tag + ":rate"},
		id:       hex.EncodeToString(b[:]),
		ttl:      strconv.FormatInt(cfg.LeaseTTL.Microseconds(), 10),
		interval: "0",
		burst:    strconv.FormatInt(cfg.burst(), 10),
		held:     make(map[string]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if cfg.Rate > 0 {
		r.interval = strconv.FormatInt(max(1, cfg.interval().Microseconds()), 10)
	}
	r.healthy.Store(true)
	if cfg.MaxInFlight > 0 {
		go r.renewLoop()
	} else {
		close(r.done)
	}
	return r, nil
}

// Acquire takes a slot and a unit of rate in one script call, or returns a *LimitedError.
// When Redis does not answer within Timeout, it admits (FailOpen) or refuses with an error
// wrapping ErrUnavailable.
func (r *Redis) Acquire(ctx context.Context) (Lease, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if r.cfg.MaxInFlight == 0 && r.cfg.Rate == 0 {
		r.admitted.Add(1)
		return noLease{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d := r.downUntil.Load(); d != 0 {
		if now := time.Now().UnixNano(); now < d || !r.downUntil.CompareAndSwap(d, now+int64(reprobe)) {
			return r.decideWithout(*r.lastErr.Load())
		}
		// This request probes Redis; the others keep deciding without it meanwhile.
	}
	var id string
	if r.cfg.MaxInFlight > 0 {
		id = r.id + ":" + strconv.FormatUint(r.seq.Add(1), 10)
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	res, err := r.acquire.Run(cctx, r.client, r.keys,
		r.cfg.MaxInFlight, id, r.ttl, r.interval, r.burst, "").Slice()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the caller gave up; a lease the script may have added expires
		}
		return r.unavailable(err)
	}
	r.available()
	ok, reason, n, err := parseAcquire(res)
	if err != nil {
		return r.unavailable(err)
	}
	if !ok {
		r.limited.Add(1)
		if reason == ReasonRate {
			return nil, &LimitedError{
				RetryAfter: time.Duration(n) * time.Microsecond,
				Reason:     ReasonRate,
				Limit:      fmt.Sprintf("cluster rate of %g requests per second, burst %d, reached (LIMITER_RATE)", r.cfg.Rate, r.cfg.burst()),
			}
		}
		return nil, &LimitedError{
			RetryAfter: r.cfg.RetryAfter,
			Reason:     ReasonInFlight,
			Limit:      fmt.Sprintf("%d of %d cluster in-flight slots taken (LIMITER_MAX_IN_FLIGHT)", n, r.cfg.MaxInFlight),
		}
	}
	r.admitted.Add(1)
	if id == "" {
		return noLease{}, nil
	}
	r.mu.Lock()
	r.held[id] = struct{}{}
	r.mu.Unlock()
	return &redisLease{r: r, id: id}, nil
}

func parseAcquire(res []any) (ok bool, reason string, n int64, err error) {
	if len(res) == 3 {
		code, ok1 := res[0].(int64)
		reason, ok2 := res[1].(string)
		n, ok3 := res[2].(int64)
		if ok1 && ok2 && ok3 {
			return code == 1, reason, n, nil
		}
	}
	return false, "", 0, fmt.Errorf("acquire script returned %v", res)
}

// reprobe is how long Acquire decides without Redis after a failed call before trying it
// again.
const reprobe = time.Second

// unavailable marks Redis down after a failed call and decides the request without it.
func (r *Redis) unavailable(err error) (Lease, error) {
	r.down(err)
	return r.decideWithout(err)
}

// decideWithout decides a request Redis cannot: admit it (fail open) or refuse it.
func (r *Redis) decideWithout(err error) (Lease, error) {
	admit := r.cfg.FailOpen
	if r.cfg.OnRedisError != nil {
		r.cfg.OnRedisError(err, admit)
	}
	if admit {
		r.failedOpen.Add(1)
		return noLease{}, nil
	}
	r.failedClosed.Add(1)
	return nil, &LimitedError{
		RetryAfter: r.cfg.RetryAfter,
		Reason:     ReasonUnavailable,
		Limit:      "the cluster limit cannot be checked, refusing requests (LIMITER_FAIL_OPEN=false)",
		Err:        fmt.Errorf("%w: %w", ErrUnavailable, err),
	}
}

func (r *Redis) down(err error) {
	r.lastErr.Store(&err)
	r.downUntil.Store(time.Now().Add(reprobe).UnixNano())
	if r.healthy.CompareAndSwap(true, false) {
		if r.cfg.FailOpen {
			r.log.Warn("limiter: Redis unreachable; admitting requests without the cluster limit (LIMITER_FAIL_OPEN=true)", "err", err)
		} else {
			r.log.Error("limiter: Redis unreachable; refusing requests (LIMITER_FAIL_OPEN=false)", "err", err)
		}
	}
}

func (r *Redis) available() {
	if r.downUntil.Load() != 0 {
		r.downUntil.Store(0)
	}
	if r.healthy.CompareAndSwap(false, true) {
		r.log.Info("limiter: Redis reachable again; the cluster limit applies")
	}
}

type redisLease struct {
	r        *Redis
	id       string
	released atomic.Bool
}

// Release removes the lease from Redis (one ZREM, bounded by Timeout). If Redis does not
// answer, the lease expires within LeaseTTL, as nobody renews it any more.
func (x *redisLease) Release() {
	if x.released.Load() || !x.released.CompareAndSwap(false, true) {
		return
	}
	r := x.r
	r.mu.Lock()
	delete(r.held, x.id)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if err := r.client.ZRem(ctx, r.keys[0], x.id).Err(); err != nil {
		r.log.Debug("limiter: release failed; the lease will expire", "lease", x.id, "err", err)
	}
}

// renewBatch bounds the lease ids sent in one renewal call.
const renewBatch = 1000

func (r *Redis) renewLoop() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.renewHeld()
		}
	}
}

// renewHeld renews every held lease, in batches of renewBatch ids per script call, and
// forgets the ones Redis reports lost.
func (r *Redis) renewHeld() {
	r.mu.Lock()
	ids := make([]any, 0, len(r.held))
	for id := range r.held {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for len(ids) > 0 {
		batch := ids[:min(len(ids), renewBatch)]
		ids = ids[len(batch):]
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.LeaseTTL/3)
		lost, err := r.renew.Run(ctx, r.client, r.keys[:1], append([]any{r.ttl, ""}, batch...)...).StringSlice()
		cancel()
		if err != nil {
			r.down(fmt.Errorf("renewing %d leases: %w", len(batch), err))
			continue
		}
		r.available()
		if len(lost) > 0 {
			r.mu.Lock()
			for _, id := range lost {
				delete(r.held, id)
			}
			r.mu.Unlock()
			r.leasesLost.Add(uint64(len(lost)))
			r.log.Warn("limiter: leases expired before renewal; their requests run outside the cluster limit", "lost", len(lost), "lease_ttl", r.cfg.LeaseTTL)
		}
	}
}

// Client is the limiter's Redis client (see RedisUser).
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Ping asks Redis whether it answers, for readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Stats counts the decisions so far.
func (r *Redis) Stats() Stats {
	r.mu.Lock()
	held := len(r.held)
	r.mu.Unlock()
	return Stats{
		Admitted:     r.admitted.Load(),
		Limited:      r.limited.Load(),
		FailedOpen:   r.failedOpen.Load(),
		FailedClosed: r.failedClosed.Load(),
		LeasesLost:   r.leasesLost.Load(),
		Held:         int64(held),
	}
}

// Close stops the renewals, gives back the leases still held in one call, and closes the
// client if New made it. Later Acquires fail with ErrClosed; Release stays safe to call.
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		<-r.done
		r.mu.Lock()
		ids := make([]string, 0, len(r.held))
		for id := range r.held {
			ids = append(ids, id)
		}
		clear(r.held)
		r.mu.Unlock()
		for len(ids) > 0 {
			batch := ids[:min(len(ids), renewBatch)]
			ids = ids[len(batch):]
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
			if e := r.client.ZRem(ctx, r.keys[0], batch).Err(); e != nil {
				r.log.Debug("limiter: giving back leases at close failed; they will expire", "leases", len(batch), "err", e)
			}
			cancel()
		}
		if r.owns {
			if e := r.client.Close(); e != nil && !errors.Is(e, redis.ErrClosed) {
				err = fmt.Errorf("limiter: closing the Redis client: %w", e)
			}
		}
	})
	return err
}
