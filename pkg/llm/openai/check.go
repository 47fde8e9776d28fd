package openai

import (
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"strings"

	"github.com/tidwall/gjson"
)

// maxProblems bounds the problems one request reports; a body broken everywhere would
// otherwise produce an answer as large as itself.
const maxProblems = 100

// checker collects the problems of a request.
type checker struct {
	problems []string
	more     int
}

func (c *checker) add(format string, args ...any) {
	if len(c.problems) == maxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) result() []string {
	if c.more > 0 {
		return append(c.problems, fmt.Sprintf("and %d more problems", c.more))
	}
	return c.problems
}

// object parses body, which must be a JSON object.
func (c *checker) object(body []byte) (gjson.Result, bool) {
	if !gjson.ValidBytes(body) {
		var raw json.RawMessage
		err := json.Unmarshal(body, &raw)
		if err == nil { // gjson and encoding/json disagree only on odd inputs
			err = fmt.Errorf("unexpected input")
		}
		c.add("body is not valid JSON: %v", err)
		return gjson.Result{}, false
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		c.add("body must be a JSON object, not %s", kind(root))
		return gjson.Result{}, false
	}
	return root, true
}

// members returns the members of the object v by name (the first of duplicates), so that
// looking several up reads a large body once.
func members(v gjson.Result) map[string]gjson.Result {
	m := make(map[string]gjson.Result, 24)
	v.ForEach(func(k, val gjson.Result) bool {
		if _, dup := m[k.Str]; !dup {
			m[k.Str] = val
		}
		return true
	})
	return m
}

// elems ranges over the elements of the array v without collecting them first.
func elems(v gjson.Result) iter.Seq2[int, gjson.Result] {
	return func(yield func(int, gjson.Result) bool) {
		i := 0
		v.ForEach(func(_, e gjson.Result) bool {
			ok := yield(i, e)
			i++
			return ok
		})
	}
}

// kind names the JSON type of v for a problem sentence.
func kind(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return "a string"
	case gjson.Number:
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "an array"
	}
	return "an object"
}

// str checks that v, when present, is a string, and that a required one is present and not
// empty. It reports whether v is a usable string.
func (c *checker) str(path string, v gjson.Result, required bool) bool {
	switch {
	case !v.Exists():
		if required {
			c.add("%s is required", path)
		}
		return false
	case v.Type != gjson.String:
		c.add("%s must be a string", path)
		return false
	case required && v.Str == "":
		c.add("%s must not be empty", path)
		return false
	}
	return true
}

func (c *checker) boolean(path string, v gjson.Result) {
	if v.Exists() && v.Type != gjson.True && v.Type != gjson.False {
		c.add("%s must be a boolean", path)
	}
}

// integer checks that v, when present, is an integer of at least lo.
func (c *checker) integer(path string, v gjson.Result, required bool, lo int64) {
	switch {
	case !v.Exists():
		if required {
			c.add("%s is required", path)
		}
	case v.Type != gjson.Number || v.Num != math.Trunc(v.Num) || math.Abs(v.Num) > 1<<53:
		c.add("%s must be an integer", path)
	case v.Num < float64(lo):
		if lo == 1 {
			c.add("%s must be positive", path)
		} else {
			c.add("%s must be at least %d", path, lo)
		}
	}
}

// number checks that v, when present, is a number between lo and hi.
func (c *checker) number(path string, v gjson.Result, lo, hi float64) {
	switch {
	case !v.Exists():
	case v.Type != gjson.Number:
		c.add("%s must be a number", path)
	case v.Num < lo || v.Num > hi:
		c.add("%s must be between %g and %g", path, lo, hi)
	}
}

// oneOf checks that the string v is one of values.
func (c *checker) oneOf(path string, v gjson.Result, required bool, values ...string) bool {
	if !c.str(path, v, required) {
		return false
	}
	for _, s := range values {
		if v.Str == s {
			return true
		}
	}
	c.add("%s must be one of %s", path, strings.Join(values, ", "))
	return false
}

// obj checks that v, when present, is an object.
func (c *checker) obj(path string, v gjson.Result, required bool) bool {
	switch {
	case !v.Exists():
		if required {
			c.add("%s is required", path)
		}
		return false
	case !v.IsObject():
		c.add("%s must be an object", path)
		return false
	}
	return true
}

// array checks that v, when present, is an array.
func (c *checker) array(path string, v gjson.Result, required bool) bool {
	switch {
	case !v.Exists():
		if required {
			c.add("%s is required", path)
		}
		return false
	case !v.IsArray():
		c.add("%s must be an array", path)
		return false
	}
	return true
}
