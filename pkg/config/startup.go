package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// ErrBadSetting is what every error of a setting that stops start-up matches (errors.Is):
// the command that returns one exits with ExitBadSetting.
var ErrBadSetting = errors.New("bad setting")

// ExitBadSetting is the exit status of a command stopped by a bad setting (as the flag
// package's 2 for bad usage); every other failure exits with 1.
const ExitBadSetting = 2

// Bad marks err as a bad setting, keeping its message; nil stays nil. A command's Main wraps
// with it every error of reading and checking its settings, before it starts anything.
func Bad(err error) error {
	if err == nil || errors.Is(err, ErrBadSetting) {
		return err
	}
	return badSetting{err}
}

type badSetting struct{ error }

func (e badSetting) Unwrap() []error { return []error{e.error, ErrBadSetting} }

// ExitCode is a command's exit status for the error its Main returned: 0 for none,
// ExitBadSetting for a bad setting, 1 for anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrBadSetting):
		return ExitBadSetting
	}
	return 1
}

// Report writes the error a command's Main returned to w as one line, "name: error" (the
// lines of a joined error separated by "; "), and returns the command's exit status
// (ExitCode). It writes nothing for nil. A main ends with
//
//	os.Exit(config.Report(os.Stderr, "lynkr", err))
func Report(w io.Writer, name string, err error) int {
	if err != nil {
		msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\r", "")
		fmt.Fprintf(w, "%s: %s\n", name, strings.ReplaceAll(msg, "\n", "; "))
	}
	return ExitCode(err)
}

// URLs checks a variable holding a comma-separated list of server URLs (NATS_URL's
// nats://a:4222,nats://b:4222), each with one of schemes and a host; a value without "://"
// takes the first scheme, as NATS clients read "host:4222". Empty entries are skipped. The problem is recorded for Err,
// with any credential in the value left out; the value is returned as read.
func (e *Env) URLs(name string, schemes ...string) string {
	v, ok := e.get(name)
	if !ok {
		return ""
	}
	n := 0
	for one := range strings.SplitSeq(v, ",") {
		one = strings.TrimSpace(one)
		if one == "" {
			continue // "a,,b" and a trailing comma, as NATS clients read them
		}
		n++
		full := one
		if !strings.Contains(one, "://") {
			full = schemes[0] + "://" + one
		}
		u, err := url.Parse(full)
		if err != nil || u.Hostname() == "" || !slices.ContainsFunc(schemes, func(s string) bool { return strings.EqualFold(u.Scheme, s) }) {
			e.failURLs(name, one, schemes)
			return v
		}
	}
	if n == 0 {
		e.failURLs(name, v, schemes)
	}
	return v
}

func (e *Env) failURLs(name, value string, schemes []string) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: want a comma-separated list of %s:// URLs such as %s://localhost:4222, got %s",
			name, strings.Join(schemes, ":// or "), schemes[0], quoteRedacted(value))
	}
}

// quoteRedacted quotes a configured URL without what may carry a credential.
func quoteRedacted(raw string) string {
	if strings.ContainsAny(raw, "@?") {
		return fmt.Sprintf("%q", RedactURL(raw))
	}
	return fmt.Sprintf("%q", raw)
}
