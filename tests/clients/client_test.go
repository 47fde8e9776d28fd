package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runTimeout bounds one run of a client.
const runTimeout = 120 * time.Second

// cli is how to run one coding client non-interactively against a base URL.
type cli struct {
	name string // its key in versions.json
	// shell is the client's shell tool, which the fake upstream calls in a tool loop.
	shell string
	// command returns the arguments and environment (beyond PATH, HOME and LANG) to answer
	// prompt with lynkr at base; tools allows the shell tool to run without asking. home and
	// work are the run's private home and working directories.
	command func(base, home, work, prompt string, tools bool) (args, env []string)
	// answer extracts the final answer from a finished run.
	answer func(r *result) (string, error)
	// setup, if set, prepares the run's private home directory.
	setup func(home string) error
}

// claudeCode is Claude Code: `claude -p PROMPT --output-format json`, Anthropic Messages to
// ANTHROPIC_BASE_URL.
var claudeCode = cli{
	name:  "claude-code",
	shell: "Bash",
	command: func(base, home, work, prompt string, tools bool) ([]string, []string) {
		args := []string{"-p", prompt, "--output-format", "json"}
		if tools {
			args = append(args, "--allowedTools", "Bash")
		}
		return args, []string{
			"ANTHROPIC_BASE_URL=" + base,
			"ANTHROPIC_API_KEY=sk-ant-client",
			"DISABLE_TELEMETRY=1",
			"DISABLE_AUTOUPDATER=1",
			"DISABLE_ERROR_REPORTING=1",
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		}
	},
	answer: func(r *result) (string, error) {
		var out struct {
			IsError        bool   `json:"is_error"`
			Result         string `json:"result"`
			APIErrorStatus any    `json:"api_error_status"`
		}
		line := lastJSONLine(r.Stdout)
		if err := json.Unmarshal([]byte(line), &out); err != nil {
			return "", fmt.Errorf("claude printed no JSON result (%v)", err)
		}
		if out.IsError {
			return out.Result, fmt.Errorf("claude reports an error (api_error_status %v): %s", out.APIErrorStatus, out.Result)
		}
		return out.Result, nil
	},
}

// codex is the Codex CLI: `codex exec`, OpenAI Responses to a model provider whose base_url is
// lynkr's /v1 (Codex has no Chat Completions mode any more).
var codex = cli{
	name:  "codex",
	shell: "exec_command",
	command: func(base, home, work, prompt string, tools bool) ([]string, []string) {
		args := []string{"exec", "--skip-git-repo-check", "--ephemeral", "--color", "never",
			"-c", `model_provider="lynkr"`,
			"-c", `model_providers.lynkr={name="lynkr",base_url="` + base + `/v1",wire_api="responses",env_key="OPENAI_API_KEY"}`,
			"-m", "gpt-4o",
			"-o", filepath.Join(home, "last-message.txt"),
			// The command runs unsandboxed: CI containers may not allow bubblewrap's namespaces,
			// and the suite tests the gateway, not Codex's sandbox.
			"--dangerously-bypass-approvals-and-sandbox",
			prompt,
		}
		return args, []string{"CODEX_HOME=" + home, "OPENAI_API_KEY=sk-client"}
	},
	answer: func(r *result) (string, error) {
		b, err := os.ReadFile(filepath.Join(r.Home, "last-message.txt"))
		if err != nil {
			return "", fmt.Errorf("codex wrote no last message: %w", err)
		}
		return string(b), nil
	},
}

// qwenCode is Qwen Code (a Gemini CLI fork): `qwen --auth-type openai PROMPT`, OpenAI Chat
// Completions to OPENAI_BASE_URL; its shell tool is run_shell_command.
var qwenCode = cli{
	name:  "qwen-code",
	shell: "run_shell_command",
	command: func(base, home, work, prompt string, tools bool) ([]string, []string) {
		// --yolo in both cases, so that the tools declared are the same: without it a headless
		// run leaves run_shell_command out.
		return []string{"--auth-type", "openai", "--yolo", prompt}, []string{
			"OPENAI_BASE_URL=" + base + "/v1",
			"OPENAI_API_KEY=sk-client",
			"OPENAI_MODEL=gpt-4o",
			"QWEN_CODE_SUPPRESS_YOLO_WARNING=1",
			"QWEN_TELEMETRY_ENABLED=false",
		}
	},
	answer: func(r *result) (string, error) { return r.Stdout, nil },
	// No update check, usage statistics or background memory agents: they send requests of
	// their own (the memory extractor to the model, through lynkr) and slow every run down.
	// The shell runs in a PTY: Qwen's child_process shell loses the command's output now and
	// then on a loaded machine ("Output: (empty)" with exit code 0, in about one run in three).
	setup: func(home string) error {
		if err := os.MkdirAll(filepath.Join(home, ".qwen"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(home, ".qwen", "settings.json"), []byte(`{
  "general": {"enableAutoUpdate": false},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "memory": {"enableManagedAutoMemory": false, "enableManagedAutoDream": false, "enableAutoSkill": false},
  "tools": {"shell": {"enableInteractiveShell": true}}
}
`), 0o644)
	},
}

// result is one finished run of a client.
type result struct {
	Client   installed
	Prompt   string
	Home     string
	Stdout   string
	Stderr   string
	ExitCode int
	Duration time.Duration
	Err      error // non-nil when it could not start or timed out
}

func (r *result) String() string {
	return fmt.Sprintf("%s %s %q: exit %d after %s (%v)\n--- stdout ---\n%s\n--- stderr ---\n%s",
		r.Client.Name, r.Client.Version, r.Prompt, r.ExitCode, r.Duration.Round(time.Millisecond), r.Err,
		tail(r.Stdout, 4000), tail(r.Stderr, 4000))
}

// run runs the client once with prompt against base, in a private home and working
// directory, bounded by runTimeout.
func (c cli) run(t *testing.T, inst installed, base, prompt string, tools bool) *result {
	t.Helper()
	home, work := t.TempDir(), t.TempDir()
	if c.setup != nil {
		if err := c.setup(home); err != nil {
			t.Fatalf("prepare %s's home: %v", c.name, err)
		}
	}
	args, env := c.command(base, home, work, prompt, tools)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, inst.Path, args...)
	cmd.Dir = work
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8", "TERM=dumb",
		"TMPDIR=" + os.TempDir()}, env...)
	cmd.Stdin = nil // /dev/null: no client waits for input
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The clients start helpers (shells, Codex's exec server); end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	err := cmd.Run()
	r := &result{Client: inst, Prompt: prompt, Home: home, Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(began)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.ExitCode, r.Err = -1, fmt.Errorf("no answer within %s", runTimeout)
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
	case err != nil:
		r.ExitCode, r.Err = -1, err
	}
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind
	}
	return r
}

// lastJSONLine is the last line of s that looks like a JSON object.
func lastJSONLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "{") {
			return l
		}
	}
	return ""
}
