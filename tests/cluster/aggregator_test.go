package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/tests/harness"
)

// clusterView is the part of the aggregator's GET /cluster this test reads.
type clusterView struct {
	Instances []struct {
		Instance string `json:"instance"`
		Service  string `json:"service"`
		Ready    bool   `json:"ready"`
	} `json:"instances"`
	Providers []struct {
		Name    string `json:"name"`
		Breaker struct {
			State string `json:"state"`
		} `json:"breaker"`
		Workers int `json:"workers"`
	} `json:"providers"`
}

func (v clusterView) names() []string {
	var out []string
	for _, in := range v.Instances {
		out = append(out, in.Service+"/"+in.Instance)
	}
	return out
}

func (v clusterView) breaker(provider string) string {
	for _, p := range v.Providers {
		if p.Name == provider {
			return p.Breaker.State
		}
	}
	return ""
}

func getCluster(base string) (clusterView, error) {
	var v clusterView
	resp, err := http.Get(base + "/cluster")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /cluster: %d", resp.StatusCode)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// The aggregator, its own process, finds every gateway and worker of a running cluster from
// their heartbeats, drops one that is killed, and shows a provider's breaker while it is open.
func TestAggregatorSeesTheClusterLoseAnInstanceAndABreakerOpen(t *testing.T) {
	c := startCluster(t, 2, 2, map[string]string{
		"API_RETRY_MAX_RETRIES":             "0",
		"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "3",
		"CIRCUIT_BREAKER_TIMEOUT":           "60000",
	}, fakeupstream.Reply{Echo: true})
	port := harness.FreePort(t)
	harness.Start(t, "aggregator", bin.Aggregator, map[string]string{
		"NATS_URL":      c.natsURL,
		"HOST":          "127.0.0.1",
		"PORT":          strconv.Itoa(port),
		"AGGREGATOR_ID": "aggregator-1",
		"LOG_LEVEL":     "warn",
	})
	agg := fmt.Sprintf("http://127.0.0.1:%d", port)
	harness.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)

	want := []string{"gateway/gateway-1", "gateway/gateway-2", "worker/worker-1", "worker/worker-2"}
	start := time.Now()
	var v clusterView
	waitFor(t, 10*time.Second, "the aggregator to list 2 gateways and 2 workers", func() bool {
		var err error
		v, err = getCluster(agg)
		if err != nil {
			return false
		}
		names := strings.Join(v.names(), ",")
		for _, w := range want {
			if !strings.Contains(names, w) {
				return false
			}
		}
		return true
	})
	t.Logf("all four instances listed %v after the aggregator started: %v", time.Since(start).Round(time.Millisecond), v.names())
	if got := v.breaker("openai"); got != "closed" {
		t.Errorf("breaker of openai = %q before any failure, want closed", got)
	}

	c.workers[1].Kill()
	killed := time.Now()
	waitFor(t, 30*time.Second, "the aggregator to drop the killed worker", func() bool {
		v, err := getCluster(agg)
		return err == nil && !strings.Contains(strings.Join(v.names(), ","), "worker/worker-2")
	})
	t.Logf("killed worker dropped after %v", time.Since(killed).Round(time.Millisecond))
	if v, _ := getCluster(agg); !strings.Contains(strings.Join(v.names(), ","), "worker/worker-1") {
		t.Errorf("the live worker went missing too: %v", v.names())
	}

	c.fake.FailRate(100, 1, fakeupstream.Fault{Status: http.StatusInternalServerError})
	for i := 0; i < 10; i++ {
		_, err := send(context.Background(), http.DefaultClient, c.gateways[0], chatPlain, "down")
		if err != nil && strings.Contains(err.Error(), "circuit breaker") {
			break
		}
	}
	waitFor(t, 10*time.Second, "the aggregator to show openai's breaker open", func() bool {
		v, err := getCluster(agg)
		return err == nil && v.breaker("openai") == "open"
	})
	resp, err := http.Get(agg + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`lynkr_cluster_circuit_breaker_state{provider="openai",state="open"} 1`,
		`lynkr_cluster_instances{service="gateway"} 2`,
		`lynkr_cluster_instances{service="worker"} 1`,
	} {
		if !strings.Contains(string(metrics), line) {
			t.Errorf("aggregator /metrics lacks %q", line)
		}
	}
}
