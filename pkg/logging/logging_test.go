package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/config"
)

func TestConfigFromEnvDefaults(t *testing.T) {
	c, err := ConfigFromEnv(config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Level: slog.LevelInfo,
		File:  FileConfig{Path: "./logs/lynkr.log", Level: slog.LevelDebug, Frequency: Daily, MaxFiles: 14, MaxSizeMB: 100},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got  %+v\n want %+v", c, want)
	}
}

func TestConfigFromEnv(t *testing.T) {
	c, err := ConfigFromEnv(config.Map(map[string]string{
		"LOG_LEVEL":            "WARN",
		"LOG_FILE_ENABLED":     "true",
		"LOG_FILE_PATH":        "/var/log/lynkr/x.log",
		"LOG_FILE_LEVEL":       "error",
		"LOG_FILE_FREQUENCY":   "Hourly",
		"LOG_FILE_MAX_FILES":   "3",
		"LOG_FILE_MAX_SIZE_MB": "7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Level: slog.LevelWarn,
		File:  FileConfig{Enabled: true, Path: "/var/log/lynkr/x.log", Level: slog.LevelError, Frequency: Hourly, MaxFiles: 3, MaxSizeMB: 7},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\n want %+v", c, want)
	}
}

func TestBadSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // the error's start: the variable and its value
		says string // what it expects
	}{
		{map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL="verbose"`, "want error, warn, info or debug"},
		{map[string]string{"LOG_LEVEL": "info+2"}, `LOG_LEVEL="info+2"`, "want error, warn, info or debug"},
		{map[string]string{"LOG_FILE_LEVEL": "trace"}, `LOG_FILE_LEVEL="trace"`, "want error, warn, info or debug"},
		{map[string]string{"LOG_FILE_ENABLED": "maybe"}, `LOG_FILE_ENABLED="maybe"`, "want true or false"},
		{map[string]string{"LOG_FILE_FREQUENCY": "weekly"}, `LOG_FILE_FREQUENCY="weekly"`, "want daily or hourly"},
		{map[string]string{"LOG_FILE_MAX_FILES": "0"}, `LOG_FILE_MAX_FILES="0"`, "want an integer >= 1"},
		{map[string]string{"LOG_FILE_MAX_FILES": "many"}, `LOG_FILE_MAX_FILES="many"`, "want an integer >= 1"},
		{map[string]string{"LOG_FILE_MAX_SIZE_MB": "-5"}, `LOG_FILE_MAX_SIZE_MB="-5"`, "want an integer >= 1"},
	} {
		_, err := ConfigFromEnv(config.Map(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%v: error %v, want %s…%s", tc.env, err, tc.want, tc.says)
		}
		if _, err := New(config.Map(tc.env), &bytes.Buffer{}); err == nil {
			t.Errorf("%v: New took it", tc.env)
		}
	}
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	ok := DefaultConfig()
	ok.File.Enabled = true
	for _, tc := range []struct {
		change func(*FileConfig)
		want   string
	}{
		{func(f *FileConfig) { f.Path = " " }, "LOG_FILE_PATH"},
		{func(f *FileConfig) { f.Frequency = "" }, "LOG_FILE_FREQUENCY"},
		{func(f *FileConfig) { f.MaxFiles = 0 }, "LOG_FILE_MAX_FILES"},
		{func(f *FileConfig) { f.MaxSizeMB = 0 }, "LOG_FILE_MAX_SIZE_MB"},
	} {
		c := ok
		tc.change(&c.File)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want an error naming %s", err, tc.want)
		}
		if _, _, err := Open(c, &bytes.Buffer{}); err == nil {
			t.Errorf("Open took a bad %s", tc.want)
		}
		c.File.Enabled = false
		if err := c.Validate(); err != nil {
			t.Errorf("a disabled file is not checked: %v", err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}

func TestOpenUnwritablePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(blocker, "lynkr.log"), dir} {
		c := DefaultConfig()
		c.File.Enabled, c.File.Path = true, path
		if _, _, err := Open(c, &bytes.Buffer{}); err == nil || !strings.HasPrefix(err.Error(), "LOG_FILE_PATH=") {
			t.Errorf("Open(%s) = %v, want an error naming LOG_FILE_PATH", path, err)
		}
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "lynkr.log")
	log, closer, err := openEnv(t, map[string]string{"LOG_FILE_ENABLED": "true", "LOG_FILE_PATH": path})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, path); len(lines) != 1 || lines[0]["msg"] != "hello" {
		t.Errorf("file lines %v", lines)
	}
}

// openEnv is ConfigFromEnv then Open with a throwaway stderr.
func openEnv(t *testing.T, env map[string]string) (*slog.Logger, io.Closer, error) {
	t.Helper()
	c, err := ConfigFromEnv(config.Map(env))
	if err != nil {
		return nil, nil, err
	}
	return Open(c, &bytes.Buffer{})
}

func TestLevelsPerSink(t *testing.T) {
	for _, tc := range []struct {
		stderrLevel, fileLevel string
		stderr, file           []string
	}{
		{"warn", "debug", []string{"WARN", "ERROR"}, []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"debug", "error", []string{"DEBUG", "INFO", "WARN", "ERROR"}, []string{"ERROR"}},
		{"info", "info", []string{"INFO", "WARN", "ERROR"}, []string{"INFO", "WARN", "ERROR"}},
	} {
		path := filepath.Join(t.TempDir(), "lynkr.log")
		c, err := ConfigFromEnv(config.Map(map[string]string{
			"LOG_LEVEL": tc.stderrLevel, "LOG_FILE_ENABLED": "true", "LOG_FILE_PATH": path, "LOG_FILE_LEVEL": tc.fileLevel,
		}))
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		log, closer, err := Open(c, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		log = log.With("service", "test")
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
		got := levels(t, parseLines(t, stderr.Bytes()))
		if !reflect.DeepEqual(got, tc.stderr) {
			t.Errorf("stderr at %s: %v, want %v", tc.stderrLevel, got, tc.stderr)
		}
		fileLines := readLines(t, path)
		if got := levels(t, fileLines); !reflect.DeepEqual(got, tc.file) {
			t.Errorf("file at %s: %v, want %v", tc.fileLevel, got, tc.file)
		}
		for _, l := range fileLines {
			for _, k := range []string{"time", "level", "msg", "service"} {
				if _, ok := l[k]; !ok {
					t.Errorf("file line %v lacks %s", l, k)
				}
			}
		}
	}
}

func TestNewKeepsStderrOnly(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(config.Map(map[string]string{"LOG_LEVEL": "debug"}), &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("d", "n", 1)
	lines := parseLines(t, buf.Bytes())
	if len(lines) != 1 || lines[0]["msg"] != "d" || lines[0]["level"] != "DEBUG" || lines[0]["n"] != 1.0 {
		t.Errorf("lines %v", lines)
	}
}

func parseLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseLines(t, b)
}

func levels(t *testing.T, lines []map[string]any) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		out = append(out, l["level"].(string))
	}
	return out
}
