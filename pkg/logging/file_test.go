package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for FileConfig.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func openFileLogger(t *testing.T, path string, freq Frequency, maxFiles int, clk *clock) (*slog.Logger, io.Closer) {
	t.Helper()
	c := DefaultConfig()
	c.File = FileConfig{Enabled: true, Path: path, Level: slog.LevelDebug, Frequency: freq, MaxFiles: maxFiles, MaxSizeMB: 1, Now: clk.now}
	log, closer, err := Open(c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	return log, closer
}

// rotated lists the rotated files beside path, oldest first.
func rotated(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(path), "lynkr-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// waitRotated waits for lumberjack, which deletes old files on its own goroutine, to leave n
// rotated files.
func waitRotated(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		files := rotated(t, path)
		if len(files) == n || time.Now().After(deadline) {
			if len(files) != n {
				t.Fatalf("rotated files %v, want %d", files, n)
			}
			return files
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func messages(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, l := range readLines(t, path) {
		out = append(out, l["msg"].(string))
	}
	return out
}

// pauseForBackupName lets the wall clock pass a millisecond: lumberjack names a rotated file
// by the real time, to the millisecond, and the test rotates faster than a day.
func pauseForBackupName() { time.Sleep(3 * time.Millisecond) }

func TestRotationByDay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lynkr.log")
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	log, _ := openFileLogger(t, path, Daily, 2, clk)

	log.Info("day 1 morning")
	clk.set(time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC))
	log.Info("day 1 night")
	if files := rotated(t, path); len(files) != 0 {
		t.Fatalf("rotated within a day: %v", files)
	}
	for day := 2; day <= 5; day++ {
		pauseForBackupName()
		clk.set(time.Date(2026, 3, day, 0, 0, 1, 0, time.UTC))
		log.Info(fmt.Sprintf("day %d", day))
		log.Debug(fmt.Sprintf("day %d again", day))
	}
	// Days 1 to 4 were rotated out; LOG_FILE_MAX_FILES=2 keeps days 3 and 4.
	files := waitRotated(t, path, 2)
	for i, want := range [][]string{{"day 3", "day 3 again"}, {"day 4", "day 4 again"}} {
		if got := messages(t, files[i]); !slices.Equal(got, want) {
			t.Errorf("rotated file %s holds %v, want %v", files[i], got, want)
		}
	}
	if got, want := messages(t, path), []string{"day 5", "day 5 again"}; !slices.Equal(got, want) {
		t.Errorf("current file holds %v, want %v", got, want)
	}
}

func TestRotationByHour(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lynkr.log")
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	log, _ := openFileLogger(t, path, Hourly, 14, clk)
	log.Info("10:00")
	clk.set(time.Date(2026, 3, 1, 10, 59, 59, 0, time.UTC))
	log.Info("10:59")
	if files := rotated(t, path); len(files) != 0 {
		t.Fatalf("rotated within an hour: %v", files)
	}
	clk.set(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC))
	log.Info("11:00")
	// A clock that steps back does not rotate again.
	clk.set(time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC))
	log.Info("10:30 again")
	files := waitRotated(t, path, 1)
	if got := messages(t, files[0]); !slices.Equal(got, []string{"10:00", "10:59"}) {
		t.Errorf("rotated file holds %v", got)
	}
	if got := messages(t, path); !slices.Equal(got, []string{"11:00", "10:30 again"}) {
		t.Errorf("current file holds %v", got)
	}
}

// A file left by a run on an earlier day is rotated at the first line of this run; one of
// today is appended to.
func TestFileOfAnEarlierRun(t *testing.T) {
	today := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		modified time.Time
		rotated  int
		current  []string
	}{
		{"yesterday", today.Add(-20 * time.Hour), 1, []string{"new run"}},
		{"today", today.Add(-time.Hour), 0, []string{"old run", "new run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lynkr.log")
			if err := os.WriteFile(path, []byte(`{"time":"x","level":"INFO","msg":"old run"}`+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, tc.modified, tc.modified); err != nil {
				t.Fatal(err)
			}
			log, _ := openFileLogger(t, path, Daily, 14, &clock{t: today})
			log.Info("new run")
			waitRotated(t, path, tc.rotated)
			if got := messages(t, path); !slices.Equal(got, tc.current) {
				t.Errorf("current file holds %v, want %v", got, tc.current)
			}
		})
	}
}
