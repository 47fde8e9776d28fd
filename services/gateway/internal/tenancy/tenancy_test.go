package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/metrics"
	"github.com/lynkr/lynkr/pkg/ratelimit"
	"github.com/lynkr/lynkr/pkg/spend"
	"github.com/lynkr/lynkr/pkg/tenant"
	"github.com/lynkr/lynkr/proto/busv1"
)

// idle is a cluster with nothing to report, for the gateway metrics' scrape-time collector.
type idle struct{}

func (idle) Breakers() map[string]string { return nil }
func (idle) Backlog() map[string]uint64  { return nil }
func (idle) Shedding() bool              { return false }

// testConfig is a configuration with authentication on and a local store in a fresh directory.
func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		StorePath: filepath.Join(t.TempDir(), "t.db"),
		Auth:      true,
		AdminKey:  config.NewSecret("adm"),
		Timeout:   time.Second,
	}
}

// open makes a Tenancy on cfg with its metrics on a registry of its own.
func open(t *testing.T, cfg Config) (*Tenancy, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewGateway(reg, idle{})
	if err != nil {
		t.Fatalf("metrics.NewGateway: %v", err)
	}
	tn, err := New(cfg, Deps{Logger: slog.New(slog.DiscardHandler), Metrics: m})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	return tn, reg
}

// newKey stores k with a fresh id and secret, and returns the secret and the key as stored.
func newKey(t *testing.T, tn *Tenancy, k tenant.Key) (string, tenant.Key) {
	t.Helper()
	secret, hash, err := tenant.NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	k.ID, k.Hash, k.Prefix, k.CreatedAt = tenant.NewID(), hash, tenant.PrefixOf(secret), time.Now().UTC()
	if err := tn.Store().CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return secret, k
}

// breakStore closes the bbolt file under tn, so every store call fails with bbolt's
// "database not open".
func breakStore(t *testing.T, tn *Tenancy) {
	t.Helper()
	if err := tn.db.Close(); err != nil {
		t.Fatalf("closing the store: %v", err)
	}
	if _, err := tn.Store().KeyByHash(context.Background(), "x"); !errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		t.Fatalf("store after close: %v, want %v", err, bbolt.ErrDatabaseNotOpen)
	}
}

func apiError(t *testing.T, err error) *apierror.Error {
	t.Helper()
	var e *apierror.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *apierror.Error", err, err)
	}
	return e
}

// counter reads the counter name{label=value} from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no counter %s{%s=%q}", name, label, value)
	return 0
}

// admitOnce admits a request of id for model estimated at tokens of input and no output, and
// ends it at once as if it had not run: a request whose decision alone matters.
func admitOnce(ctx context.Context, tn *Tenancy, id Identity, model string, tokens int64) (ratelimit.Decision, error) {
	a, err := tn.Admit(ctx, id, Request{ID: "req_" + tenant.NewID(), Model: model, InputTokens: tokens})
	tn.Done(&a, false, nil)
	return a.Rate, err
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestConfigEnabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"nothing", Config{}, false},
		{"auth", Config{Auth: true}, true},
		{"trusted headers", Config{TrustHeaders: true}, true},
		{"admin key", Config{AdminKey: config.NewSecret("adm")}, true},
		{"empty admin key", Config{AdminKey: config.NewSecret("")}, false},
		{"fail open alone", Config{FailOpen: true, StorePath: "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Enabled(); got != tc.want {
				t.Errorf("Enabled() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewFails(t *testing.T) {
	dir := t.TempDir()
	badPrices := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(badPrices, []byte(`{"m": {"input": -1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store path", Config{Auth: true}, "TENANT_STORE_PATH"},
		{"missing prices file", Config{StorePath: filepath.Join(dir, "a.db"), PricesFile: filepath.Join(dir, "none.json")}, "PRICE_TABLE_FILE"},
		{"invalid prices file", Config{StorePath: filepath.Join(dir, "b.db"), PricesFile: badPrices}, "PRICE_TABLE_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn, err := New(tc.cfg, Deps{Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				_ = tn.Close()
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want string
	}{
		{"x-api-key", header("X-Api-Key", "lk-a"), "lk-a"},
		{"x-api-key lower case name", header("x-api-key", "lk-a"), "lk-a"},
		{"bearer", header("Authorization", "Bearer lk-b"), "lk-b"},
		{"bearer lower case", header("Authorization", "bearer lk-b"), "lk-b"},
		{"bearer upper case", header("Authorization", "BEARER lk-b"), "lk-b"},
		{"bearer padded", header("Authorization", "Bearer   lk-b  "), "lk-b"},
		{"both: x-api-key wins", header("X-Api-Key", "lk-a", "Authorization", "Bearer lk-b"), "lk-a"},
		{"empty x-api-key falls back to bearer", header("X-Api-Key", "", "Authorization", "Bearer lk-b"), "lk-b"},
		{"neither", header(), ""},
		{"basic ignored", header("Authorization", "Basic dXNlcjpwYXNz"), ""},
		{"bearer without token", header("Authorization", "Bearer "), ""},
		{"bearer of spaces", header("Authorization", "Bearer    "), ""},
		{"bearer without space", header("Authorization", "Bearerlk-b"), ""},
		{"token alone", header("Authorization", "lk-b"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Secret(tc.h); got != tc.want {
				t.Errorf("Secret() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIsAdmin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		admin config.Secret
		h     http.Header
		want  bool
	}{
		{"right key, x-api-key", config.NewSecret("adm"), header("X-Api-Key", "adm"), true},
		{"right key, bearer", config.NewSecret("adm"), header("Authorization", "Bearer adm"), true},
		{"right key, lower-case bearer", config.NewSecret("adm"), header("Authorization", "bearer adm"), true},
		{"wrong key, x-api-key", config.NewSecret("adm"), header("X-Api-Key", "adn"), false},
		{"wrong key, bearer", config.NewSecret("adm"), header("Authorization", "Bearer adn"), false},
		{"longer key", config.NewSecret("adm"), header("X-Api-Key", "adm2"), false},
		{"shorter key", config.NewSecret("adm"), header("Authorization", "Bearer ad"), false},
		{"case differs", config.NewSecret("adm"), header("X-Api-Key", "ADM"), false},
		{"no key", config.NewSecret("adm"), header(), false},
		{"basic auth", config.NewSecret("adm"), header("Authorization", "Basic adm"), false},
		{"x-api-key wins over an admin bearer", config.NewSecret("adm"), header("X-Api-Key", "lk-x", "Authorization", "Bearer adm"), false},
		{"no admin key configured, x-api-key", config.Secret{}, header("X-Api-Key", "adm"), false},
		{"no admin key configured, bearer", config.Secret{}, header("Authorization", "Bearer adm"), false},
		{"empty admin key configured, no key sent", config.NewSecret(""), header(), false},
		{"empty admin key configured, bearer", config.NewSecret(""), header("Authorization", "Bearer x"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.AdminKey = tc.admin
			tn, _ := open(t, cfg)
			if got := tn.IsAdmin(tc.h); got != tc.want {
				t.Errorf("IsAdmin() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIdentifyAuth(t *testing.T) {
	tn, reg := open(t, testConfig(t))
	ctx := context.Background()
	plain, plainKey := newKey(t, tn, tenant.Key{Name: "plain"})
	grouped, groupedKey := newKey(t, tn, tenant.Key{Name: "grouped", Team: "t1", Customer: "c1", Org: "o1"})
	revoked, revokedKey := newKey(t, tn, tenant.Key{Name: "old", Team: "t1"})
	if _, err := tn.Store().RevokeKey(ctx, revokedKey.ID, time.Now()); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	unknown, _, err := tenant.NewSecret()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		h       http.Header
		status  int    // 0: identified
		message string // in the error's message
		want    Identity
	}{
		{name: "missing key", h: header(), status: http.StatusUnauthorized, message: "missing API key"},
		{name: "basic auth is no key", h: header("Authorization", "Basic "+plain), status: http.StatusUnauthorized, message: "missing API key"},
		{name: "unknown key", h: header("X-Api-Key", unknown), status: http.StatusUnauthorized, message: "invalid API key"},
		{name: "admin key is no tenant key", h: header("X-Api-Key", "adm"), status: http.StatusUnauthorized, message: "invalid API key"},
		{name: "revoked key", h: header("Authorization", "Bearer "+revoked), status: http.StatusUnauthorized, message: "revoked"},
		{name: "valid key, x-api-key", h: header("X-Api-Key", plain), want: Identity{Key: &plainKey}},
		{name: "valid key, bearer", h: header("Authorization", "bearer "+plain), want: Identity{Key: &plainKey}},
		{name: "valid key with groups", h: header("Authorization", "Bearer "+grouped),
			want: Identity{Key: &groupedKey, Team: "t1", Customer: "c1", Org: "o1"}},
		{name: "untrusted headers ignored", h: header("X-Api-Key", plain, HeaderTeam, "t9", HeaderOrg, "o9"), want: Identity{Key: &plainKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, reg, "lynkr_tenant_refused_total", "reason", "auth")
			id, err := tn.Identify(ctx, tc.h)
			after := counter(t, reg, "lynkr_tenant_refused_total", "reason", "auth")
			if tc.status != 0 {
				e := apiError(t, err)
				if e.Status != tc.status || e.Type != apierror.TypeAuthentication {
					t.Errorf("error %d %s, want %d %s", e.Status, e.Type, tc.status, apierror.TypeAuthentication)
				}
				if !strings.Contains(e.Message, tc.message) {
					t.Errorf("message %q does not say %q", e.Message, tc.message)
				}
				if tc.name == "revoked key" && !strings.Contains(e.Message, revokedKey.ID) {
					t.Errorf("message %q does not name key %s", e.Message, revokedKey.ID)
				}
				if id != (Identity{}) {
					t.Errorf("identity %+v with an error, want none", id)
				}
				if after != before+1 {
					t.Errorf("refused{auth} went %v → %v, want +1", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if id.Key == nil || id.Key.ID != tc.want.Key.ID || id.Key.Hash != tc.want.Key.Hash {
				t.Fatalf("key %+v, want %+v", id.Key, tc.want.Key)
			}
			if id.Team != tc.want.Team || id.Customer != tc.want.Customer || id.Org != tc.want.Org {
				t.Errorf("identity %q/%q/%q, want %q/%q/%q", id.Team, id.Customer, id.Org, tc.want.Team, tc.want.Customer, tc.want.Org)
			}
			if after != before {
				t.Errorf("refused{auth} went %v → %v for an identified request", before, after)
			}
		})
	}
}

func TestIdentifyTrustHeaders(t *testing.T) {
	long := strings.Repeat("a", 129)
	for _, tc := range []struct {
		name    string
		auth    bool
		key     tenant.Key // stored and sent when auth is on
		h       http.Header
		want    Identity // Key is checked by id only
		details []string // header names a 400 must list; nil: no error
	}{
		{name: "headers fill an ungrouped key", auth: true,
			h:    header(HeaderTeam, "t", HeaderCustomer, "c", HeaderOrg, "o"),
			want: Identity{Team: "t", Customer: "c", Org: "o"}},
		{name: "key's groups win over headers", auth: true, key: tenant.Key{Team: "kt", Org: "ko"},
			h:    header(HeaderTeam, "t", HeaderCustomer, "c", HeaderOrg, "o"),
			want: Identity{Team: "kt", Customer: "c", Org: "ko"}},
		{name: "key's groups win even over an invalid header", auth: true, key: tenant.Key{Team: "kt"},
			h:    header(HeaderTeam, "bad:team"),
			want: Identity{Team: "kt"}},
		{name: "no headers", auth: true, key: tenant.Key{Customer: "kc"}, h: header(),
			want: Identity{Customer: "kc"}},
		{name: "auth off: headers only", h: header(HeaderTeam, "t", HeaderOrg, "o"),
			want: Identity{Team: "t", Org: "o"}},
		{name: "auth off: a key header is not looked up", h: header("X-Api-Key", "lk-nobody", HeaderCustomer, "c"),
			want: Identity{Customer: "c"}},
		{name: "auth off: nothing", h: header(), want: Identity{}},
		{name: "auth off: lower-case header names", h: header("lynkr-team-id", "t"), want: Identity{Team: "t"}},
		{name: "name of 128 bytes", h: header(HeaderTeam, long[:128]), want: Identity{Team: long[:128]}},
		{name: "colon", h: header(HeaderTeam, "a:b"), details: []string{HeaderTeam}},
		{name: "control character", h: header(HeaderCustomer, "a\x01b"), details: []string{HeaderCustomer}},
		{name: "tab", h: header(HeaderOrg, "a\tb"), details: []string{HeaderOrg}},
		{name: "over 128 bytes", h: header(HeaderOrg, long), details: []string{HeaderOrg}},
		{name: "every problem listed", h: header(HeaderTeam, "a:b", HeaderCustomer, long, HeaderOrg, "ok"),
			details: []string{HeaderTeam, HeaderCustomer}},
		{name: "auth on: invalid header beside a valid key", auth: true, h: header(HeaderCustomer, "x:y"),
			details: []string{HeaderCustomer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Auth, cfg.TrustHeaders = tc.auth, true
			tn, _ := open(t, cfg)
			h := tc.h.Clone()
			var key tenant.Key
			if tc.auth {
				var secret string
				secret, key = newKey(t, tn, tc.key)
				h.Set("X-Api-Key", secret)
			}
			id, err := tn.Identify(context.Background(), h)
			if tc.details != nil {
				e := apiError(t, err)
				if e.Status != http.StatusBadRequest || e.Type != apierror.TypeInvalidRequest {
					t.Errorf("error %d %s, want 400 %s", e.Status, e.Type, apierror.TypeInvalidRequest)
				}
				if len(e.Details) != len(tc.details) {
					t.Errorf("details %q, want one for each of %q", e.Details, tc.details)
				}
				for _, name := range tc.details {
					if !strings.Contains(e.Error(), name) {
						t.Errorf("error %q does not name header %s", e.Error(), name)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if tc.auth != (id.Key != nil) || (id.Key != nil && id.Key.ID != key.ID) {
				t.Errorf("key %+v, want key %q (auth %v)", id.Key, key.ID, tc.auth)
			}
			if id.Team != tc.want.Team || id.Customer != tc.want.Customer || id.Org != tc.want.Org {
				t.Errorf("identity %q/%q/%q, want %q/%q/%q", id.Team, id.Customer, id.Org, tc.want.Team, tc.want.Customer, tc.want.Org)
			}
		})
	}
}

func TestIdentityScopes(t *testing.T) {
	key := &tenant.Key{ID: "key_a"}
	for _, tc := range []struct {
		name string
		id   Identity
		want []tenant.Scope
	}{
		{"nobody", Identity{}, []tenant.Scope{}},
		{"key only", Identity{Key: key}, []tenant.Scope{{Kind: tenant.KindKey, Name: "key_a"}}},
		{"everything, narrowest first", Identity{Key: key, Team: "t", Customer: "c", Org: "o"}, []tenant.Scope{
			{Kind: tenant.KindKey, Name: "key_a"}, {Kind: tenant.KindTeam, Name: "t"},
			{Kind: tenant.KindCustomer, Name: "c"}, {Kind: tenant.KindOrg, Name: "o"}}},
		{"empty ones omitted", Identity{Key: key, Org: "o"}, []tenant.Scope{
			{Kind: tenant.KindKey, Name: "key_a"}, {Kind: tenant.KindOrg, Name: "o"}}},
		{"groups without a key", Identity{Customer: "c", Team: "t"}, []tenant.Scope{
			{Kind: tenant.KindTeam, Name: "t"}, {Kind: tenant.KindCustomer, Name: "c"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.Scopes(); !slices.Equal(got, tc.want) {
				t.Errorf("Scopes() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIdentityProto(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
		want *busv1.Tenant // nil: nobody
	}{
		{"nobody", Identity{}, nil},
		{"key only", Identity{Key: &tenant.Key{ID: "key_a"}}, &busv1.Tenant{KeyId: "key_a"}},
		{"team only", Identity{Team: "t"}, &busv1.Tenant{Team: "t"}},
		{"everything", Identity{Key: &tenant.Key{ID: "key_a"}, Team: "t", Customer: "c", Org: "o"},
			&busv1.Tenant{KeyId: "key_a", Team: "t", Customer: "c", Org: "o"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.id.Proto()
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("Proto() = %v, want %v", got, tc.want)
			}
			if got == nil {
				return
			}
			if got.GetKeyId() != tc.want.GetKeyId() || got.GetTeam() != tc.want.GetTeam() ||
				got.GetCustomer() != tc.want.GetCustomer() || got.GetOrg() != tc.want.GetOrg() {
				t.Errorf("Proto() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIdentityCachePartition(t *testing.T) {
	a, b := &tenant.Key{ID: "key_a"}, &tenant.Key{ID: "key_b"}
	for _, tc := range []struct {
		name string
		x, y Identity
		same bool
	}{
		{"same key", Identity{Key: a}, Identity{Key: &tenant.Key{ID: "key_a"}}, true},
		{"keys without groups", Identity{Key: a}, Identity{Key: b}, false},
		{"keys of one team", Identity{Key: a, Team: "t"}, Identity{Key: b, Team: "t"}, true},
		{"keys of two teams", Identity{Key: a, Team: "t"}, Identity{Key: a, Team: "u"}, false},
		{"team from a key or from headers", Identity{Key: a, Team: "t"}, Identity{Team: "t"}, true},
		{"same team, other org", Identity{Team: "t", Org: "o"}, Identity{Team: "t", Org: "p"}, false},
		{"same team, other customer", Identity{Team: "t", Customer: "c"}, Identity{Team: "t"}, false},
		{"grouped key and its bare self", Identity{Key: a, Team: "t"}, Identity{Key: a}, false},
		{"names shifted between fields", Identity{Team: "x"}, Identity{Org: "x"}, false},
		{"customer and team swapped", Identity{Team: "x", Customer: "y"}, Identity{Team: "y", Customer: "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px, py := tc.x.CachePartition(), tc.y.CachePartition()
			if px == "" || py == "" {
				t.Fatalf("empty partition for an identified request: %q, %q", px, py)
			}
			if (px == py) != tc.same {
				t.Errorf("partitions %q and %q: same %v, want %v", px, py, px == py, tc.same)
			}
		})
	}
	t.Run("nobody", func(t *testing.T) {
		if p := (Identity{}).CachePartition(); p != "" {
			t.Errorf("CachePartition() = %q for nobody, want \"\"", p)
		}
	})
}

func TestIdentityNoCache(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
		want bool
	}{
		{"nobody", Identity{}, false},
		{"team only", Identity{Team: "t"}, false},
		{"key caching", Identity{Key: &tenant.Key{ID: "key_a"}}, false},
		{"key opted out", Identity{Key: &tenant.Key{ID: "key_a", NoCache: true}, Team: "t"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.NoCache(); got != tc.want {
				t.Errorf("NoCache() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAdmitNobody(t *testing.T) {
	// Nothing is consulted for a request of nobody: it passes even with the store gone and
	// failing closed.
	cfg := testConfig(t)
	cfg.Auth = false
	tn, reg := open(t, cfg)
	breakStore(t, tn)
	d, err := admitOnce(context.Background(), tn, Identity{}, "gpt-4o", 1_000_000)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	if !d.Allowed || d.Limit != 0 {
		t.Errorf("decision %+v, want allowed without a limit", d)
	}
	for _, admitted := range []string{"true", "false"} {
		if n := counter(t, reg, "lynkr_tenant_store_errors_total", "admitted", admitted); n != 0 {
			t.Errorf("store_errors{admitted=%s} = %v, want 0", admitted, n)
		}
	}
}

func TestAdmitRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    tenant.Key
		policy func(k tenant.Key) (tenant.Scope, tenant.Policy)
		tokens int64
		admits int    // requests admitted before the refusal
		names  string // in the refusal's message
	}{
		{name: "key RPM 2", key: tenant.Key{Policy: tenant.Policy{RPM: 2}}, admits: 2, names: `key "%s"`},
		{name: "key RPM set later", policy: func(k tenant.Key) (tenant.Scope, tenant.Policy) {
			return tenant.Scope{Kind: tenant.KindKey, Name: k.ID}, tenant.Policy{RPM: 2}
		}, admits: 2, names: `key "%s"`},
		{name: "team RPM 3", key: tenant.Key{Team: "x"}, policy: func(tenant.Key) (tenant.Scope, tenant.Policy) {
			return tenant.Scope{Kind: tenant.KindTeam, Name: "x"}, tenant.Policy{RPM: 3}
		}, admits: 3, names: `team "x"`},
		{name: "key narrower than org", key: tenant.Key{Org: "o", Policy: tenant.Policy{RPM: 1}},
			policy: func(tenant.Key) (tenant.Scope, tenant.Policy) {
				return tenant.Scope{Kind: tenant.KindOrg, Name: "o"}, tenant.Policy{RPM: 1}
			}, admits: 1, names: `key "%s"`},
		{name: "key TPM 100", key: tenant.Key{Policy: tenant.Policy{TPM: 100}}, tokens: 40, admits: 2, names: `key "%s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn, reg := open(t, testConfig(t))
			ctx := context.Background()
			secret, k := newKey(t, tn, tc.key)
			if tc.policy != nil {
				s, p := tc.policy(k)
				if err := tn.Store().SetPolicy(ctx, s, p); err != nil {
					t.Fatalf("SetPolicy: %v", err)
				}
			}
			id, err := tn.Identify(ctx, header("X-Api-Key", secret))
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			for i := range tc.admits {
				d, err := admitOnce(ctx, tn, id, "gpt-4o", tc.tokens)
				if err != nil {
					t.Fatalf("request %d refused: %v", i+1, err)
				}
				if !d.Allowed || d.Limit == 0 {
					t.Errorf("request %d: decision %+v, want allowed under a limit", i+1, d)
				}
			}
			d, err := admitOnce(ctx, tn, id, "gpt-4o", tc.tokens)
			e := apiError(t, err)
			if e.Status != http.StatusTooManyRequests || e.Type != apierror.TypeRateLimit {
				t.Errorf("error %d %s, want 429 %s", e.Status, e.Type, apierror.TypeRateLimit)
			}
			if e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
				t.Errorf("RetryAfter %v, want within (0, 1m]", e.RetryAfter)
			}
			names := tc.names
			if strings.Contains(names, "%s") {
				names = fmt.Sprintf(names, k.ID)
			}
			if !strings.Contains(e.Message, names) {
				t.Errorf("message %q does not name %s", e.Message, names)
			}
			if d.Allowed || d.RetryAfter != e.RetryAfter {
				t.Errorf("decision %+v with the refusal, want refused with RetryAfter %v", d, e.RetryAfter)
			}
			if n := counter(t, reg, "lynkr_tenant_refused_total", "reason", "rate_limit"); n != 1 {
				t.Errorf("refused{rate_limit} = %v, want 1", n)
			}
		})
	}
}

func TestAdmitBudget(t *testing.T) {
	// A fixed clock: the day cannot roll over during the test.
	now := time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC)
	midnight := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		policy  tenant.Policy // of team "x"
		spent   spend.Charge  // charged to team "x" before
		model   string
		tokens  int64
		refused bool
		says    string // in the refusal's message
	}{
		{name: "nothing spent", policy: tenant.Policy{DailyTokens: 1000}, tokens: 10},
		{name: "lands on the budget", policy: tenant.Policy{DailyTokens: 1000}, spent: spend.Charge{Tokens: 990}, tokens: 10},
		{name: "budget used up", policy: tenant.Policy{DailyTokens: 1000}, spent: spend.Charge{Tokens: 1000}, tokens: 10,
			refused: true, says: `team "x" is over its daily token budget`},
		{name: "budget used up, no estimate", policy: tenant.Policy{DailyTokens: 1000}, spent: spend.Charge{Tokens: 1000},
			refused: true, says: `team "x" is over`},
		{name: "request would pass the budget", policy: tenant.Policy{DailyTokens: 1000}, spent: spend.Charge{Tokens: 995}, tokens: 10,
			refused: true, says: `team "x" would pass its daily token budget`},
		{name: "daily cost budget used up", policy: tenant.Policy{DailyCostUSD: 1}, spent: spend.Charge{Cost: spend.USD(1)},
			model: "gpt-4o", tokens: 10, refused: true, says: `team "x" is over its daily cost budget`},
		{name: "estimated cost would pass", policy: tenant.Policy{DailyCostUSD: 1}, spent: spend.Charge{Cost: spend.USD(0.99)},
			model: "gpt-4o", tokens: 10_000, refused: true, says: `team "x" would pass its daily cost budget`},
		{name: "unpriced model passes a cost budget", policy: tenant.Policy{DailyCostUSD: 1}, spent: spend.Charge{Cost: spend.USD(0.99)},
			model: "no-such-model", tokens: 10_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn, reg := open(t, testConfig(t))
			tn.now = func() time.Time { return now }
			ctx := context.Background()
			secret, _ := newKey(t, tn, tenant.Key{Team: "x"})
			if err := tn.Store().SetPolicy(ctx, tenant.Scope{Kind: tenant.KindTeam, Name: "x"}, tc.policy); err != nil {
				t.Fatalf("SetPolicy: %v", err)
			}
			if tc.spent.Tokens > 0 || tc.spent.Cost > 0 {
				c := tc.spent
				c.RequestID, c.Scopes, c.At = "req-1", []tenant.Scope{{Kind: tenant.KindTeam, Name: "x"}}, now
				if n, err := tn.ledger.Charge(ctx, []spend.Charge{c}); err != nil || n != 1 {
					t.Fatalf("Charge = %d, %v; want 1 charged", n, err)
				}
			}
			id, err := tn.Identify(ctx, header("Authorization", "Bearer "+secret))
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			model := tc.model
			if model == "" {
				model = "gpt-4o"
			}
			d, err := admitOnce(ctx, tn, id, model, tc.tokens)
			if !tc.refused {
				if err != nil {
					t.Fatalf("Admit refused: %v", err)
				}
				if !d.Allowed {
					t.Errorf("decision %+v, want allowed", d)
				}
				return
			}
			e := apiError(t, err)
			if e.Status != http.StatusTooManyRequests || e.Type != apierror.TypeRateLimit {
				t.Errorf("error %d %s, want 429 %s", e.Status, e.Type, apierror.TypeRateLimit)
			}
			if !strings.Contains(e.Message, tc.says) {
				t.Errorf("message %q does not say %q", e.Message, tc.says)
			}
			if want := midnight.Sub(now); e.RetryAfter != want {
				t.Errorf("RetryAfter %v, want about %v (next UTC midnight)", e.RetryAfter, want)
			}
			if n := counter(t, reg, "lynkr_tenant_refused_total", "reason", "budget"); n != 1 {
				t.Errorf("refused{budget} = %v, want 1", n)
			}
		})
	}
}

func TestStoreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		// wantKnown is whether a key identified before the outage still is.
		wantKnown bool
		// wantAdmit is whether Admit lets the known key's request through.
		wantAdmit bool
		// counters after: a known key identified, an unknown key identified, the known key admitted.
		storeErrTrue, storeErrFalse, refusedUnavailable float64
	}{
		{name: "fail open", failOpen: true, wantKnown: true, wantAdmit: true,
			storeErrTrue: 2, storeErrFalse: 1, refusedUnavailable: 1},
		{name: "fail closed", failOpen: false,
			storeErrTrue: 0, storeErrFalse: 3, refusedUnavailable: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.FailOpen = tc.failOpen
			tn, reg := open(t, cfg)
			ctx := context.Background()
			secret, k := newKey(t, tn, tenant.Key{Team: "x", Policy: tenant.Policy{RPM: 1, DailyTokens: 1}})
			unknown, _ := newKey(t, tn, tenant.Key{}) // valid but never seen by Identify
			if _, err := tn.Identify(ctx, header("X-Api-Key", secret)); err != nil {
				t.Fatalf("Identify before the outage: %v", err)
			}
			breakStore(t, tn)

			unavailable := func(what string, err error) {
				t.Helper()
				e := apiError(t, err)
				if e.Status != http.StatusServiceUnavailable || e.Type != apierror.TypeOverloaded || e.RetryAfter <= 0 {
					t.Errorf("%s: error %d %s retry after %v, want 503 %s with a RetryAfter",
						what, e.Status, e.Type, e.RetryAfter, apierror.TypeOverloaded)
				}
			}

			id, err := tn.Identify(ctx, header("X-Api-Key", secret))
			if tc.wantKnown {
				if err != nil {
					t.Fatalf("known key: %v", err)
				}
				if id.Key == nil || id.Key.ID != k.ID || id.Team != "x" {
					t.Errorf("known key: identity %+v, want key %s of team x", id, k.ID)
				}
			} else {
				unavailable("known key", err)
				id = Identity{Key: &k, Team: k.Team}
			}

			_, err = tn.Identify(ctx, header("Authorization", "Bearer "+unknown))
			unavailable("unseen key", err)
			// The answer says why: failing open, that the key was not seen valid; failing
			// closed, the setting, which refuses every key alike.
			msg := apiError(t, err).Message
			if tc.failOpen && (strings.Contains(msg, "TENANT_FAIL_OPEN=false") || !strings.Contains(msg, "not been seen valid")) ||
				!tc.failOpen && !strings.Contains(msg, "TENANT_FAIL_OPEN=false") {
				t.Errorf("unseen key: %q", msg)
			}

			// A missing key needs no store: still a 401.
			_, err = tn.Identify(ctx, header())
			if e := apiError(t, err); e.Status != http.StatusUnauthorized {
				t.Errorf("missing key: status %d, want 401", e.Status)
			}

			d, err := admitOnce(ctx, tn, id, "gpt-4o", 1000)
			if tc.wantAdmit {
				if err != nil {
					t.Errorf("Admit: %v, want admitted", err)
				}
				if !d.Allowed {
					t.Errorf("Admit: decision %+v, want allowed", d)
				}
			} else {
				unavailable("Admit", err)
				// Failing closed, the answer names the setting that decides it.
				if msg := apiError(t, err).Message; !strings.Contains(msg, "TENANT_FAIL_OPEN=false") {
					t.Errorf("Admit failing closed: %q does not name TENANT_FAIL_OPEN=false", msg)
				}
			}

			for _, c := range []struct {
				name, label, value string
				want               float64
			}{
				{"lynkr_tenant_store_errors_total", "admitted", "true", tc.storeErrTrue},
				{"lynkr_tenant_store_errors_total", "admitted", "false", tc.storeErrFalse},
				{"lynkr_tenant_refused_total", "reason", "store_unavailable", tc.refusedUnavailable},
				{"lynkr_tenant_refused_total", "reason", "auth", 1},
				{"lynkr_tenant_refused_total", "reason", "rate_limit", 0},
				{"lynkr_tenant_refused_total", "reason", "budget", 0},
			} {
				if got := counter(t, reg, c.name, c.label, c.value); got != c.want {
					t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
				}
			}
		})
	}
}

func TestStoreUnavailableWithoutMetrics(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("fail open %v", failOpen), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.FailOpen = failOpen
			tn, err := New(cfg, Deps{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = tn.Close() })
			breakStore(t, tn)
			if _, err := tn.Identify(context.Background(), header("X-Api-Key", "lk-x")); err == nil {
				t.Error("Identify of an unseen key admitted while the store is down")
			}
			_, err = admitOnce(context.Background(), tn, Identity{Team: "t"}, "gpt-4o", 1)
			if (err == nil) != failOpen {
				t.Errorf("Admit: %v, want admitted %v", err, failOpen)
			}
		})
	}
}

func TestRevokedKeyIsForgotten(t *testing.T) {
	cfg := testConfig(t)
	cfg.FailOpen = true
	tn, _ := open(t, cfg)
	ctx := context.Background()
	secret, k := newKey(t, tn, tenant.Key{})
	hash := tenant.HashSecret(secret)
	if _, err := tn.Identify(ctx, header("X-Api-Key", secret)); err != nil {
		t.Fatalf("Identify: %v", err)
	}
	if _, ok := tn.known.get(hash); !ok {
		t.Fatal("a key identified is not remembered")
	}
	if _, err := tn.Store().RevokeKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if _, err := tn.Identify(ctx, header("X-Api-Key", secret)); apiError(t, err).Status != http.StatusUnauthorized {
		t.Fatalf("revoked key: %v, want 401", err)
	}
	if _, ok := tn.known.get(hash); ok {
		t.Error("a revoked key is still remembered")
	}
	// With the store down, failing open, the revoked key is not let in again.
	breakStore(t, tn)
	if _, err := tn.Identify(ctx, header("X-Api-Key", secret)); apiError(t, err).Status != http.StatusServiceUnavailable {
		t.Errorf("revoked key during an outage: %v, want 503", err)
	}
}

func TestIdentifyConcurrent(t *testing.T) {
	cfg := testConfig(t)
	cfg.FailOpen = true
	tn, _ := open(t, cfg)
	ctx := context.Background()
	secret, k := newKey(t, tn, tenant.Key{Team: "t", Policy: tenant.Policy{RPM: 1000, DailyTokens: 1 << 40}})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			id, err := tn.Identify(ctx, header("X-Api-Key", secret))
			if err == nil && id.Key.ID != k.ID {
				err = fmt.Errorf("identified as %s, want %s", id.Key.ID, k.ID)
			}
			if err == nil {
				_, err = admitOnce(ctx, tn, id, "gpt-4o", 10)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestKnownKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		put  []string
		// forget is forgotten after the puts.
		forget   string
		wantLen  int
		wantHave []string // remembered at the end
		wantGone []string // not remembered at the end
	}{
		{name: "under the bound", max: 3, put: []string{"a", "b"}, wantLen: 2, wantHave: []string{"a", "b"}},
		{name: "at the bound", max: 3, put: []string{"a", "b", "c"}, wantLen: 3, wantHave: []string{"a", "b", "c"}},
		{name: "over the bound", max: 3, put: []string{"a", "b", "c", "d", "e", "f", "g"}, wantLen: 3, wantHave: []string{"g"}},
		{name: "put again when full evicts nothing", max: 2, put: []string{"a", "b", "a", "b", "a"}, wantLen: 2, wantHave: []string{"a", "b"}},
		{name: "forget", max: 3, put: []string{"a", "b"}, forget: "a", wantLen: 1, wantHave: []string{"b"}, wantGone: []string{"a"}},
		{name: "forget unknown", max: 3, put: []string{"a"}, forget: "z", wantLen: 1, wantHave: []string{"a"}, wantGone: []string{"z"}},
		{name: "forget the only key", max: 1, put: []string{"a"}, forget: "a", wantLen: 0, wantGone: []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKnownKeys(tc.max)
			for i, h := range tc.put {
				k.put(h, tenant.Key{ID: fmt.Sprintf("key_%s_%d", h, i)})
				if n := len(k.keys); n > tc.max {
					t.Fatalf("after %d puts: %d keys, bound %d", i+1, n, tc.max)
				}
			}
			if tc.forget != "" {
				k.forget(tc.forget)
			}
			if n := len(k.keys); n != tc.wantLen {
				t.Errorf("%d keys, want %d", n, tc.wantLen)
			}
			for _, h := range tc.wantHave {
				if _, ok := k.get(h); !ok {
					t.Errorf("%q forgotten, want it remembered", h)
				}
			}
			for _, h := range tc.wantGone {
				if _, ok := k.get(h); ok {
					t.Errorf("%q remembered, want it gone", h)
				}
			}
		})
	}
	t.Run("latest value kept", func(t *testing.T) {
		k := newKnownKeys(2)
		k.put("a", tenant.Key{ID: "key_a", Team: "old"})
		k.put("a", tenant.Key{ID: "key_a", Team: "new"})
		if got, _ := k.get("a"); got.Team != "new" {
			t.Errorf("team %q, want the latest put's", got.Team)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		k := newKnownKeys(8)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					h := fmt.Sprintf("%d-%d", g, i%20)
					k.put(h, tenant.Key{ID: h})
					k.get(h)
					if i%3 == 0 {
						k.forget(h)
					}
				}
			})
		}
		wg.Wait()
		if n := len(k.keys); n > 8 {
			t.Errorf("%d keys, bound 8", n)
		}
	})
}

func TestSpent(t *testing.T) {
	tn, _ := open(t, testConfig(t))
	ctx := context.Background()
	at := time.Now()
	scopes := []tenant.Scope{{Kind: tenant.KindTeam, Name: "t"}, {Kind: tenant.KindOrg, Name: "o"}}
	if err := tn.Store().SetPolicy(ctx, scopes[0], tenant.Policy{DailyTokens: 500}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*busv1.Usage{
		{RequestId: "r1", Model: "gpt-4o", InputTokens: 100, OutputTokens: 20, Tenant: &busv1.Tenant{Team: "t"}},
		{RequestId: "r2", Model: "gpt-4o", InputTokens: 30, Tenant: &busv1.Tenant{Team: "t"}},
		{RequestId: "r2", Model: "gpt-4o", InputTokens: 30, Tenant: &busv1.Tenant{Team: "t"}}, // redelivered
	} {
		c, ok := tn.chargeOf(u, at)
		if !ok {
			t.Fatalf("usage %v not charged", u)
		}
		if _, err := tn.ledger.Charge(ctx, []spend.Charge{c}); err != nil {
			t.Fatal(err)
		}
	}
	spent, policies, err := tn.Spent(ctx, scopes, at)
	if err != nil {
		t.Fatalf("Spent: %v", err)
	}
	if len(spent) != 2 || len(policies) != 2 {
		t.Fatalf("%d spends and %d policies, want 2 each", len(spent), len(policies))
	}
	if d := spent[0].Day; d.Tokens != 150 || d.Requests != 2 {
		t.Errorf("team spent %d tokens in %d requests today, want 150 in 2", d.Tokens, d.Requests)
	}
	if d := spent[1].Day; d.Tokens != 0 || d.Requests != 0 {
		t.Errorf("org spent %+v, want nothing", d)
	}
	if policies[0].DailyTokens != 500 || !policies[1].IsZero() {
		t.Errorf("policies %+v, want team's daily_tokens 500 and none for the org", policies)
	}

	breakStore(t, tn)
	if _, _, err := tn.Spent(ctx, scopes, at); !errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		t.Errorf("Spent with the store closed: %v, want %v", err, bbolt.ErrDatabaseNotOpen)
	}
}

// Bugs found once: a usage record too large to charge poisoned its batch; a budget refusal
// took from the team's rate limit.

func TestAdmitBudgetRefusalTakesNoRateLimit(t *testing.T) {
	tn, _ := open(t, testConfig(t))
	ctx := context.Background()
	_, over := newKey(t, tn, tenant.Key{Team: "x", Policy: tenant.Policy{DailyTokens: 1}})
	_, within := newKey(t, tn, tenant.Key{Team: "x"})
	if err := tn.Store().SetPolicy(ctx, tenant.Scope{Kind: tenant.KindTeam, Name: "x"}, tenant.Policy{RPM: 2}); err != nil {
		t.Fatal(err)
	}
	c := spend.Charge{RequestID: "r", Scopes: []tenant.Scope{{Kind: tenant.KindKey, Name: over.ID}}, Tokens: 1}
	if _, err := tn.ledger.Charge(ctx, []spend.Charge{c}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := admitOnce(ctx, tn, Identity{Key: &over, Team: "x"}, "gpt-4o", 10); err == nil {
			t.Fatal("a key over its budget was admitted")
		}
	}
	if _, err := admitOnce(ctx, tn, Identity{Key: &within, Team: "x"}, "gpt-4o", 10); err != nil {
		t.Errorf("a key within budget is refused after its teammate's budget refusals: %v", err)
	}
}
