package e2e

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// A temperature-0 request asked twice is answered the second time from the response cache —
// the upstream is not called — with the very bytes of the first answer, streamed or not; a
// client that opts out with X-Lynkr-Cache: false is never answered from it. With REDIS_URL the
// cache is in Redis, shared by every gateway; without, in the process.
func TestResponseCacheAnswersARepeatedDeterministicRequest(t *testing.T) {
	for _, where := range []string{"local", "redis"} {
		t.Run(where, func(t *testing.T) {
			env := map[string]string{}
			if where == "redis" {
				url, _ := harness.Redis(t)
				env["REDIS_URL"] = url
			}
			fake := fakeupstream.New(fakeupstream.WithReply(fakeupstream.Reply{Text: "cached words", Chunks: 3}))
			t.Cleanup(fake.Close)
			s := startLynkr(t, anthropicUpstream, fake.URL(), env)
			s.Fake = fake
			misses := 0
			for _, tc := range []struct{ name, body string }{
				{"non-stream", `{"model":"claude-sonnet-4-5","max_tokens":64,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`},
				{"stream", `{"model":"claude-sonnet-4-5","max_tokens":64,"temperature":0,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before, missesBefore := fake.Calls(), misses
					first, b1 := s.post(t, "/v1/messages", tc.body, nil)
					if first.StatusCode != http.StatusOK || first.Header.Get("X-Lynkr-Cache") != "miss" {
						t.Fatalf("first: %d, X-Lynkr-Cache %q: %s", first.StatusCode, first.Header.Get("X-Lynkr-Cache"), b1)
					}
					misses++
					var second *http.Response
					var b2 []byte
					for range 50 { // the answer is stored as it is sent: a request right after may miss
						second, b2 = s.post(t, "/v1/messages", tc.body, nil)
						if second.Header.Get("X-Lynkr-Cache") == "hit" {
							break
						}
						misses++
					}
					if second.StatusCode != http.StatusOK || second.Header.Get("X-Lynkr-Cache") != "hit" {
						t.Fatalf("second: %d, X-Lynkr-Cache %q", second.StatusCode, second.Header.Get("X-Lynkr-Cache"))
					}
					if !bytes.Equal(b1, b2) {
						t.Fatalf("the cached answer differs from the first:\n%s\n---\n%s", b1, b2)
					}
					if first.Header.Get("Content-Type") != second.Header.Get("Content-Type") {
						t.Errorf("Content-Type %q then %q", first.Header.Get("Content-Type"), second.Header.Get("Content-Type"))
					}
					atHit := fake.Calls()
					if atHit-before != int64(misses-missesBefore) {
						t.Errorf("upstream calls %d for %d misses: a hit reached the upstream", atHit-before, misses-missesBefore)
					}
					out, _ := s.post(t, "/v1/messages", tc.body, map[string]string{"X-Lynkr-Cache": "false"})
					if out.Header.Get("X-Lynkr-Cache") != "" || fake.Calls() != atHit+1 {
						t.Errorf("an opted-out request was answered from the cache (X-Lynkr-Cache %q)", out.Header.Get("X-Lynkr-Cache"))
					}
				})
			}
			fams, _ := scrape(t, s)
			if v, _ := sample(fams, "lynkr_cache_hits_total", map[string]string{}); v != 2 {
				t.Errorf("lynkr_cache_hits_total = %v, want 2", v)
			}
			if v, _ := sample(fams, "lynkr_cache_misses_total", map[string]string{}); v != float64(misses) {
				t.Errorf("lynkr_cache_misses_total = %v, want %d", v, misses)
			}
		})
	}
}
