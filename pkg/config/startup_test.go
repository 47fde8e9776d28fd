package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestBadAndExitCode(t *testing.T) {
	plain := errors.New("connect to NATS: refused")
	bad := Bad(fmt.Errorf("PORT=%q: want a port number", "x"))
	for _, tt := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{plain, 1},
		{bad, ExitBadSetting},
		{fmt.Errorf("start: %w", bad), ExitBadSetting},
		{Bad(bad), ExitBadSetting},
	} {
		if got := ExitCode(tt.err); got != tt.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	if Bad(nil) != nil {
		t.Error("Bad(nil) is not nil")
	}
	if bad.Error() != `PORT="x": want a port number` {
		t.Errorf("Bad changed the message: %q", bad)
	}
}

func TestReport(t *testing.T) {
	var w bytes.Buffer
	if code := Report(&w, "lynkr", nil); code != 0 || w.Len() != 0 {
		t.Errorf("Report(nil) = %d, %q", code, w.String())
	}
	code := Report(&w, "lynkr", Bad(errors.Join(errors.New("A: one"), errors.New("B: two"))))
	if code != ExitBadSetting || w.String() != "lynkr: A: one; B: two\n" {
		t.Errorf("Report = %d, %q: want one line", code, w.String())
	}
}

func TestURLs(t *testing.T) {
	schemes := []string{"nats", "tls", "ws", "wss"}
	for _, ok := range []string{"", "nats://localhost:4222", "localhost:4222", "nats://a:4222, nats://b:4222", "tls://u:p@h:4222", "wss://h", "nats://a:4222,"} {
		e := NewEnv(Map(map[string]string{"NATS_URL": ok}))
		if got := e.URLs("NATS_URL", schemes...); e.Err() != nil || got != strings.TrimSpace(ok) {
			t.Errorf("%q: %q, %v", ok, got, e.Err())
		}
	}
	for _, bad := range []string{"ftp://x", "not a url", "nats://", "http://h:4222", ",", "nats://u:hunter2@h:4222,ftp://u:hunter2@x"} {
		e := NewEnv(Map(map[string]string{"NATS_URL": bad}))
		e.URLs("NATS_URL", schemes...)
		if e.Err() == nil || !strings.HasPrefix(e.Err().Error(), "NATS_URL: ") || strings.Contains(e.Err().Error(), "hunter2") {
			t.Errorf("%q: error %v, want one naming NATS_URL without the password", bad, e.Err())
		}
	}
}
