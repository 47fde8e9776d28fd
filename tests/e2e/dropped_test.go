package e2e

import (
	"net/http"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// TestDroppedIsNamedAndCounted: what a conversion leaves out is named in the answer's
// X-Lynkr-Dropped, streamed or not, and counted in lynkr_conversion_dropped_total — a name the
// policy lists by its name, a client's own member as "other" — and never reaches the upstream;
// a same-format request drops nothing.
func TestDroppedIsNamedAndCounted(t *testing.T) {
	s := start(t, openAIUpstream, nil)
	for _, stream := range []string{"false", "true"} {
		s.Fake.Enqueue(fakeupstream.Reply{Text: "hi"})
		body := `{"model":"gpt-4o","stream":` + stream + `,"input":"hello","client_metadata":{"x":"y"},"future_member":1,
			"tools":[{"type":"web_search","external_web_access":false},{"type":"function","name":"f","parameters":{"type":"object"}}]}`
		resp, out := s.post(t, "/v1/responses", body, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %s: status %d: %s", stream, resp.StatusCode, out)
		}
		if got := resp.Header.Get("X-Lynkr-Dropped"); got != "client_metadata,future_member,web_search" {
			t.Errorf("stream %s: X-Lynkr-Dropped %q", stream, got)
		}
		sent := s.lastCall().Body
		if gjson.GetBytes(sent, "client_metadata").Exists() || gjson.GetBytes(sent, "tools.#").Int() != 1 {
			t.Errorf("stream %s: the upstream got what was dropped: %s", stream, sent)
		}
	}
	fams, _ := scrape(t, s)
	counts := map[string]float64{}
	for _, m := range fams["lynkr_conversion_dropped_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["from"] != "openai-responses" || labels["to"] != "openai-chat" {
			t.Errorf("labels %v", labels)
		}
		counts[labels["construct"]] += m.GetCounter().GetValue()
	}
	want := map[string]float64{"client_metadata": 2, "web_search": 2, "other": 2}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("lynkr_conversion_dropped_total{construct=%q} = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}

	s.Fake.Enqueue(fakeupstream.Reply{Text: "hi"})
	resp, out := s.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"future_member":1}`, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Lynkr-Dropped") != "" {
		t.Errorf("passthrough: status %d, X-Lynkr-Dropped %q: %s", resp.StatusCode, resp.Header.Get("X-Lynkr-Dropped"), out)
	}
	if !gjson.GetBytes(s.lastCall().Body, "future_member").Exists() {
		t.Errorf("passthrough lost an unknown member: %s", s.lastCall().Body)
	}

	// A cached answer names what the conversion that made it dropped.
	body := `{"model":"gpt-4o","input":"cache me","tools":[{"type":"web_search"}]}`
	s.Fake.Enqueue(fakeupstream.Reply{Text: "cached"})
	for i, want := range []string{"miss", "hit"} {
		var resp *http.Response
		for range 50 { // the answer is stored as it is sent: a request right after may miss
			resp, _ = s.post(t, "/v1/responses", body, map[string]string{"X-Lynkr-Cache": "true"})
			if i == 0 || resp.Header.Get("X-Lynkr-Cache") == "hit" {
				break
			}
		}
		if resp.Header.Get("X-Lynkr-Cache") != want || resp.Header.Get("X-Lynkr-Dropped") != "web_search" {
			t.Errorf("%s: X-Lynkr-Cache %q, X-Lynkr-Dropped %q", want, resp.Header.Get("X-Lynkr-Cache"), resp.Header.Get("X-Lynkr-Dropped"))
		}
	}
}
