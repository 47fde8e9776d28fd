// Package check validates JSON request bodies without allocating: it reads a body's members
// and elements in one pass and collects every problem found, formatting a problem only when
// there is one.
//
// The checks run on every request the gateway accepts, so a valid body must cost no
// allocations: problem paths are formatted only when a problem is found, an object's members
// are read in one pass without a map, and string values are not unescaped unless their text
// is compared (see Unquote).
package check

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// MaxProblems bounds the problems one request reports; a body broken everywhere would
// otherwise produce an answer as large as itself.
const MaxProblems = 100

// Checker collects the problems of a request. The zero value is ready to use.
type Checker struct {
	problems []string
	more     int
}

// Add adds a problem, formatted as by fmt.Sprintf.
func (c *Checker) Add(format string, args ...any) {
	if len(c.problems) == MaxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// AddAt adds a problem at p: the first verb of format is p's name.
func (c *Checker) AddAt(p Path, format string, args ...any) {
	if len(c.problems) == MaxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, append([]any{p.String()}, args...)...))
}

// Result returns the problems found, none when the request is valid. Past MaxProblems, a
// last sentence counts the problems left out.
func (c *Checker) Result() []string {
	if c.more > 0 {
		return append(c.problems, fmt.Sprintf("and %d more problems", c.more))
	}
	return c.problems
}

// Object parses body, which must be a JSON object. The result shares memory with body,
// which the caller must not modify while it uses the result (the summary's model included).
func (c *Checker) Object(body []byte) (gjson.Result, bool) {
	if !gjson.ValidBytes(body) {
		var raw json.RawMessage
		err := json.Unmarshal(body, &raw)
		if err == nil { // gjson and encoding/json disagree only on odd inputs
			err = fmt.Errorf("unexpected input")
		}
		c.Add("body is not valid JSON: %v", err)
		return gjson.Result{}, false
	}
	// Parse a view of body rather than a copy: nothing writes to body while it is checked.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		c.Add("body must be a JSON object, not %s", Kind(root))
		return gjson.Result{}, false
	}
	return root, true
}

// present reports whether v is there to check further: an absent v is not, and is reported
// when required; nor is an optional null (a required null is checked, and refused, as the
// wrong type).
func (c *Checker) present(p Path, v gjson.Result, required bool) bool {
	if !v.Exists() || !required && v.Type == gjson.Null {
		if required {
			c.AddAt(p, "%s is required")
		}
		return false
	}
	return true
}

// Str checks that v, when present, is a string, and that a required one is present and not
// empty. It reports whether v is a usable string.
func (c *Checker) Str(p Path, v gjson.Result, required bool) bool {
	if !c.present(p, v, required) {
		return false
	}
	switch {
	case v.Type != gjson.String:
		c.AddAt(p, "%s must be a string")
		return false
	case required && v.Raw == `""`:
		c.AddAt(p, "%s must not be empty")
		return false
	}
	return true
}

// Boolean checks that v, when present, is a boolean.
func (c *Checker) Boolean(p Path, v gjson.Result) {
	if v.Exists() && v.Type != gjson.Null && v.Type != gjson.True && v.Type != gjson.False {
		c.AddAt(p, "%s must be a boolean")
	}
}

// Integer checks that v, when present, is an integer of at least lo.
func (c *Checker) Integer(p Path, v gjson.Result, required bool, lo int64) {
	if !c.present(p, v, required) {
		return
	}
	switch {
	case v.Type != gjson.Number || v.Num != math.Trunc(v.Num) || math.Abs(v.Num) > 1<<53:
		c.AddAt(p, "%s must be an integer")
	case v.Num < float64(lo):
		if lo == 1 {
			c.AddAt(p, "%s must be positive")
		} else {
			c.AddAt(p, "%s must be at least %d", lo)
		}
	}
}

// Number checks that v, when present, is a number between lo and hi.
func (c *Checker) Number(p Path, v gjson.Result, lo, hi float64) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
	case v.Type != gjson.Number:
		c.AddAt(p, "%s must be a number")
	case v.Num < lo || v.Num > hi:
		c.AddAt(p, "%s must be between %g and %g", lo, hi)
	}
}

// OneOf checks that the string v is one of values. It reports whether it is.
func (c *Checker) OneOf(p Path, v gjson.Result, required bool, values ...string) bool {
	if !c.Str(p, v, required) {
		return false
	}
	s := Unquote(v)
	for _, want := range values {
		if s == want {
			return true
		}
	}
	c.AddAt(p, "%s must be one of %s", strings.Join(values, ", "))
	return false
}

// Obj checks that v, when present, is an object. It reports whether v is one.
func (c *Checker) Obj(p Path, v gjson.Result, required bool) bool {
	if !c.present(p, v, required) {
		return false
	}
	if !v.IsObject() {
		c.AddAt(p, "%s must be an object")
		return false
	}
	return true
}

// Array checks that v, when present, is an array. It reports whether v is one.
func (c *Checker) Array(p Path, v gjson.Result, required bool) bool {
	if !c.present(p, v, required) {
		return false
	}
	if !v.IsArray() {
		c.AddAt(p, "%s must be an array")
		return false
	}
	return true
}
