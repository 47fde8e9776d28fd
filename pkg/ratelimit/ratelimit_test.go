package ratelimit

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
)

func TestLimits(t *testing.T) {
	key := tenant.Scope{Kind: tenant.KindKey, Name: "k"}
	team := tenant.Scope{Kind: tenant.KindTeam, Name: "t"}
	org := tenant.Scope{Kind: tenant.KindOrg, Name: "o"}
	tests := []struct {
		name     string
		scopes   []tenant.Scope
		policies []tenant.Policy
		tokens   int64
		want     []limit
		wantErr  string
	}{
		{name: "nothing", want: nil},
		{name: "no limits set", scopes: []tenant.Scope{key, team},
			policies: []tenant.Policy{{DailyTokens: 5}, {}}, tokens: 10, want: nil},
		{name: "rpm then tpm, narrowest first", scopes: []tenant.Scope{org, key, team},
			policies: []tenant.Policy{{RPM: 9}, {RPM: 1, TPM: 100}, {TPM: 50}}, tokens: 10,
			want: []limit{
				{scope: key, unit: UnitRequests, max: 1, cost: 1},
				{scope: key, unit: UnitTokens, max: 100, cost: 10},
				{scope: team, unit: UnitTokens, max: 50, cost: 10},
				{scope: org, unit: UnitRequests, max: 9, cost: 1},
			}},
		{name: "tokens capped at a minute's", scopes: []tenant.Scope{key, team},
			policies: []tenant.Policy{{TPM: 100}, {TPM: 1000}}, tokens: 500,
			want: []limit{
				{scope: key, unit: UnitTokens, max: 100, cost: 100},
				{scope: team, unit: UnitTokens, max: 1000, cost: 500},
			}},
		{name: "no tokens cost no tpm", scopes: []tenant.Scope{key},
			policies: []tenant.Policy{{RPM: 5, TPM: 100}}, tokens: 0,
			want: []limit{{scope: key, unit: UnitRequests, max: 5, cost: 1}}},
		{name: "negative is unset", scopes: []tenant.Scope{key},
			policies: []tenant.Policy{{RPM: -1, TPM: -1}}, tokens: 5, want: nil},
		{name: "mismatch", scopes: []tenant.Scope{key, team}, policies: []tenant.Policy{{RPM: 1}},
			wantErr: "ratelimit: 2 scopes but 1 policies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := limits(tt.scopes, tt.policies, tt.tokens)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("limits = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLimitName(t *testing.T) {
	l := limit{scope: tenant.Scope{Kind: tenant.KindTeam, Name: "ml"}, unit: UnitTokens}
	if got := l.name(); got != "team:ml:tpm" {
		t.Fatalf("name = %q", got)
	}
	l.unit = UnitRequests
	if got := l.name(); got != "team:ml:rpm" {
		t.Fatalf("name = %q", got)
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want map[string]string
	}{
		{name: "no limit sets nothing", d: Decision{Allowed: true}, want: map[string]string{}},
		{name: "no limit refused sets nothing", d: Decision{RetryAfter: time.Second}, want: map[string]string{}},
		{name: "allowed", d: Decision{Allowed: true, Limit: 100, Remaining: 42, Reset: 35*time.Second + time.Millisecond},
			want: map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "42", "RateLimit-Reset": "36"}},
		{name: "allowed, reset whole seconds", d: Decision{Allowed: true, Limit: 10, Remaining: 9, Reset: 6 * time.Second},
			want: map[string]string{"RateLimit-Limit": "10", "RateLimit-Remaining": "9", "RateLimit-Reset": "6"}},
		{name: "allowed, full", d: Decision{Allowed: true, Limit: 10, Remaining: 10},
			want: map[string]string{"RateLimit-Limit": "10", "RateLimit-Remaining": "10", "RateLimit-Reset": "0"}},
		{name: "refused", d: Decision{Limit: 10, RetryAfter: 5200 * time.Millisecond, Reset: 59900 * time.Millisecond},
			want: map[string]string{"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "60", "Retry-After": "6"}},
		{name: "refused, retry under a second", d: Decision{Limit: 6000, RetryAfter: 10 * time.Millisecond, Reset: time.Second},
			want: map[string]string{"RateLimit-Limit": "6000", "RateLimit-Remaining": "0", "RateLimit-Reset": "1", "Retry-After": "1"}},
		{name: "refused, no retry", d: Decision{Limit: 1},
			want: map[string]string{"RateLimit-Limit": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "0", "Retry-After": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.d.Headers(h)
			if len(h) != len(tt.want) {
				t.Errorf("headers = %v, want %v", h, tt.want)
			}
			for k, v := range tt.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
