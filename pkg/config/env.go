// Package config reads settings from the environment into each component's config struct.
// Nothing else in lynkr reads the environment: main passes a lookup function down, and tests
// pass a map.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Lookup finds one variable, like os.LookupEnv.
type Lookup func(name string) (string, bool)

// Map is a Lookup over a map, for tests and for settings given in code.
func Map(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Env reads typed variables and remembers the first bad one, so a constructor reads all its
// settings and then checks once.
type Env struct {
	lookup Lookup
	err    error
}

// NewEnv reads from lookup.
func NewEnv(lookup Lookup) *Env { return &Env{lookup: lookup} }

// Err is the first bad setting, as one line that names the variable and what it expects.
func (e *Env) Err() error { return e.err }

func (e *Env) fail(name, value, want string) {
	if e.err == nil {
		e.err = fmt.Errorf("%s=%q: %s", name, value, want)
	}
}

func (e *Env) get(name string) (string, bool) {
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String returns the variable or def.
func (e *Env) String(name, def string) string {
	if v, ok := e.get(name); ok {
		return v
	}
	return def
}

// Int returns the variable as an integer of at least min, or def.
func (e *Env) Int(name string, def, min int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		e.fail(name, v, fmt.Sprintf("want an integer >= %d", min))
		return def
	}
	return n
}

// Bytes returns the variable as a size in bytes (a number, optionally with KB, MB or GB,
// powers of 1024), or def.
func (e *Env) Bytes(name string, def int64) int64 {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	mult := int64(1)
	upper := strings.ToUpper(v)
	for suffix, m := range map[string]int64{"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30} {
		if strings.HasSuffix(upper, suffix) {
			upper, mult = strings.TrimSpace(strings.TrimSuffix(upper, suffix)), m
			break
		}
	}
	n, err := strconv.ParseInt(upper, 10, 64)
	if err != nil || n <= 0 {
		e.fail(name, v, "want a positive size such as 8388608 or 8MB")
		return def
	}
	return n * mult
}

// Float returns the variable as a number in [min, max], or def.
func (e *Env) Float(name string, def, min, max float64) float64 {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < min || f > max {
		e.fail(name, v, fmt.Sprintf("want a number between %g and %g", min, max))
		return def
	}
	return f
}

// Bool returns the variable as true/false (1/0, yes/no), or def.
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	e.fail(name, v, "want true or false")
	return def
}

// Millis returns the variable, a whole number of milliseconds as in Lynkr's settings
// (CIRCUIT_BREAKER_TIMEOUT=60000), or def. A Go duration such as "90s" is accepted too.
func (e *Env) Millis(name string, def time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Millisecond
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d
	}
	e.fail(name, v, "want milliseconds, e.g. 30000")
	return def
}

// Check records a problem found by a component's own validation.
func (e *Env) Check(ok bool, name, value, want string) {
	if !ok {
		e.fail(name, value, want)
	}
}
