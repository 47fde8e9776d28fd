package shed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// memSource reads the process's resident memory and the memory limit that applies to it from
// /proc and /sys/fs/cgroup under root ("/" in production; a directory laid out the same way in
// tests). Off Linux the files are missing and the memory signal reports itself unavailable.
type memSource struct {
	root     string
	pageSize int64
}

func newMemSource(root string) memSource {
	return memSource{root: root, pageSize: int64(os.Getpagesize())}
}

func (m memSource) file(p string) string { return filepath.Join(m.root, filepath.FromSlash(p)) }

// rss is the resident set size: the second field of /proc/self/statm, in pages.
func (m memSource) rss() (int64, error) {
	b, err := os.ReadFile(m.file("/proc/self/statm"))
	if err != nil {
		return 0, fmt.Errorf("resident memory: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("resident memory: /proc/self/statm %q: want at least two fields", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resident memory: /proc/self/statm: %w", err)
	}
	return pages * m.pageSize, nil
}

// MemoryLimit is the memory this process may use: the tightest cgroup memory limit on it or
// its ancestors, else the machine's RAM, and which it was ("cgroup" or "ram"). It is the
// limit the memory signal measures against.
func MemoryLimit() (int64, string, error) { return newMemSource("/").limit() }

// limit is the smaller of the machine's RAM and any cgroup memory limit on this process or
// its ancestors (v2 memory.max, else v1 memory.limit_in_bytes), and which one it was.
func (m memSource) limit() (int64, string, error) {
	ram, err := m.totalRAM()
	if err != nil {
		return 0, "", err
	}
	if cg, src := m.cgroupLimit(); cg > 0 && cg < ram {
		return cg, src, nil
	}
	return ram, "ram", nil
}

func (m memSource) totalRAM() (int64, error) {
	f, err := os.Open(m.file("/proc/meminfo"))
	if err != nil {
		return 0, fmt.Errorf("memory limit: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
		if err != nil || kb <= 0 {
			return 0, fmt.Errorf("memory limit: /proc/meminfo MemTotal %q: want kB", rest)
		}
		return kb << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("memory limit: /proc/meminfo: %w", err)
	}
	return 0, errors.New("memory limit: /proc/meminfo has no MemTotal")
}

// cgroupLimit is the tightest memory limit among the process's cgroups and their ancestors,
// or 0 when there is none.
func (m memSource) cgroupLimit() (int64, string) {
	b, err := os.ReadFile(m.file("/proc/self/cgroup"))
	if err != nil {
		return 0, ""
	}
	var best int64
	var src string
	take := func(base, cgPath, name, source string) {
		for p := path.Clean("/" + cgPath); ; p = path.Dir(p) {
			if n := readLimit(m.file(path.Join(base, p, name))); n > 0 && (best == 0 || n < best) {
				best, src = n, source
			}
			if p == "/" {
				return
			}
		}
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			take("/sys/fs/cgroup", parts[2], "memory.max", "cgroup")
		case hasController(parts[1], "memory"):
			take("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes", "cgroup")
		}
	}
	return best, src
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads one limit file: a number of bytes, or "max" (no limit, 0 here). cgroup v1
// writes "no limit" as a huge number, which the caller discards for exceeding RAM.
func readLimit(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
