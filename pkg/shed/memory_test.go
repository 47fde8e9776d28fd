package shed

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTree lays out files under a temporary root shaped like /.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const meminfo8G = "MemTotal:        8388608 kB\nMemFree:  100 kB\n"

func TestMemoryLimit(t *testing.T) {
	const gib = int64(1) << 30
	tests := []struct {
		name    string
		files   map[string]string
		want    int64
		wantSrc string
	}{
		{name: "no cgroup: RAM", files: map[string]string{"/proc/meminfo": meminfo8G}, want: 8 * gib, wantSrc: "ram"},
		{name: "cgroup v2 in a container", files: map[string]string{
			"/proc/meminfo": meminfo8G, "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "2147483648\n",
		}, want: 2 * gib, wantSrc: "cgroup"},
		{name: "cgroup v2 max means none", files: map[string]string{
			"/proc/meminfo": meminfo8G, "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n",
		}, want: 8 * gib, wantSrc: "ram"},
		{name: "cgroup v2 limit on an ancestor", files: map[string]string{
			"/proc/meminfo":     meminfo8G,
			"/proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
			"/sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
			"/sys/fs/cgroup/kubepods/pod1/memory.max":     "1073741824\n",
			"/sys/fs/cgroup/kubepods/memory.max":          "4294967296\n",
		}, want: 1 * gib, wantSrc: "cgroup"},
		{name: "cgroup v1 limit", files: map[string]string{
			"/proc/meminfo":     meminfo8G,
			"/proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
			"/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "536870912\n",
		}, want: gib / 2, wantSrc: "cgroup"},
		{name: "cgroup v1 unlimited is a huge number", files: map[string]string{
			"/proc/meminfo":     meminfo8G,
			"/proc/self/cgroup": "4:cpuset,memory:/\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, want: 8 * gib, wantSrc: "ram"},
		{name: "cgroup above RAM: RAM", files: map[string]string{
			"/proc/meminfo": meminfo8G, "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "17179869184\n",
		}, want: 8 * gib, wantSrc: "ram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src, err := newMemSource(writeTree(t, tt.files)).limit()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || src != tt.wantSrc {
				t.Errorf("limit = %d (%s), want %d (%s)", got, src, tt.want, tt.wantSrc)
			}
		})
	}
}

func TestMemoryReadErrors(t *testing.T) {
	m := newMemSource(writeTree(t, map[string]string{"/proc/self/statm": "12\n", "/proc/meminfo": "MemFree: 1 kB\n"}))
	if _, err := m.rss(); err == nil {
		t.Error("rss from a one-field statm: no error")
	}
	if _, _, err := m.limit(); err == nil {
		t.Error("limit without MemTotal: no error")
	}
	m = newMemSource(writeTree(t, map[string]string{"/proc/self/statm": "100 25 3 1 0 20 0\n"}))
	if got, err := m.rss(); err != nil || got != 25*m.pageSize {
		t.Errorf("rss = %d, %v; want %d", got, err, 25*m.pageSize)
	}
}

// A process whose memory cannot be read (no /proc) sheds on nothing but its other signals,
// and says why in the snapshot.
func TestMemoryUnavailableDoesNotShed(t *testing.T) {
	c := DefaultConfig()
	c.MemoryThreshold, c.HeapThreshold = 0.0001, 0
	s, err := newShedder(c, newMemSource(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(); err != nil {
		t.Fatalf("Begin with unreadable memory: %v", err)
	}
	s.End()
	snap := s.Snapshot()
	if snap.Memory.Error == "" || snap.Memory.LimitBytes != 0 {
		t.Errorf("snapshot does not say memory is unreadable: %+v", snap)
	}
}
