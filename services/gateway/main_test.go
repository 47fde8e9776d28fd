package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadSettingExits builds the gateway command and runs it with one bad setting of each kind:
// it must exit with status 2 after printing one line that names the setting, and never panic.
func TestBadSettingExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want string // in the line printed
	}{
		{"no NATS_URL", nil, nil, "NATS_URL is required"},
		{"bad NATS_URL", nil, []string{"NATS_URL=ftp://x"}, "NATS_URL: want"},
		{"bad REDIS_URL", nil, []string{"NATS_URL=nats://127.0.0.1:1", "REDIS_URL=127.0.0.1:6379"}, "REDIS_URL="},
		{"bad port", nil, []string{"NATS_URL=nats://127.0.0.1:1", "PORT=http"}, "PORT="},
		{"bad bool", nil, []string{"NATS_URL=nats://127.0.0.1:1", "STRICT_MODELS=sometimes"}, "STRICT_MODELS="},
		{"bad LOG_LEVEL", nil, []string{"NATS_URL=nats://127.0.0.1:1", "LOG_LEVEL=trace"}, "LOG_LEVEL="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			// Only what the case sets: nothing of the test runner's environment.
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LYNKR_DATA_DIR=" + t.TempDir()}, tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Errorf("exit: %v, want status 2", err)
			}
			out := stderr.String()
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "gateway: ") || !strings.Contains(out, tt.want) {
				t.Errorf("stderr %q: want one line \"gateway: …%s…\"", out, tt.want)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
				t.Errorf("stderr shows a panic: %s", out)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
