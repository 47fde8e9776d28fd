package aggregator_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus/bustest"
)

const chromium = "/usr/bin/chromium"

// headless runs Debian's headless Chromium on url with extra flags and returns its stdout.
func headless(t *testing.T, url string, extra ...string) []byte {
	t.Helper()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(extra, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// row is the markup of the table row with attribute attr="value".
func row(dom, attr, value string) string {
	re := regexp.MustCompile(`(?s)<tr [^>]*` + attr + `="` + regexp.QuoteMeta(value) + `"[^>]*>.*?</tr>`)
	return re.FindString(dom)
}

func TestDashboardInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: CI must install it (apt-get install chromium)", chromium)
		}
		t.Skipf("%s is missing: apt-get install chromium to run the dashboard in a browser", chromium)
	}
	s := bustest.Server(t)
	_, kv := setUpBus(t, s)
	_, base, _ := startAggregator(t, s, testConfig())
	fake{service: "gateway", instance: "gw-east-1", reqs: 120, errs: 3, active: 4}.start(t, s)
	fake{service: "worker", instance: "wk-east-1", providers: []string{"anthropic", "ollama"}, reqs: 118, in: 42000, out: 6100, active: 4}.start(t, s)

	pub := breaker.NewPublisher(kv, "wk-east-1", quiet())
	run(t, pub.Run)
	now := time.Now()
	pub.Notify(breaker.Change{Provider: "anthropic", From: breaker.StateClosed, To: breaker.StateOpen, At: now, Until: now.Add(time.Minute)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "both instances with rates and the open breaker", func() bool {
		c := cluster(t, base)
		g, okg := findInstance(c, "gw-east-1")
		_, okw := findInstance(c, "wk-east-1")
		p, _ := findProvider(c, "anthropic")
		return okg && okw && g.RequestRate > 0 && p.Breaker.State == "open"
	})

	url := base + "/cluster/dashboard"
	began := time.Now()
	dom := string(headless(t, url, "--dump-dom"))
	t.Logf("dump-dom took %s", time.Since(began).Round(time.Millisecond))
	if !strings.Contains(dom, `data-loaded="true"`) {
		t.Fatalf("the page did not render /cluster:\n%s", dom)
	}
	for _, instance := range []string{"gw-east-1", "wk-east-1"} {
		if r := row(dom, "data-instance", instance); r == "" || !strings.Contains(r, "ready") {
			t.Errorf("no ready row for instance %s in:\n%s", instance, dom)
		}
	}
	anthropic := row(dom, "data-provider", "anthropic")
	if !strings.Contains(anthropic, `class="breaker breaker-open"`) || !strings.Contains(anthropic, `data-breaker="open"`) {
		t.Errorf("anthropic's row does not show an open breaker: %s", anthropic)
	}
	if ollama := row(dom, "data-provider", "ollama"); !strings.Contains(ollama, `class="breaker breaker-closed"`) {
		t.Errorf("ollama's row does not show a closed breaker: %s", ollama)
	}

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	began = time.Now()
	headless(t, url, "--screenshot="+shot, "--window-size=1280,800")
	t.Logf("screenshot took %s", time.Since(began).Round(time.Millisecond))
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10<<10 {
		t.Errorf("screenshot is not a plausible PNG (%d bytes)", len(png))
	}
	if dir := os.Getenv("LYNKR_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "aggregator-dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot copied to %s", filepath.Join(dir, "aggregator-dashboard.png"))
	}
}
