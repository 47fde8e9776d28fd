// Command bench measures what lynkr adds on top of calling an upstream directly, on one
// machine: the embedded default (services/lynkr: gateway, JetStream, worker in one process)
// in front of the fake upstream on loopback, against that same upstream called directly, in
// the same run, with load from wrk.
//
//	go run ./tests/cmd/bench            # what `task bench` runs
//	go run ./tests/cmd/bench -quick     # shorter runs, for a smoke check
//	go run ./tests/cmd/bench -pgo services/lynkr/default.pgo   # what `task pgo` runs
//
// It reports added latency (p50/p90/p99) at concurrency 1, added time to the first streamed
// token at concurrency 1, non-streaming throughput at concurrency 64 and streaming throughput
// at concurrency 16 as ratios to direct, and lynkr's RSS idle, after the load, and after
// 10,000 and 50,000 requests (a leak shows as growth between the last two).
//
// Throughput is measured in rounds, each a direct run followed by a run through lynkr, and
// the ratio reported is the median of the rounds' ratios, with their range: on a shared
// virtual machine the speed of the cores drifts by a third within minutes, and a single
// direct run and a single lynkr run can land on either side of such a drift.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	warm     time.Duration
	latency  time.Duration // of each latency run
	duration time.Duration // of each side of a throughput round
	rounds   int           // throughput rounds (pairs of runs, direct then lynkr)
	ttftRuns int
	leakA    int
	leakB    int
}

func run() error {
	quick := flag.Bool("quick", false, "short runs")
	pgo := flag.String("pgo", "", "instead of measuring, write a CPU profile of lynkr under the bench's loads to this file "+
		"(services/lynkr/default.pgo, which go build uses to optimize the hot paths)")
	flag.Parse()
	opt := options{warm: 35 * time.Second, latency: 10 * time.Second, duration: 5 * time.Second, rounds: 5, ttftRuns: 500, leakA: 10_000, leakB: 50_000}
	if *quick {
		opt = options{warm: 5 * time.Second, latency: 3 * time.Second, duration: 3 * time.Second, rounds: 1, ttftRuns: 100, leakA: 2_000, leakB: 6_000}
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (apt-get install wrk)")
	}
	dir, err := os.MkdirTemp("", "lynkr-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct{ out, pkg string }{
		{"lynkr", "./services/lynkr"},
		{"fakeupstream", "./tests/cmd/fakeupstream"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}

	upPort, lkPort, pprofPort := freePort(), freePort(), freePort()
	upstream := fmt.Sprintf("http://127.0.0.1:%d", upPort)
	gateway := fmt.Sprintf("http://127.0.0.1:%d", lkPort)
	up, err := start(filepath.Join(dir, "fakeupstream"), nil, "-addr", fmt.Sprintf("127.0.0.1:%d", upPort), "-words", "50", "-chunks", "20")
	if err != nil {
		return err
	}
	defer stop(up)
	env := []string{
		"PORT=" + strconv.Itoa(lkPort), "HOST=127.0.0.1",
		"LYNKR_DATA_DIR=" + filepath.Join(dir, "data"),
		"MODEL_PROVIDER=openai", "OPENAI_API_KEY=sk-bench",
		"OPENAI_ENDPOINT=" + upstream + "/v1/chat/completions",
		"LOG_LEVEL=warn",
	}
	if *pgo != "" {
		env = append(env, fmt.Sprintf("PPROF_ADDR=127.0.0.1:%d", pprofPort))
	}
	lk, err := start(filepath.Join(dir, "lynkr"), env)
	if err != nil {
		return err
	}
	defer stop(lk)
	if err := waitHTTP(upstream+"/v1/models", 10*time.Second); err != nil {
		return err
	}
	if err := waitHTTP(gateway+"/health/ready", 20*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)
	idle, _ := rss(lk.Process.Pid)

	plain := `{"model":"gpt-4o","max_tokens":64,"messages":[{"role":"user","content":"Write a haiku about message buses."}]}`
	streamed := `{"model":"gpt-4o","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Write a haiku about message buses."}]}`
	path := "/v1/chat/completions"
	if *pgo != "" {
		return profile(dir, *pgo, fmt.Sprintf("http://127.0.0.1:%d", pprofPort), gateway, plain, streamed)
	}

	fmt.Printf("lynkr bench: %s per latency run, throughput in %d rounds of %s per side, GOMAXPROCS of this machine: %d cores\n\n",
		opt.latency, opt.rounds, opt.duration, numCPU())
	// Warm both paths.
	for _, base := range []string{upstream, gateway} {
		if _, err := wrk(dir, base+path, plain, 4, 2*time.Second); err != nil {
			return err
		}
	}

	lat, err := measure(dir, upstream+path, gateway+path, plain, 1, 1, opt.latency)
	if err != nil {
		return err
	}
	ttftDirect, err := ttft(upstream+path, streamed, opt.ttftRuns)
	if err != nil {
		return err
	}
	ttftLynkr, err := ttft(gateway+path, streamed, opt.ttftRuns)
	if err != nil {
		return err
	}
	tput, err := measure(dir, upstream+path, gateway+path, plain, 64, opt.rounds, opt.duration)
	if err != nil {
		return err
	}
	stput, err := measure(dir, upstream+path, gateway+path, streamed, 16, opt.rounds, opt.duration)
	if err != nil {
		return err
	}
	afterLoad, _ := rss(lk.Process.Pid)

	fmt.Println("| measure | direct | through lynkr | lynkr adds / ratio |")
	fmt.Println("|---|---|---|---|")
	l := lat[0]
	for _, q := range []struct {
		name string
		d, l time.Duration
	}{
		{"latency p50, c=1", l.direct.p50, l.lynkr.p50},
		{"latency p90, c=1", l.direct.p90, l.lynkr.p90},
		{"latency p99, c=1", l.direct.p99, l.lynkr.p99},
		{"time to first token p50, c=1", ttftDirect.p50, ttftLynkr.p50},
		{"time to first token p90, c=1", ttftDirect.p90, ttftLynkr.p90},
	} {
		sign := "+" // a negative difference is noise in the direct run's tail: shown as it is
		if q.l < q.d {
			sign = ""
		}
		fmt.Printf("| %s | %s | %s | %s%s |\n", q.name, us(q.d), us(q.l), sign, us(q.l-q.d))
	}
	for _, t := range []struct {
		name   string
		rounds []pair
	}{{"non-streaming throughput, c=64", tput}, {"streaming throughput, c=16", stput}} {
		m := median(t.rounds)
		lo, hi := ratioRange(t.rounds)
		fmt.Printf("| %s | %.0f req/s | %.0f req/s | %.2f of direct (rounds %.2f–%.2f) |\n",
			t.name, m.direct.rps, m.lynkr.rps, m.ratio(), lo, hi)
	}
	errs := l.lynkr.errors
	for _, p := range slices.Concat(tput, stput) {
		errs += p.lynkr.errors
	}
	if errs > 0 {
		fmt.Printf("\nlynkr answered %d requests with an error status during the runs\n", errs)
	}
	rate := median(tput).lynkr.rps

	// Leak check: RSS after leakA and after leakB more requests, from a steady state. JetStream
	// remembers every request id of its duplicate window (30 s), so RSS follows the request
	// rate of the last 30 s; a warm-up at the leak check's own rate fills that window first, so
	// what grows after it grows with the number of requests.
	if _, err := wrk(dir, gateway+path, plain, 64, opt.warm); err != nil {
		return err
	}
	served := 0
	load := func(upTo int) (int64, error) {
		for served < upTo {
			r, err := wrkN(dir, gateway+path, plain, 64, upTo-served, rate)
			if err != nil {
				return 0, err
			}
			served += r
		}
		return rss(lk.Process.Pid)
	}
	rssA, err := load(opt.leakA)
	if err != nil {
		return err
	}
	rssB, err := load(opt.leakB)
	if err != nil {
		return err
	}
	fmt.Printf("\nRSS of lynkr: idle %s, after the load above %s; after a %s warm-up, %d more requests %s, %d more %s (%+.1f%%)\n",
		mb(idle), mb(afterLoad), opt.warm, opt.leakA, mb(rssA), opt.leakB, mb(rssB), 100*float64(rssB-rssA)/float64(rssA))
	return nil
}

// pair is one round: the same load sent directly, then through lynkr.
type pair struct{ direct, lynkr wrkResult }

func (p pair) ratio() float64 { return p.lynkr.rps / max(p.direct.rps, 1) }

// measure runs rounds of the same load against direct, then against lynkr, for d each.
func measure(dir, direct, lynkr, body string, conns, rounds int, d time.Duration) ([]pair, error) {
	var ps []pair
	for range rounds {
		dr, err := wrk(dir, direct, body, conns, d)
		if err != nil {
			return nil, err
		}
		lr, err := wrk(dir, lynkr, body, conns, d)
		if err != nil {
			return nil, err
		}
		ps = append(ps, pair{dr, lr})
	}
	return ps, nil
}

// median is the round of the median ratio (the lower middle one of an even number).
func median(ps []pair) pair {
	s := slices.SortedFunc(slices.Values(ps), func(a, b pair) int { return cmp.Compare(a.ratio(), b.ratio()) })
	return s[(len(s)-1)/2]
}

// ratioRange is the lowest and the highest ratio of the rounds.
func ratioRange(ps []pair) (lo, hi float64) {
	lo, hi = ps[0].ratio(), ps[0].ratio()
	for _, p := range ps[1:] {
		lo, hi = min(lo, p.ratio()), max(hi, p.ratio())
	}
	return lo, hi
}

type wrkResult struct {
	p50, p90, p99 time.Duration
	rps           float64
	requests      int
	errors        int
}

var (
	reLatency  = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// wrk runs wrk with a POST of body for d and parses its report.
func wrk(dir, url, body string, conns int, d time.Duration) (wrkResult, error) {
	script := filepath.Join(dir, "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return wrkResult{}, err
	}
	threads := min(conns, 2)
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", d.String(),
		"--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	var r wrkResult
	for _, m := range reLatency.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		dur := time.Duration(v * float64(unit))
		switch m[1] {
		case "50":
			r.p50 = dur
		case "90":
			r.p90 = dur
		case "99":
			r.p99 = dur
		}
	}
	if m := reRPS.FindStringSubmatch(string(out)); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reRequests.FindStringSubmatch(string(out)); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	if m := reNon2xx.FindStringSubmatch(string(out)); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

// wrkN sends about n requests (wrk counts time, not requests: a run as long as n takes at
// rate) and returns how many were sent.
func wrkN(dir, url, body string, conns, n int, rate float64) (int, error) {
	d := time.Duration(float64(n) / max(rate, 1) * float64(time.Second))
	r, err := wrk(dir, url, body, conns, max(d.Round(time.Second), time.Second)) // wrk takes whole units
	return r.requests, err
}

type ttftResult struct{ p50, p90 time.Duration }

// ttft measures, one request at a time, how long the first content chunk of a stream takes.
func ttft(url, body string, runs int) (ttftResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	var ds []time.Duration
	for range runs {
		start := time.Now()
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return ttftResult{}, err
		}
		sc := bufio.NewScanner(resp.Body)
		got := false
		for sc.Scan() {
			if !got && strings.Contains(sc.Text(), `"content":"`) {
				ds = append(ds, time.Since(start))
				got = true
			}
		}
		resp.Body.Close()
		if !got {
			return ttftResult{}, fmt.Errorf("no content chunk from %s", url)
		}
	}
	slices.Sort(ds)
	return ttftResult{p50: ds[len(ds)/2], p90: ds[len(ds)*9/10]}, nil
}

// profile writes a CPU profile of lynkr to out while it serves, in turn, the loads the bench
// measures and Claude Code's kind of request: an Anthropic stream with tools, converted for
// the OpenAI-format upstream.
func profile(dir, out, pprofBase, gateway, plain, streamed string) error {
	const anthropic = `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"system":"You are terse.",` +
		`"messages":[{"role":"user","content":"Write a haiku about message buses."}],` +
		`"tools":[{"name":"read","description":"Read a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}]}`
	loads := []struct {
		path, body string
		conns      int
		d          time.Duration
	}{
		{"/v1/chat/completions", plain, 64, 20 * time.Second},
		{"/v1/chat/completions", streamed, 16, 12 * time.Second},
		{"/v1/messages", anthropic, 16, 8 * time.Second},
	}
	if _, err := wrk(dir, gateway+loads[0].path, plain, 64, 3*time.Second); err != nil { // warm up
		return err
	}
	var total time.Duration
	for _, l := range loads {
		total += l.d
	}
	type result struct {
		data []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", pprofBase, int(total.Seconds())))
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("profile: %s: %s", resp.Status, b)
		}
		got <- result{b, err}
	}()
	for _, l := range loads {
		r, err := wrk(dir, gateway+l.path, l.body, l.conns, l.d)
		if err != nil {
			return err
		}
		if r.errors > 0 {
			return fmt.Errorf("%s: %d of %d requests failed: a profile of errors would optimize the wrong paths", l.path, r.errors, r.requests)
		}
		fmt.Printf("%s at c=%d: %.0f req/s\n", l.path, l.conns, r.rps)
	}
	r := <-got
	if r.err != nil {
		return r.err
	}
	if err := os.WriteFile(out, r.data, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", out, len(r.data))
	return nil
}

func start(bin string, env []string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func waitHTTP(url string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %s", url, d)
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rss reads a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func numCPU() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func us(d time.Duration) string {
	if d < 10*time.Millisecond && d > -10*time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
