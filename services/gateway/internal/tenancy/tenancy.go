// Package tenancy is who a gateway request is from and what it may still spend: it checks the
// virtual API key, the rate limits and the budgets of the key and its team, customer and org
// before a request is queued, and charges the usage workers report on the bus afterwards.
// Keys, limits and spend live in Redis when the gateways share one, else in a local file.
package tenancy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.etcd.io/bbolt"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/ratelimit"
	"github.com/lynkr/lynkr/pkg/spend"
	"github.com/lynkr/lynkr/pkg/tenant"
	"github.com/lynkr/lynkr/proto/busv1"
)

// The headers a trusted front sets to say whom a request is for (Lynkr's names).
const (
	HeaderTeam     = "LYNKR-Team-Id"
	HeaderCustomer = "LYNKR-Customer-Id"
	HeaderOrg      = "LYNKR-Org-Id"
)

// Config sets keys, budgets and per-tenant rate limits.
type Config struct {
	// Auth requires a virtual API key on every /v1/ request (AUTH_ENABLED).
	Auth bool
	// AdminKey opens the admin API under /admin/ (ADMIN_API_KEY); empty serves none.
	AdminKey config.Secret
	// TrustHeaders takes the team, customer and org from the LYNKR-Team-Id,
	// LYNKR-Customer-Id and LYNKR-Org-Id headers where the key does not set them, for a front
	// that sets (and strips) them (TRUST_TENANT_HEADERS).
	TrustHeaders bool
	// StorePath is the file that keeps keys, limits and spend without REDIS_URL
	// (TENANT_STORE_PATH). One gateway only: several gateways share Redis.
	StorePath string
	// FailOpen decides requests while Redis is unreachable: keys seen valid before still work
	// and limits and budgets are not enforced; false refuses every request with a 503 until
	// Redis answers again (TENANT_FAIL_OPEN).
	FailOpen bool
	// Timeout bounds each call to the store (TENANT_TIMEOUT, ms).
	Timeout time.Duration
	// PricesFile is a JSON price table merged over the defaults (PRICE_TABLE_FILE).
	PricesFile string
	// OutputTokens is the output a budget holds for a request that sets no max_tokens (nor
	// max_completion_tokens, max_output_tokens) while it runs (BUDGET_OUTPUT_TOKENS).
	OutputTokens int64
	// KeyMaxConcurrent is the most requests of one key under way at once in this gateway,
	// for a key whose policy sets no max_concurrent (KEY_MAX_CONCURRENT; 0 sets none).
	KeyMaxConcurrent int64
}

// Enabled reports whether anything needs the tenant store.
func (c Config) Enabled() bool { return c.Auth || c.TrustHeaders || !c.AdminKey.IsZero() }

// Deps are what tenancy is given.
type Deps struct {
	// Redis is the Redis the gateways share; nil keeps everything in the file at StorePath.
	Redis   redis.UniversalClient
	Logger  *slog.Logger
	Metrics *metrics.Gateway
}

// Tenancy checks and charges requests for their tenant.
type Tenancy struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Gateway
	store   tenant.Store
	ledger  spend.Ledger
	limits  ratelimit.Limiter
	prices  spend.Prices
	db      *bbolt.DB // the local store's file, nil with Redis
	known   *knownKeys
	running *running

	now      func() time.Time // the clock budgets' days and months are read from
	lastLog  atomic.Int64     // when a store failure was last logged, in Unix nanoseconds
	unlogged atomic.Int64     // store failures since
}

// New opens the tenant store: Redis when deps.Redis is set, else the file at StorePath.
func New(cfg Config, deps Deps) (*Tenancy, error) {
	prices := spend.DefaultPrices()
	if cfg.PricesFile != "" {
		var err error
		if prices, err = spend.LoadPrices(cfg.PricesFile); err != nil {
			return nil, fmt.Errorf("PRICE_TABLE_FILE: %w", err)
		}
	}
	t := &Tenancy{cfg: cfg, log: deps.Logger, metrics: deps.Metrics, prices: prices, known: newKnownKeys(10_000), running: newRunning(), now: time.Now}
	if deps.Redis != nil {
		t.store = tenant.NewRedis(deps.Redis, tenant.DefaultRedisPrefix)
		t.ledger = spend.NewRedis(deps.Redis, spend.DefaultRedisPrefix)
		t.limits = ratelimit.NewRedis(deps.Redis, ratelimit.DefaultRedisPrefix)
		return t, nil
	}
	if cfg.StorePath == "" {
		return nil, errors.New("TENANT_STORE_PATH: keys, limits and spend need REDIS_URL or a file to keep them in")
	}
	db, err := tenant.OpenBolt(cfg.StorePath)
	if err != nil {
		return nil, fmt.Errorf("TENANT_STORE_PATH: %w", err)
	}
	t.db = db
	if t.store, err = tenant.NewBolt(db); err == nil {
		t.ledger, err = spend.NewBolt(db)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("TENANT_STORE_PATH: %w", err)
	}
	t.limits = ratelimit.NewLocal()
	return t, nil
}

// Close closes the local store; a shared Redis client is its owner's to close.
func (t *Tenancy) Close() error {
	if t.db != nil {
		return t.db.Close()
	}
	return nil
}

// Store is where keys and policies are kept, for the admin API.
func (t *Tenancy) Store() tenant.Store { return t.store }

// Identity is whom a request is from.
type Identity struct {
	// Key is the virtual key the request came with; nil without authentication.
	Key *tenant.Key
	// Team, Customer and Org are the key's, or the trusted headers' where the key sets none.
	Team, Customer, Org string
}

// Scopes are the scopes the request counts against, narrowest first.
func (id Identity) Scopes() []tenant.Scope {
	s := make([]tenant.Scope, 0, 4)
	if id.Key != nil {
		s = append(s, tenant.Scope{Kind: tenant.KindKey, Name: id.Key.ID})
	}
	for _, g := range []tenant.Scope{{Kind: tenant.KindTeam, Name: id.Team}, {Kind: tenant.KindCustomer, Name: id.Customer}, {Kind: tenant.KindOrg, Name: id.Org}} {
		if g.Name != "" {
			s = append(s, g)
		}
	}
	return s
}

// Proto is the identity as it travels on the bus; nil when there is nobody to charge.
func (id Identity) Proto() *busv1.Tenant {
	if id.Key == nil && id.Team == "" && id.Customer == "" && id.Org == "" {
		return nil
	}
	p := &busv1.Tenant{Team: id.Team, Customer: id.Customer, Org: id.Org}
	if id.Key != nil {
		p.KeyId = id.Key.ID
	}
	return p
}

// CachePartition is who may share cached answers with this request: the same team, customer
// and org (every key of a team shares them), a key of none of them only with itself; empty,
// for everyone, when nobody is identified. One tenant never learns from a cache hit what
// another asked.
func (id Identity) CachePartition() string {
	switch {
	case id.Team != "" || id.Customer != "" || id.Org != "":
		return "group\x00" + id.Org + "\x00" + id.Customer + "\x00" + id.Team
	case id.Key != nil:
		return "key\x00" + id.Key.ID
	}
	return ""
}

// NoCache reports whether the request's key opted out of the response cache.
func (id Identity) NoCache() bool { return id.Key != nil && id.Key.NoCache }

// Secret is the API key a request carries: x-api-key (Anthropic's clients) or an
// Authorization bearer token (OpenAI's).
func Secret(h http.Header) string {
	if k := h.Get("X-Api-Key"); k != "" {
		return k
	}
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// IsAdmin reports whether h carries the admin key. It compares digests, in constant time, so
// the time it takes tells nothing of the key, not even its length.
func (t *Tenancy) IsAdmin(h http.Header) bool {
	admin := t.cfg.AdminKey.Reveal()
	s := Secret(h)
	if admin == "" || s == "" {
		return false
	}
	want, got := sha256.Sum256([]byte(admin)), sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// Identify finds whom a request is from. With authentication on, a missing, unknown or
// revoked key is a 401; an unreachable store is a 503 unless the key was seen valid before
// and the store fails open.
func (t *Tenancy) Identify(ctx context.Context, h http.Header) (Identity, error) {
	var id Identity
	if t.cfg.Auth {
		k, err := t.authenticate(ctx, Secret(h))
		if err != nil {
			return Identity{}, err
		}
		id = Identity{Key: &k, Team: k.Team, Customer: k.Customer, Org: k.Org}
	}
	if t.cfg.TrustHeaders {
		var problems []string
		fill := func(v *string, name string) {
			if *v != "" {
				return
			}
			if *v = h.Get(name); *v != "" {
				if p := tenant.CheckName(*v); p != "" {
					problems = append(problems, name+": "+p)
				}
			}
		}
		fill(&id.Team, HeaderTeam)
		fill(&id.Customer, HeaderCustomer)
		fill(&id.Org, HeaderOrg)
		if len(problems) > 0 {
			return Identity{}, apierror.Invalid(problems)
		}
	}
	return id, nil
}

func (t *Tenancy) authenticate(ctx context.Context, secret string) (tenant.Key, error) {
	if secret == "" {
		t.refused("auth")
		return tenant.Key{}, apierror.New(http.StatusUnauthorized, "missing API key: send a lynkr key as x-api-key or Authorization: Bearer")
	}
	hash := tenant.HashSecret(secret)
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	k, err := t.store.KeyByHash(ctx, hash)
	switch {
	case errors.Is(err, tenant.ErrNotFound):
		t.known.forget(hash)
		t.refused("auth")
		return tenant.Key{}, apierror.New(http.StatusUnauthorized, "invalid API key")
	case err != nil:
		if !t.cfg.FailOpen {
			return tenant.Key{}, t.decideWithout(err)
		}
		if k, ok := t.known.get(hash); ok {
			t.storeFailed(err, true)
			return k, nil
		}
		t.storeFailed(err, false)
		return tenant.Key{}, t.unavailable("this key has not been seen valid since the store failed, so it cannot be checked")
	case k.Revoked():
		t.known.forget(hash)
		t.refused("auth")
		return tenant.Key{}, apierror.New(http.StatusUnauthorized, "API key %s was revoked", k.ID)
	}
	t.known.put(hash, k)
	return k, nil
}

// Request is what admission knows of a request before it runs.
type Request struct {
	// ID is the request's id on the bus: its usage is charged under it, which ends its hold.
	ID    string
	Model string
	// InputTokens is the request's input, estimated on the high side; OutputTokens the most
	// output it may ask for (its max_tokens, or Config.OutputTokens where it sets none).
	InputTokens, OutputTokens int64
	// Deadline is when the request ends at the latest; its hold lapses settleGrace after.
	Deadline time.Time
}

// settleGrace is how long the hold of a request that ended waits for its usage, which the
// worker reports a flush interval later and a gateway's charger then counts, ending the
// hold. A hold whose usage never comes (the worker died, the answer failed without using
// tokens) lapses then; a gateway that died leaves its holds to lapse settleGrace past their
// deadline.
const settleGrace = 10 * time.Second

// heldRetry is the Retry-After of a request refused only for what requests under way hold:
// they end, and give back what they did not use, within seconds.
const heldRetry = 2 * time.Second

// Admission is what an admitted request takes until Done: its place under the concurrency
// caps of its scopes in this gateway, and its hold on their budgets.
type Admission struct {
	// Rate is the tightest per-tenant rate limit's decision, for the RateLimit headers.
	Rate ratelimit.Decision

	id      string         // the request's id, its hold's name
	held    []tenant.Scope // the scopes the request holds budget of; nil when none
	running []tenant.Scope // the scopes whose concurrency cap it counts under
}

// Admit checks the identity's concurrency caps, budgets and rate limits for req. Admitted, the
// request holds what it may use against its scopes' budgets (see spend.Reservation) and
// counts against their caps until Done, which the caller must call once. A refusal is a 429
// naming the cap, budget or limit; the Admission then holds nothing but the decision of a
// refusing rate limit, for the response's RateLimit headers.
func (t *Tenancy) Admit(ctx context.Context, id Identity, req Request) (Admission, error) {
	return t.admit(ctx, id, req, true)
}

// AdmitCount admits a count_tokens request: under the concurrency caps and request rate limits
// of the identity's scopes, which a client counting in a loop must not pass, and under no
// budget or token limit, since counting spends no tokens. The caller must call Done once.
func (t *Tenancy) AdmitCount(ctx context.Context, id Identity, requestID string) (Admission, error) {
	return t.admit(ctx, id, Request{ID: requestID}, false)
}

// Done ends what an admitted request took: its places under the concurrency caps at once,
// and its hold on the budgets — at once when ran is false, meaning the request reached no
// upstream or used nothing there (refused, never queued, answered from the cache, failed
// before any answer); else settleGrace later, unless the charge of its usage ends the hold
// first. usage, when the answer reported it, is what the charge will count: the hold shrinks
// to it at once, so that a client's next request finds the rest free. A hold the store cannot
// release now lapses by itself. Done of a zero or ended Admission does nothing.
func (t *Tenancy) Done(a *Admission, ran bool, usage *busv1.Usage) {
	t.running.leave(a.running)
	if len(a.held) > 0 {
		var l spend.Lapse
		if ran {
			l.After = settleGrace
			if usage != nil {
				used := t.used(usage)
				l.Used = &used
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
		err := t.ledger.Release(ctx, a.id, a.held, l)
		cancel()
		if err != nil {
			t.log.Warn("budget hold not released: it lapses by itself", "request_id", a.id, "error", err)
		}
	}
	*a = Admission{Rate: a.Rate}
}

func (t *Tenancy) admit(ctx context.Context, id Identity, req Request, budgeted bool) (Admission, error) {
	scopes := id.Scopes()
	a := Admission{Rate: ratelimit.Decision{Allowed: true}, id: req.ID}
	if len(scopes) == 0 {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	policies, err := t.store.Policies(ctx, scopes)
	if err != nil {
		if err := t.decideWithout(err); err != nil {
			return a, err
		}
		// Admitted without the store: only the caps that need none, a key's default.
		return a, t.enter(&a, scopes, make([]tenant.Policy, len(scopes)))
	}
	if err := t.enter(&a, scopes, policies); err != nil {
		return a, err
	}
	refuse := func(err error) (Admission, error) {
		t.Done(&a, false, nil)
		return a, err
	}
	// Budgets before rate limits: a request they refuse takes nothing from the rate limits,
	// which a key shares with its team.
	if budgeted && slices.ContainsFunc(policies, tenant.Policy.Budgeted) {
		if err := t.reserve(ctx, &a, scopes, policies, req); err != nil {
			return refuse(err)
		}
	}
	d, err := t.limits.Allow(ctx, scopes, policies, req.InputTokens)
	if err != nil {
		if err := t.decideWithout(err); err != nil {
			return refuse(err)
		}
		return a, nil
	}
	a.Rate = d
	if !d.Allowed {
		t.refused("rate_limit")
		return refuse(&apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.TypeRateLimit, RetryAfter: d.RetryAfter,
			Message: fmt.Sprintf("%s %q is over its rate limit of %d %s per minute; retry after %s",
				d.Scope.Kind, d.Scope.Name, d.Limit, d.Unit, d.RetryAfter.Round(time.Second))})
	}
	return a, nil
}

// reserve holds the request's estimate against its scopes' budgets: its input at the least,
// and its input and all the output it may ask for at the most, priced at the dearer of input
// and cache writes so that a prompt written to the cache is not priced under its cost.
func (t *Tenancy) reserve(ctx context.Context, a *Admission, scopes []tenant.Scope, policies []tenant.Policy, req Request) error {
	now := t.now()
	least, _ := t.prices.Cost(req.Model, llm.Usage{InputTokens: req.InputTokens})
	most, _ := t.prices.Cost(req.Model, llm.Usage{InputTokens: req.InputTokens, OutputTokens: req.OutputTokens})
	written, _ := t.prices.Cost(req.Model, llm.Usage{CacheCreateTokens: req.InputTokens, OutputTokens: req.OutputTokens})
	r := spend.Reservation{
		RequestID: req.ID,
		Scopes:    scopes,
		Policies:  policies,
		Least:     spend.Estimate{Tokens: req.InputTokens, Cost: least},
		Most:      spend.Estimate{Tokens: req.InputTokens + req.OutputTokens, Cost: max(most, written, least)},
		TTL:       max(req.Deadline.Sub(now), 0) + settleGrace,
	}
	err := t.ledger.Reserve(ctx, r, now)
	var ob *spend.OverBudgetError
	switch {
	case err == nil:
		a.held = scopes
		return nil
	case !errors.As(err, &ob):
		// Failing open, the request runs without a hold: a budget is checked against nothing
		// while the store is down.
		return t.decideWithout(err)
	}
	t.refused("budget")
	retry := ob.ResetAt.Sub(now)
	if ob.Transient() {
		retry = heldRetry
	}
	return &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.TypeRateLimit, Message: ob.Error(), RetryAfter: retry}
}

// enter counts the request under the concurrency caps of its scopes, or refuses it with a
// 429 naming the first cap it would pass.
func (t *Tenancy) enter(a *Admission, scopes []tenant.Scope, policies []tenant.Policy) error {
	caps := make([]int64, len(scopes))
	for i, p := range policies {
		caps[i] = p.MaxConcurrent
		if caps[i] == 0 && scopes[i].Kind == tenant.KindKey {
			caps[i] = t.cfg.KeyMaxConcurrent
		}
	}
	entered, full := t.running.enter(scopes, caps)
	if full < 0 {
		a.running = entered
		return nil
	}
	t.refused("concurrency")
	s := scopes[full]
	setting := "max_concurrent"
	if policies[full].MaxConcurrent == 0 {
		setting = "KEY_MAX_CONCURRENT"
	}
	return &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.TypeRateLimit, RetryAfter: time.Second,
		Message: fmt.Sprintf("%s %q has %d requests under way on this gateway, the most it may have at once (%s); retry when one ends",
			s.Kind, s.Name, caps[full], setting)}
}

// Spent is what each scope spent today and this month, with its policy.
func (t *Tenancy) Spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]spend.Spend, []tenant.Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	spent, err := t.ledger.Spent(ctx, scopes, at)
	if err != nil {
		return nil, nil, err
	}
	policies, err := t.store.Policies(ctx, scopes)
	if err != nil {
		return nil, nil, err
	}
	return spent, policies, nil
}

// decideWithout decides a request the store could not: admitted when failing open, else a 503.
func (t *Tenancy) decideWithout(err error) error {
	t.storeFailed(err, t.cfg.FailOpen)
	if t.cfg.FailOpen {
		return nil
	}
	return t.unavailable("keys, limits and budgets cannot be checked (TENANT_FAIL_OPEN=false)")
}

// unavailable is the 503 of a request the store's failure leaves undecided, why saying why.
func (t *Tenancy) unavailable(why string) error {
	t.refused("store_unavailable")
	e := apierror.New(http.StatusServiceUnavailable, "the tenant store is unavailable: %s; retry later", why)
	e.Type = apierror.TypeOverloaded
	e.RetryAfter = time.Second
	return e
}

func (t *Tenancy) refused(reason string) {
	if t.metrics != nil {
		t.metrics.TenantRefused.WithLabelValues(reason).Inc()
	}
}

// storeFailed counts a request decided without the store, and logs it — once every
// storeLogEvery at most, with how many went unlogged, so an outage does not flood the log.
func (t *Tenancy) storeFailed(err error, admitted bool) {
	if t.metrics != nil {
		t.metrics.TenantStoreErrors.WithLabelValues(strconv.FormatBool(admitted)).Inc()
	}
	n := t.unlogged.Add(1)
	now := time.Now().UnixNano()
	if last := t.lastLog.Load(); now-last < int64(storeLogEvery) || !t.lastLog.CompareAndSwap(last, now) {
		return
	}
	t.unlogged.Add(-n)
	t.log.Warn("tenant store failed: deciding without it", "error", err, "admitted", admitted, "requests", n)
}

// storeLogEvery is how often a failing store is logged.
const storeLogEvery = 10 * time.Second

// knownKeys remembers the keys seen valid, so that a store outage does not lock out the
// keys in use when the store fails open. A key the store says is revoked or gone is dropped.
type knownKeys struct {
	mu   sync.Mutex
	max  int
	keys map[string]tenant.Key
}

func newKnownKeys(max int) *knownKeys { return &knownKeys{max: max, keys: map[string]tenant.Key{}} }

func (k *knownKeys) get(hash string) (tenant.Key, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[hash]
	return key, ok
}

func (k *knownKeys) put(hash string, key tenant.Key) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[hash]; !ok && len(k.keys) >= k.max {
		for h := range k.keys { // full: forget any one
			delete(k.keys, h)
			break
		}
	}
	k.keys[hash] = key
}

func (k *knownKeys) forget(hash string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, hash)
}
