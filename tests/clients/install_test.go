package clients

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// versions.json pins the release of every client the suite runs; it is the one place to
// change them.
//
//go:embed versions.json
var versionsJSON []byte

// pin is one client's npm package, its pinned version and the program it installs.
type pin struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Bin     string `json:"bin"`
}

// installTimeout bounds one npm install (the largest client is ~424 MB).
const installTimeout = 6 * time.Minute

// latest reports whether the suite runs the newest releases (task clients-latest) instead of
// the pinned ones.
func latest() bool { return os.Getenv("LYNKR_CLIENTS") == "latest" }

// inCI reports whether a missing client fails the test instead of skipping it.
func inCI() bool { return os.Getenv("CI") != "" }

func pins() (map[string]pin, error) {
	var p map[string]pin
	if err := json.Unmarshal(versionsJSON, &p); err != nil {
		return nil, fmt.Errorf("versions.json: %w", err)
	}
	return p, nil
}

// cacheDir is where the clients are installed, one npm prefix per package and version:
// LYNKR_CLIENTS_CACHE, else lynkr-clients under the user's cache directory ($XDG_CACHE_HOME
// or ~/.cache).
func cacheDir() (string, error) {
	if d := os.Getenv("LYNKR_CLIENTS_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set LYNKR_CLIENTS_CACHE): %w", err)
	}
	return filepath.Join(d, "lynkr-clients"), nil
}

// errNoNPM means npm is not installed; outside CI the tests skip.
var errNoNPM = errors.New("npm is not on PATH (install Node.js 20+ and npm to run the real clients)")

// installed is one client ready to run.
type installed struct {
	Name    string
	Package string
	Version string // the version actually installed
	Path    string // the program
}

var (
	installMu   sync.Mutex
	installOnce = map[string]*installResult{}
)

type installResult struct {
	once sync.Once
	inst installed
	err  error
}

// install returns the client name, installing it into the cache on first use in this test
// binary (a later run reuses the cache). Without npm it skips the test, unless CI is set; any
// other failure fails the test.
func install(t *testing.T, name string) installed {
	t.Helper()
	installMu.Lock()
	r := installOnce[name]
	if r == nil {
		r = &installResult{}
		installOnce[name] = r
	}
	installMu.Unlock()
	r.once.Do(func() { r.inst, r.err = installClient(name) })
	if r.err != nil {
		if errors.Is(r.err, errNoNPM) && !inCI() {
			t.Skipf("%s: %v", name, r.err)
		}
		t.Fatalf("install %s: %v", name, r.err)
	}
	return r.inst
}

func installClient(name string) (installed, error) {
	all, err := pins()
	if err != nil {
		return installed{}, err
	}
	p, ok := all[name]
	if !ok {
		return installed{}, fmt.Errorf("%s is not in versions.json", name)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return installed{}, errNoNPM
	}
	if _, err := exec.LookPath("node"); err != nil {
		return installed{}, errNoNPM
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	version := p.Version
	if latest() {
		out, err := run(ctx, "", npm, "view", p.Package+"@latest", "version")
		if err != nil {
			return installed{}, fmt.Errorf("npm view %s: %w", p.Package, err)
		}
		version = strings.TrimSpace(out)
	}
	cache, err := cacheDir()
	if err != nil {
		return installed{}, err
	}
	prefix := filepath.Join(cache, p.Package+"@"+version)
	bin := filepath.Join(prefix, "node_modules", ".bin", p.Bin)
	inst := installed{Name: name, Package: p.Package, Version: version, Path: bin}
	if _, err := os.Stat(bin); err == nil {
		return inst, nil
	}
	// Install into a fresh directory beside the final one and rename it into place, so an
	// interrupted install never leaves a half-filled prefix that later runs would trust.
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return installed{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(prefix), filepath.Base(prefix)+".tmp-")
	if err != nil {
		return installed{}, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if _, err := run(ctx, tmp, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--loglevel=error", p.Package+"@"+version); err != nil {
		return installed{}, fmt.Errorf("npm install %s@%s (after %s): %w", p.Package, version, time.Since(start).Round(time.Second), err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "node_modules", ".bin", p.Bin)); err != nil {
		return installed{}, fmt.Errorf("npm installed %s@%s but not its program %s: %w", p.Package, version, p.Bin, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return installed{}, err
	}
	if err := os.Rename(tmp, prefix); err != nil {
		// Another test binary may have finished the same install first.
		if _, serr := os.Stat(bin); serr != nil {
			return installed{}, fmt.Errorf("move the install into %s: %w", prefix, err)
		}
	}
	return inst, nil
}

// run runs a command and returns its standard output; an error carries its standard error.
func run(ctx context.Context, dir, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s", err, tail(stderr.String(), 2000))
	}
	return stdout.String(), nil
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
