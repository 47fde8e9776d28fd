package tenancy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/spend"
	"github.com/lynkr/lynkr/pkg/tenant"
	"github.com/lynkr/lynkr/proto/busv1"
)

func TestChargeOf(t *testing.T) {
	prices := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(prices, []byte(`{"house-model": {"input": 1, "output": 2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.PricesFile = prices
	tn, _ := open(t, cfg)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	key, team := tenant.Scope{Kind: tenant.KindKey, Name: "key_a"}, tenant.Scope{Kind: tenant.KindTeam, Name: "t"}

	for _, tc := range []struct {
		name   string
		u      *busv1.Usage
		ok     bool
		scopes []tenant.Scope
		tokens int64
		cost   spend.Micros
	}{
		{name: "no tenant", u: &busv1.Usage{RequestId: "r", Model: "gpt-4o", InputTokens: 10}},
		{name: "empty tenant", u: &busv1.Usage{RequestId: "r", Model: "gpt-4o", InputTokens: 10, Tenant: &busv1.Tenant{}}},
		{name: "no request id", u: &busv1.Usage{Model: "gpt-4o", InputTokens: 10, Tenant: &busv1.Tenant{KeyId: "key_a"}}},
		{name: "negative input", u: &busv1.Usage{RequestId: "r", InputTokens: -1, Tenant: &busv1.Tenant{KeyId: "key_a"}}},
		{name: "negative output", u: &busv1.Usage{RequestId: "r", OutputTokens: -1, Tenant: &busv1.Tenant{KeyId: "key_a"}}},
		{name: "negative cache read", u: &busv1.Usage{RequestId: "r", CacheReadTokens: -1, Tenant: &busv1.Tenant{KeyId: "key_a"}}},
		{name: "negative cache write", u: &busv1.Usage{RequestId: "r", CacheCreateTokens: -1, Tenant: &busv1.Tenant{KeyId: "key_a"}}},
		{name: "gpt-4o 1M input, key and team", ok: true,
			u:      &busv1.Usage{RequestId: "r", Model: "gpt-4o", InputTokens: 1_000_000, Tenant: &busv1.Tenant{KeyId: "key_a", Team: "t"}},
			scopes: []tenant.Scope{key, team}, tokens: 1_000_000, cost: 2_500_000},
		{name: "input and output", ok: true,
			u:      &busv1.Usage{RequestId: "r", Model: "gpt-4o", InputTokens: 1000, OutputTokens: 500, Tenant: &busv1.Tenant{KeyId: "key_a"}},
			scopes: []tenant.Scope{key}, tokens: 1500, cost: 1000*2.5 + 500*10},
		{name: "cached input at the cache price, not counted twice", ok: true,
			u: &busv1.Usage{RequestId: "r", Model: "gpt-4o", InputTokens: 1_000_000, CacheReadTokens: 1_000_000,
				Tenant: &busv1.Tenant{Team: "t"}},
			scopes: []tenant.Scope{team}, tokens: 1_000_000, cost: 1_250_000},
		{name: "every group, no key", ok: true,
			u: &busv1.Usage{RequestId: "r", Model: "claude-sonnet-4-5", InputTokens: 10, OutputTokens: 10,
				Tenant: &busv1.Tenant{Team: "t", Customer: "c", Org: "o"}},
			scopes: []tenant.Scope{team, {Kind: tenant.KindCustomer, Name: "c"}, {Kind: tenant.KindOrg, Name: "o"}},
			tokens: 20, cost: 10*3 + 10*15},
		{name: "unpriced model counts tokens only", ok: true,
			u:      &busv1.Usage{RequestId: "r", Model: "no-such-model", InputTokens: 7, OutputTokens: 3, Tenant: &busv1.Tenant{KeyId: "key_a"}},
			scopes: []tenant.Scope{key}, tokens: 10, cost: 0},
		{name: "price from the prices file", ok: true,
			u:      &busv1.Usage{RequestId: "r", Model: "house-model", InputTokens: 100, OutputTokens: 10, Tenant: &busv1.Tenant{KeyId: "key_a"}},
			scopes: []tenant.Scope{key}, tokens: 110, cost: 100*1 + 10*2},
		{name: "zero usage is still a request", ok: true,
			u:      &busv1.Usage{RequestId: "r", Model: "gpt-4o", Tenant: &busv1.Tenant{KeyId: "key_a"}},
			scopes: []tenant.Scope{key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := tn.chargeOf(tc.u, at)
			if ok != tc.ok {
				t.Fatalf("charged %v, want %v (%+v)", ok, tc.ok, c)
			}
			if !ok {
				return
			}
			if c.RequestID != tc.u.RequestId || !c.At.Equal(at) {
				t.Errorf("request %q at %v, want %q at %v", c.RequestID, c.At, tc.u.RequestId, at)
			}
			if !slices.Equal(c.Scopes, tc.scopes) {
				t.Errorf("scopes %v, want %v", c.Scopes, tc.scopes)
			}
			if c.Tokens != tc.tokens || c.Cost != tc.cost {
				t.Errorf("tokens %d cost %d µ$, want %d and %d µ$", c.Tokens, c.Cost, tc.tokens, tc.cost)
			}
			// What chargeOf makes, the ledger takes (under an id of its own, charged once).
			c.RequestID = tc.name
			if n, err := tn.ledger.Charge(context.Background(), []spend.Charge{c}); err != nil || n != 1 {
				t.Errorf("ledger.Charge = %d, %v; want 1 charged", n, err)
			}
		})
	}
}

func TestChargeOfOverflowNotPoison(t *testing.T) {
	tn, _ := open(t, testConfig(t))
	for _, u := range []*busv1.Usage{
		{RequestId: "sum", Model: "no-such-model", InputTokens: 1 << 62, OutputTokens: 1 << 62, Tenant: &busv1.Tenant{Team: "t"}},
		{RequestId: "cost", Model: "gpt-4o", InputTokens: 1 << 62, Tenant: &busv1.Tenant{Team: "t"}},
	} {
		t.Run(u.RequestId, func(t *testing.T) {
			c, ok := tn.chargeOf(u, time.Now())
			if !ok {
				return // dropped, as a record the ledger cannot take should be
			}
			good := spend.Charge{RequestID: "good-" + u.RequestId, Scopes: c.Scopes, Tokens: 1}
			if _, err := tn.ledger.Charge(context.Background(), []spend.Charge{good, c}); err != nil {
				t.Errorf("chargeOf kept a charge (tokens %d, cost %d µ$) that fails its whole batch: %v", c.Tokens, c.Cost, err)
			}
		})
	}
}
