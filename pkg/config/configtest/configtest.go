// Package configtest checks, in a command's tests, that the command stops on a bad setting as
// every lynkr binary must: one line on stderr that names the setting, exit status 2, no panic.
package configtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Case is one bad setting: the command's arguments and environment, and what its one line of
// stderr must contain.
type Case struct {
	Name string
	Args []string
	Env  []string
	Want string
}

// BadSettingExits builds the command in the current directory as name and runs it once per
// case, with nothing of the test runner's environment but PATH and a private HOME and
// LYNKR_DATA_DIR.
func BadSettingExits(t *testing.T, name string, cases []Case) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.Args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LYNKR_DATA_DIR=" + t.TempDir()}, tt.Env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Errorf("exit: %v, want status 2", err)
			}
			out := stderr.String()
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, name+": ") || !strings.Contains(out, tt.Want) {
				t.Errorf("stderr %q: want one line \"%s: …%s…\"", out, name, tt.Want)
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
