package logging

import (
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// rotatingFile is the log file. lumberjack rotates it by size and deletes the oldest rotated
// files; Write rotates it by time, when the clock's day (or hour) is past the one the current
// file was started in. No goroutine watches the clock: the first line of a new day starts a
// new file.
type rotatingFile struct {
	mu     sync.Mutex
	lj     *lumberjack.Logger
	now    func() time.Time
	freq   Frequency
	period time.Time // the start of the day or hour the current file belongs to
}

// openFile creates the file (and its directory) and returns it ready to write. A file left
// from an earlier day (or hour) by a previous run is rotated at the first line.
func openFile(c FileConfig) (*rotatingFile, error) {
	modified, err := ensureFile(c.Path)
	if err != nil {
		return nil, err
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	f := &rotatingFile{
		lj: &lumberjack.Logger{
			Filename:   c.Path,
			MaxSize:    c.MaxSizeMB,
			MaxBackups: c.MaxFiles,
			LocalTime:  true,
		},
		now:  now,
		freq: c.Frequency,
	}
	t := now()
	f.period = f.periodOf(t)
	if !modified.IsZero() {
		if p := f.periodOf(modified.In(t.Location())); p.Before(f.period) {
			f.period = p
		}
	}
	return f, nil
}

// periodOf is the start of t's day, or of its hour, in t's location.
func (f *rotatingFile) periodOf(t time.Time) time.Time {
	y, m, d := t.Date()
	h := 0
	if f.freq == Hourly {
		h = t.Hour()
	}
	return time.Date(y, m, d, h, 0, 0, 0, t.Location())
}

// Write writes one line, first rotating the file when a new day (or hour) has begun. A clock
// that steps back does not rotate.
func (f *rotatingFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.periodOf(f.now()); p.After(f.period) {
		// On failure the period stays, so the next line tries again; this one is written to
		// the current file all the same.
		if err := f.lj.Rotate(); err == nil {
			f.period = p
		}
	}
	return f.lj.Write(b)
}

// Close closes the file.
func (f *rotatingFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lj.Close()
}
