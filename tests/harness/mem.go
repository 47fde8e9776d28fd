package harness

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// RSS is the process's resident memory in bytes, from VmRSS in /proc/<pid>/status (Linux).
func (p *Proc) RSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("resident memory of %s: %w", p.Name, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("resident memory of %s: VmRSS %q: %w", p.Name, rest, err)
		}
		return kb << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("resident memory of %s: %w", p.Name, err)
	}
	return 0, fmt.Errorf("resident memory of %s: no VmRSS in /proc/%d/status", p.Name, p.Pid())
}

// Metric reads the value of one series from the Prometheus text a service serves at url (its
// /metrics), with client. name is the series as the text writes it: go_memstats_heap_inuse_bytes,
// or with its labels, lynkr_connections_refused_total{reason="total"}.
func Metric(client *http.Client, url, name string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, fmt.Errorf("metric %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metric %s: GET %s: %s", name, url, resp.Status)
	}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		value, ok := strings.CutPrefix(s.Text(), name+" ")
		if !ok {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body) // the connection can serve the next scrape
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %q: %w", name, value, err)
		}
		return v, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("metric %s: %w", name, err)
	}
	return 0, fmt.Errorf("metric %s: not served at %s", name, url)
}
