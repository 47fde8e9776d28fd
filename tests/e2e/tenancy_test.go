package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

const testAdminKey = "admin-key-for-e2e"

// authEnv turns keys on in the all-in-one, its store in dir (the local file, no Redis).
func authEnv(dir string) map[string]string {
	return map[string]string{"AUTH_ENABLED": "true", "ADMIN_API_KEY": testAdminKey, "LYNKR_DATA_DIR": dir, "USAGE_FLUSH_INTERVAL": "20"}
}

// newKey makes a key through the admin API and returns its secret and id.
func newKey(t *testing.T, s *stack, body string) (secret, id string) {
	t.Helper()
	resp, b := s.post(t, "/admin/keys", body, map[string]string{"Authorization": "Bearer " + testAdminKey})
	var k struct{ Key, ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &k) != nil || k.Key == "" {
		t.Fatalf("POST /admin/keys: %d %s", resp.StatusCode, b)
	}
	return k.Key, k.ID
}

// get is a GET with a bearer key.
func (s *stack) get(t *testing.T, path, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, b := s.do(t, req)
	return resp.StatusCode, b
}

// dayRequests is the number of requests GET /v1/usage shows for the first scope today.
func dayRequests(t *testing.T, b []byte) int64 {
	t.Helper()
	var u struct {
		Data []struct {
			Kind string
			Day  struct{ Requests int64 }
		}
	}
	if err := json.Unmarshal(b, &u); err != nil || len(u.Data) == 0 {
		t.Fatalf("GET /v1/usage answered %s (%v)", b, err)
	}
	return u.Data[0].Day.Requests
}

const plainMessage = `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

// Without REDIS_URL, keys, their limits and their spend live in a file in the data
// directory: a restarted lynkr still knows its keys, still refuses a revoked one, and still
// counts what was spent before.
func TestLocalTenantStoreSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	var secret, id, revoked string
	t.Run("before", func(t *testing.T) {
		s := start(t, anthropicUpstream, authEnv(dir))
		secret, id = newKey(t, s, `{"name":"alice","team":"platform","limits":{"rpm":1000}}`)
		var rid string
		revoked, rid = newKey(t, s, `{"name":"leaver"}`)
		for range 2 {
			if resp, b := s.post(t, "/v1/messages", plainMessage, map[string]string{"x-api-key": secret}); resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		}
		req, _ := http.NewRequest(http.MethodDelete, s.URL+"/admin/keys/"+rid, nil)
		req.Header.Set("x-api-key", testAdminKey)
		if resp, b := s.do(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d %s", resp.StatusCode, b)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, b := s.get(t, "/v1/usage", secret)
			if dayRequests(t, b) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("usage not charged: %s", b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("after a restart", func(t *testing.T) {
		s := start(t, anthropicUpstream, authEnv(dir))
		if resp, b := s.post(t, "/v1/messages", plainMessage, map[string]string{"x-api-key": secret}); resp.StatusCode != http.StatusOK {
			t.Fatalf("the key after a restart: %d %s", resp.StatusCode, b)
		}
		if resp, b := s.post(t, "/v1/messages", plainMessage, map[string]string{"x-api-key": revoked}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the revoked key after a restart: %d %s", resp.StatusCode, b)
		}
		status, b := s.get(t, "/admin/keys", testAdminKey)
		if status != http.StatusOK || !strings.Contains(string(b), id) || !strings.Contains(string(b), `"rpm":1000`) {
			t.Errorf("GET /admin/keys after a restart: %d %s", status, b)
		}
		if status, b := s.get(t, "/v1/usage", secret); status != http.StatusOK || dayRequests(t, b) < 2 {
			t.Errorf("spend before the restart is lost: %d %s", status, b)
		}
	})
}

// A key made with no_cache never gets, nor leaves, answers in the response cache; other keys
// still share it.
func TestAKeyCanOptOutOfTheResponseCache(t *testing.T) {
	s := start(t, anthropicUpstream, authEnv(t.TempDir()))
	private, _ := newKey(t, s, `{"name":"private","no_cache":true}`)
	shared, _ := newKey(t, s, `{"name":"shared"}`)
	body := `{"model":"claude-sonnet-4-5","max_tokens":16,"temperature":0,"messages":[{"role":"user","content":"same question"}]}`
	before := s.Fake.Calls()
	for range 2 {
		resp, b := s.post(t, "/v1/messages", body, map[string]string{"x-api-key": private})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Lynkr-Cache") != "" {
			t.Fatalf("no_cache key: %d, X-Lynkr-Cache %q: %s", resp.StatusCode, resp.Header.Get("X-Lynkr-Cache"), b)
		}
	}
	if n := s.Fake.Calls() - before; n != 2 {
		t.Errorf("no_cache key: %d upstream calls for 2 requests", n)
	}
	// The no_cache key left nothing behind: the shared key's first request misses.
	if resp, b := s.post(t, "/v1/messages", body, map[string]string{"x-api-key": shared}); resp.Header.Get("X-Lynkr-Cache") != "miss" {
		t.Fatalf("shared key after the no_cache key: X-Lynkr-Cache %q, want miss: %s", resp.Header.Get("X-Lynkr-Cache"), b)
	}
	hit := false
	for range 50 { // the first answer is stored as it is sent
		resp, _ := s.post(t, "/v1/messages", body, map[string]string{"x-api-key": shared})
		if hit = resp.Header.Get("X-Lynkr-Cache") == "hit"; hit {
			break
		}
	}
	if !hit {
		t.Error("a key without no_cache was never answered from the cache")
	}
}

// Behind a trusted front that sets LYNKR-Team-Id, lynkr needs no keys of its own: the
// team's budget applies and its spend shows in GET /v1/usage.
func TestTrustedTenantHeadersCarryTheTeam(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "words words words", Chunks: 1}))
	t.Cleanup(fake.Close)
	s := startLynkr(t, anthropicUpstream, fake.URL(), map[string]string{
		"TRUST_TENANT_HEADERS": "true", "ADMIN_API_KEY": testAdminKey, "USAGE_FLUSH_INTERVAL": "20"})
	s.Fake = fake
	req, _ := http.NewRequest(http.MethodPut, s.URL+"/admin/policies/team/research", strings.NewReader(`{"daily_tokens":100}`))
	req.Header.Set("x-api-key", testAdminKey)
	if resp, b := s.do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT policy: %d %s", resp.StatusCode, b)
	}
	team := map[string]string{"LYNKR-Team-Id": "research"}
	if resp, b := s.post(t, "/v1/messages", plainMessage, team); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request of the team: %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, b := s.post(t, "/v1/messages", plainMessage, team)
		if resp.StatusCode == http.StatusTooManyRequests {
			if !strings.Contains(string(b), `team \"research\"`) || !strings.Contains(string(b), "rate_limit_error") {
				t.Errorf("budget refusal: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the team's 100-token budget never refused it: %d %s", resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Another team is not affected.
	if resp, b := s.post(t, "/v1/messages", plainMessage, map[string]string{"LYNKR-Team-Id": "other"}); resp.StatusCode != http.StatusOK {
		t.Errorf("another team: %d %s", resp.StatusCode, b)
	}
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/v1/usage", nil)
	req.Header.Set("LYNKR-Team-Id", "research")
	if resp, b := s.do(t, req); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"name":"research"`) || !strings.Contains(string(b), `"daily_tokens":100`) {
		t.Errorf("GET /v1/usage for the team: %d %s", resp.StatusCode, b)
	}
}
