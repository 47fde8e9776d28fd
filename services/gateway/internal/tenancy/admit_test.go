package tenancy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/spend"
	"github.com/lynkr/lynkr/pkg/tenant"
	"github.com/lynkr/lynkr/proto/busv1"
)

// teamWith makes a key of team "x", sets the team's policy and returns the key's identity.
func teamWith(t *testing.T, tn *Tenancy, p tenant.Policy) Identity {
	t.Helper()
	secret, _ := newKey(t, tn, tenant.Key{Team: "x"})
	if err := tn.Store().SetPolicy(context.Background(), tenant.Scope{Kind: tenant.KindTeam, Name: "x"}, p); err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
	id, err := tn.Identify(context.Background(), header("X-Api-Key", secret))
	if err != nil {
		t.Fatalf("Identify: %v", err)
	}
	return id
}

// teamHeld is what team "x" holds of its budgets.
func teamHeld(t *testing.T, tn *Tenancy) spend.Held {
	t.Helper()
	spent, _, err := tn.Spent(context.Background(), []tenant.Scope{{Kind: tenant.KindTeam, Name: "x"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return spent[0].Held
}

func request(id string, input, output int64) Request {
	return Request{ID: id, Model: "gpt-4o", InputTokens: input, OutputTokens: output, Deadline: time.Now().Add(time.Minute)}
}

// A request holds its input and all the output it may ask for until it is done; what it holds
// counts against the budget for every other request: a burst cannot pass it.
func TestAdmitHoldsTheBudgetUntilDone(t *testing.T) {
	tn, reg := open(t, testConfig(t))
	ctx := context.Background()
	id := teamWith(t, tn, tenant.Policy{DailyTokens: 100})

	a, err := tn.Admit(ctx, id, request("a", 30, 30))
	if err != nil {
		t.Fatalf("a: %v", err)
	}
	if h := teamHeld(t, tn); h.Tokens != 60 || h.Cost <= 0 {
		t.Fatalf("a holds %+v, want 60 tokens and their cost", h)
	}
	// 40 left: room for b's input, not for all its output. It is the tail and holds the rest.
	b, err := tn.Admit(ctx, id, request("b", 30, 30))
	if err != nil {
		t.Fatalf("b: %v", err)
	}
	if h := teamHeld(t, tn); h.Tokens != 100 {
		t.Fatalf("a and b hold %d tokens, want all 100", h.Tokens)
	}
	_, err = tn.Admit(ctx, id, request("c", 10, 0))
	e := apiError(t, err)
	if e.Status != http.StatusTooManyRequests || e.Type != apierror.TypeRateLimit || e.RetryAfter != heldRetry ||
		!strings.Contains(e.Message, `team "x" cannot start this request until requests under way end`) {
		t.Errorf("c while a and b hold the budget: %d %s %q retry after %v; want a 429 to retry in %v",
			e.Status, e.Type, e.Message, e.RetryAfter, heldRetry)
	}
	// a never ran: its hold ends at once, and c fits.
	tn.Done(&a, false, nil)
	tn.Done(&a, false, nil) // twice does nothing more
	if h := teamHeld(t, tn); h.Tokens != 40 {
		t.Fatalf("after a: held %d, want b's 40", h.Tokens)
	}
	c, err := tn.Admit(ctx, id, request("c", 10, 0))
	if err != nil {
		t.Fatalf("c after a is done: %v", err)
	}
	// b ran and its answer said what it used: its hold shrinks to that until its charge ends it.
	usage := &busv1.Usage{RequestId: "b", Model: "gpt-4o", InputTokens: 25, OutputTokens: 5, Tenant: id.Proto()}
	tn.Done(&b, true, usage)
	if h := teamHeld(t, tn); h.Tokens != 40 {
		t.Fatalf("after b is done: held %d, want b's 30 used and c's 10 until b's usage is charged", h.Tokens)
	}
	charge, ok := tn.chargeOf(usage, time.Now())
	if !ok {
		t.Fatal("b's usage not chargeable")
	}
	if _, err := tn.ledger.Charge(ctx, []spend.Charge{charge}); err != nil {
		t.Fatal(err)
	}
	if h := teamHeld(t, tn); h.Tokens != 10 {
		t.Errorf("after b's charge: held %d, want c's 10", h.Tokens)
	}
	// c ran but its answer said nothing of its use (a stream cut short): it holds all it held
	// until its usage comes, or settleGrace passes.
	tn.Done(&c, true, nil)
	if h := teamHeld(t, tn); h.Tokens != 10 {
		t.Errorf("after c is done: held %d, want c's 10", h.Tokens)
	}
	if n := counter(t, reg, "lynkr_tenant_refused_total", "reason", "budget"); n != 1 {
		t.Errorf("refused{budget} = %v, want 1", n)
	}
}

// A request refused by a rate limit after its budget admitted it holds nothing.
func TestAdmitRateLimitRefusalHoldsNothing(t *testing.T) {
	tn, _ := open(t, testConfig(t))
	ctx := context.Background()
	id := teamWith(t, tn, tenant.Policy{DailyTokens: 1000, RPM: 1})
	a, err := tn.Admit(ctx, id, request("a", 10, 10))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tn.Admit(ctx, id, request("b", 10, 10))
	if e := apiError(t, err); e.Status != http.StatusTooManyRequests || !strings.Contains(e.Message, "rate limit") {
		t.Fatalf("b: %v, want refused by the rate limit", err)
	}
	if b.Rate.Allowed || b.Rate.Limit != 1 {
		t.Errorf("b's decision %+v, want the refusing limit for the headers", b.Rate)
	}
	if h := teamHeld(t, tn); h.Tokens != 20 {
		t.Errorf("held %d, want a's 20 only", h.Tokens)
	}
	tn.Done(&a, false, nil)
}

// A key may have so many requests under way in one gateway: its own max_concurrent, or
// KEY_MAX_CONCURRENT where it sets none; a team's cap counts all its keys. Past it, a 429 to
// retry in a second, in which nothing else is taken.
func TestConcurrencyCaps(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeyMaxConcurrent = 2
	tn, reg := open(t, cfg)
	ctx := context.Background()
	identify := func(k tenant.Key) Identity {
		secret, _ := newKey(t, tn, k)
		id, err := tn.Identify(ctx, header("X-Api-Key", secret))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	refused := func(what string, err error, says string) {
		t.Helper()
		e := apiError(t, err)
		if e.Status != http.StatusTooManyRequests || e.Type != apierror.TypeRateLimit || e.RetryAfter != time.Second || !strings.Contains(e.Message, says) {
			t.Errorf("%s: %d %s %q retry after %v; want a 429 saying %q", what, e.Status, e.Type, e.Message, e.RetryAfter, says)
		}
	}
	n := 0
	admit := func(id Identity) (Admission, error) {
		n++
		return tn.Admit(ctx, id, request(fmt.Sprint("r", n), 1, 1))
	}

	plain := identify(tenant.Key{})
	a1, err1 := admit(plain)
	a2, err2 := admit(plain)
	if err1 != nil || err2 != nil {
		t.Fatalf("two requests under the default cap of 2: %v, %v", err1, err2)
	}
	_, err := admit(plain)
	refused("a third under the default", err, "(KEY_MAX_CONCURRENT)")
	_, err = tn.AdmitCount(ctx, plain, "count")
	refused("a count under the default", err, "requests under way on this gateway")
	tn.Done(&a1, true, nil)
	a3, err := admit(plain)
	if err != nil {
		t.Fatalf("after one ended: %v", err)
	}

	// Another key is not held back by this one.
	wide := identify(tenant.Key{Policy: tenant.Policy{MaxConcurrent: 3}})
	var wides []Admission
	for i := range 3 {
		a, err := admit(wide)
		if err != nil {
			t.Fatalf("request %d of a key with max_concurrent 3: %v", i+1, err)
		}
		wides = append(wides, a)
	}
	_, err = admit(wide)
	refused("a fourth of max_concurrent 3", err, "(max_concurrent)")

	// A team's cap counts its keys together.
	if err := tn.Store().SetPolicy(ctx, tenant.Scope{Kind: tenant.KindTeam, Name: "t"}, tenant.Policy{MaxConcurrent: 2}); err != nil {
		t.Fatal(err)
	}
	alice, bob := identify(tenant.Key{Team: "t"}), identify(tenant.Key{Team: "t"})
	ta, err1 := admit(alice)
	tb, err2 := admit(bob)
	if err1 != nil || err2 != nil {
		t.Fatalf("two of the team: %v, %v", err1, err2)
	}
	_, err = admit(alice)
	refused("a third of the team", err, `team "t" has 2 requests under way`)

	for _, a := range append(wides, a2, a3, ta, tb) {
		tn.Done(&a, false, nil)
	}
	if got := counter(t, reg, "lynkr_tenant_refused_total", "reason", "concurrency"); got != 4 {
		t.Errorf("refused{concurrency} = %v, want 4", got)
	}
	if len(tn.running.n) != 0 {
		t.Errorf("counts left after every request ended: %v", tn.running.n)
	}
}

// With the store down and failing open, a key's requests are still capped by the default.
func TestConcurrencyCapWithoutTheStore(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeyMaxConcurrent, cfg.FailOpen = 1, true
	tn, _ := open(t, cfg)
	secret, _ := newKey(t, tn, tenant.Key{Team: "x", Policy: tenant.Policy{DailyTokens: 1}})
	id, err := tn.Identify(context.Background(), header("X-Api-Key", secret))
	if err != nil {
		t.Fatal(err)
	}
	breakStore(t, tn)
	a, err := tn.Admit(context.Background(), id, request("a", 1000, 1000))
	if err != nil {
		t.Fatalf("failing open: %v", err)
	}
	_, err = tn.Admit(context.Background(), id, request("b", 1, 1))
	if e := apiError(t, err); e.Status != http.StatusTooManyRequests {
		t.Errorf("a second request failing open: %v, want the default cap's 429", err)
	}
	tn.Done(&a, true, nil) // nothing held: nothing to release from the broken store
	if _, err := tn.Admit(context.Background(), id, request("c", 1, 1)); err != nil {
		t.Errorf("after the first ended: %v", err)
	}
}

// Many requests of one team at once against a budget that fits ten at their most: ten run,
// the others are refused, and the holds are the budget exactly.
func TestAdmitConcurrentBurst(t *testing.T) {
	tn, _ := open(t, testConfig(t))
	id := teamWith(t, tn, tenant.Policy{DailyTokens: 500})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			_, err := tn.Admit(context.Background(), id, request(fmt.Sprint("burst-", i), 20, 30))
			if err == nil {
				admitted.Add(1)
			} else if e := apiError(t, err); e.Status != http.StatusTooManyRequests {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 10 {
		t.Errorf("%d of 60 admitted, want 10", n)
	}
	if h := teamHeld(t, tn); h.Tokens != 500 {
		t.Errorf("held %d, want the whole budget of 500", h.Tokens)
	}
}

// A cost budget holds a request's price at the most: its input at the dearer of the input
// and cache-write prices (a prompt written to the cache costs more than one read plainly),
// and all its output.
func TestAdmitHoldsTheMostCost(t *testing.T) {
	tn, _ := open(t, testConfig(t))
	ctx := context.Background()
	id := teamWith(t, tn, tenant.Policy{DailyCostUSD: 0.01})
	req := func(n string) Request {
		// claude-sonnet-4-5: $3 a million input tokens, $3.75 written to the cache, $15 output.
		return Request{ID: n, Model: "claude-sonnet-4-5", InputTokens: 1000, OutputTokens: 100, Deadline: time.Now().Add(time.Minute)}
	}
	a, err := tn.Admit(ctx, id, req("a"))
	if err != nil {
		t.Fatal(err)
	}
	if h := teamHeld(t, tn); h.Cost != spend.USD(0.00375+0.0015) {
		t.Fatalf("held %v µ$, want %v: 1000 tokens written to the cache and 100 output", h.Cost, spend.USD(0.00525))
	}
	// $0.00475 left: room for b's input ($0.003), not its most: b is the tail.
	b, err := tn.Admit(ctx, id, req("b"))
	if err != nil {
		t.Fatal(err)
	}
	if h := teamHeld(t, tn); h.Cost != spend.USD(0.01) {
		t.Fatalf("held %v µ$, want the whole budget", h.Cost)
	}
	if _, err := tn.Admit(ctx, id, req("c")); err == nil || !strings.Contains(err.Error(), "daily cost budget") {
		t.Fatalf("c: %v, want refused by the held cost budget", err)
	}
	tn.Done(&a, false, nil)
	tn.Done(&b, false, nil)
}
