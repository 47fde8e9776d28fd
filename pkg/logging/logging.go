// Package logging builds the JSON slog logger every lynkr service writes with: JSON lines to
// stderr and, when LOG_FILE_ENABLED, to a rotated file, each at its own level, with the
// trace_id and span_id of the OpenTelemetry span in the record's context.
//
// A service reads its settings once (ConfigFromEnv), opens the logger (Open), passes the
// *slog.Logger to its constructors and closes the file at exit. The record fields are slog's
// own: time, level, msg, then the attributes.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lynkr/lynkr/pkg/config"
)

// Config is the logging settings, with Lynkr's variable names.
type Config struct {
	// Level is the least severe record written to stderr (LOG_LEVEL: error, warn, info or
	// debug).
	Level slog.Level
	// File is the log file.
	File FileConfig
}

// FileConfig is the log file, written beside stderr through lumberjack.
type FileConfig struct {
	// Enabled writes the file (LOG_FILE_ENABLED).
	Enabled bool
	// Path is the file (LOG_FILE_PATH); its directory is created. Rotated files go beside it,
	// named with the time of their rotation (lynkr-2026-01-02T00-00-00.000.log).
	Path string
	// Level is the least severe record written to the file (LOG_FILE_LEVEL).
	Level slog.Level
	// Frequency starts a new file when the local day or hour changes (LOG_FILE_FREQUENCY:
	// daily or hourly).
	Frequency Frequency
	// MaxFiles is how many rotated files are kept beside the current one; older ones are
	// deleted (LOG_FILE_MAX_FILES).
	MaxFiles int
	// MaxSizeMB starts a new file when the current one would pass this many megabytes
	// (LOG_FILE_MAX_SIZE_MB).
	MaxSizeMB int
	// Now is the clock that decides when the day or hour changes; nil is time.Now. Tests set
	// it.
	Now func() time.Time
}

// Frequency is how often the log file is rotated by time.
type Frequency string

// The rotation frequencies.
const (
	Daily  Frequency = "daily"
	Hourly Frequency = "hourly"
)

// DefaultConfig is the configuration with no variables set: info to stderr, no file.
func DefaultConfig() Config {
	return Config{
		Level: slog.LevelInfo,
		File: FileConfig{
			Path:      "./logs/lynkr.log",
			Level:     slog.LevelDebug,
			Frequency: Daily,
			MaxFiles:  14,
			MaxSizeMB: 100,
		},
	}
}

// ConfigFromEnv reads LOG_LEVEL and the LOG_FILE_* variables over
// the defaults. The error names the first bad variable and what it expects; every variable
// is checked, LOG_FILE_ENABLED=false or not.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	d := DefaultConfig()
	e := config.NewEnv(lookup)
	c := Config{
		Level: level(e, "LOG_LEVEL", d.Level),
		File: FileConfig{
			Enabled:   e.Bool("LOG_FILE_ENABLED", d.File.Enabled),
			Path:      e.String("LOG_FILE_PATH", d.File.Path),
			Level:     level(e, "LOG_FILE_LEVEL", d.File.Level),
			Frequency: frequency(e, "LOG_FILE_FREQUENCY", d.File.Frequency),
			MaxFiles:  e.Int("LOG_FILE_MAX_FILES", d.File.MaxFiles, 1),
			MaxSizeMB: e.Int("LOG_FILE_MAX_SIZE_MB", d.File.MaxSizeMB, 1),
		},
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// level reads a level variable: error, warn, info or debug, in any case.
func level(e *config.Env, name string, def slog.Level) slog.Level {
	v := e.String(name, "")
	switch strings.ToLower(v) {
	case "":
		return def
	case "error":
		return slog.LevelError
	case "warn":
		return slog.LevelWarn
	case "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	}
	e.Check(false, name, v, "want error, warn, info or debug")
	return def
}

// frequency reads a rotation frequency variable: daily or hourly, in any case.
func frequency(e *config.Env, name string, def Frequency) Frequency {
	v := e.String(name, string(def))
	f := Frequency(strings.ToLower(v))
	ok := f == Daily || f == Hourly
	e.Check(ok, name, v, "want daily or hourly")
	if !ok {
		return def
	}
	return f
}

// Validate checks the settings, for a Config built in code as well as from the environment.
// The file settings are checked only when the file is enabled.
func (c Config) Validate() error {
	if !c.File.Enabled {
		return nil
	}
	f := c.File
	switch {
	case strings.TrimSpace(f.Path) == "":
		return errors.New("LOG_FILE_PATH is empty: want the log file's path, such as ./logs/lynkr.log")
	case f.Frequency != Daily && f.Frequency != Hourly:
		return fmt.Errorf("LOG_FILE_FREQUENCY=%q: want daily or hourly", f.Frequency)
	case f.MaxFiles < 1:
		return fmt.Errorf("LOG_FILE_MAX_FILES=%d: want an integer >= 1", f.MaxFiles)
	case f.MaxSizeMB < 1:
		return fmt.Errorf("LOG_FILE_MAX_SIZE_MB=%d: want an integer >= 1", f.MaxSizeMB)
	}
	return nil
}

// Open returns the logger cfg describes, writing JSON lines to stderr at cfg.Level and, when
// the file is enabled, to the file at cfg.File.Level. Records logged with a context carrying
// a valid span (InfoContext(ctx, …)) get its trace_id and span_id. Close the io.Closer at
// exit to close the file; without a file it does nothing.
//
// The file's directory is created and the file opened for appending here, so a path lynkr
// cannot write stops start-up with an error naming LOG_FILE_PATH.
func Open(cfg Config, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	var h slog.Handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.Level})
	var closer io.Closer = nopCloser{}
	if cfg.File.Enabled {
		f, err := openFile(cfg.File)
		if err != nil {
			return nil, nil, err
		}
		h = newFanout(h, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: cfg.File.Level}))
		closer = f
	}
	return slog.New(NewTraceHandler(h)), closer, nil
}

// New returns the logger the environment describes (ConfigFromEnv, then Open), writing to w
// as stderr. A log file it opens stays open for the life of the process; a service that
// closes its file at exit, calls ConfigFromEnv and Open itself.
func New(lookup config.Lookup, w io.Writer) (*slog.Logger, error) {
	cfg, err := ConfigFromEnv(lookup)
	if err != nil {
		return nil, err
	}
	log, _, err := Open(cfg, w)
	return log, err
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// fileError is a log file lynkr cannot write.
func fileError(path string, err error) error {
	return fmt.Errorf("LOG_FILE_PATH=%q: want a file lynkr can create and write: %w", path, err)
}

// ensureFile creates the file's directory and the file, and returns the file's last
// modification time (zero for a new or empty file).
func ensureFile(path string) (time.Time, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return time.Time{}, fileError(path, err)
	}
	var modified time.Time
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return time.Time{}, fileError(path, errors.New("not a regular file"))
		}
		if fi.Size() > 0 {
			modified = fi.ModTime()
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return time.Time{}, fileError(path, err)
	}
	return modified, f.Close()
}

// FromEnv is ConfigFromEnv then Open: a service's logger and the closer of its log file.
func FromEnv(lookup config.Lookup, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	cfg, err := ConfigFromEnv(lookup)
	if err != nil {
		return nil, nil, err
	}
	return Open(cfg, stderr)
}
