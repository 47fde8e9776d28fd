package anthropic

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The checks run on every request the gateway accepts, so a valid body must cost no
// allocations: problem paths are formatted only when a problem is found, an object's members
// are read in one pass without a map, and string values are not unescaped unless their text
// is compared (see unquote).

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

// addAt adds a problem at p: the first verb of format is p's name.
func (c *checker) addAt(p path, format string, args ...any) {
	if len(c.problems) == maxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, append([]any{p.String()}, args...)...))
}

func (c *checker) result() []string {
	if c.more > 0 {
		return append(c.problems, fmt.Sprintf("and %d more problems", c.more))
	}
	return c.problems
}

// object parses body, which must be a JSON object. The result shares memory with body,
// which the caller must not modify while it uses the result (the summary's model included).
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
	// Parse a view of body rather than a copy: nothing writes to body while it is checked.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		c.add("body must be a JSON object, not %s", kind(root))
		return gjson.Result{}, false
	}
	return root, true
}

// What follows is also in responses/validate.go (and this file is the same in openai and
// anthropic).

// path names a place in the body, such as messages[2].content[0].text: a chain of values on
// the stack, formatted only when a problem is found there.
type path struct {
	up   *path
	name string // a member's name, or "" for element i of up
	i    int
}

// at returns the path of member name of p.
func (p *path) at(name string) path { return path{up: p, name: name} }

// index returns the path of element i of p.
func (p *path) index(i int) path { return path{up: p, i: i} }

func (p *path) String() string { return string(p.append(make([]byte, 0, 32))) }

func (p *path) append(b []byte) []byte {
	if p.up != nil {
		b = p.up.append(b)
	}
	if p.name == "" {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(p.i), 10)
		return append(b, ']')
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	return append(b, p.name...)
}

// field names a member to look up and where to store it.
type field struct {
	name string
	v    *gjson.Result
}

// lookup reads the members of the object v that fields name into them in one pass. It
// matches names as encoding/json does when the converters decode the same body: ignoring
// case, the last of duplicates winning. Were the two to disagree, a request could pass
// validation and still fail (or change meaning) in conversion.
func lookup(v gjson.Result, fields ...field) {
	for k, val := range node(v).members {
		for _, f := range fields {
			if k == f.name || strings.EqualFold(k, f.name) {
				*f.v = val
				break
			}
		}
	}
}

// get returns the member name of the object v, matched as lookup matches, or an absent
// result.
func get(v gjson.Result, name string) gjson.Result {
	var out gjson.Result
	for k, val := range node(v).members {
		if k == name || strings.EqualFold(k, name) {
			out = val
		}
	}
	return out
}

// unquote returns the value of the string v, unescaping it only when it has escapes.
func unquote(v gjson.Result) string {
	if v.Type != gjson.String || len(v.Raw) < 2 {
		return v.Str
	}
	s := v.Raw[1 : len(v.Raw)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	return gjson.Parse(v.Raw).Str
}

// node is a JSON value of a checked (valid) body. Ranging over its members or elements
// allocates nothing and, unlike gjson's ForEach, does not unescape strings: the values hold
// their JSON text only (Raw, not Str), to be read with unquote.
type node gjson.Result

// members ranges over the members of the object n by name, in order.
func (n node) members(yield func(string, gjson.Result) bool) {
	s := n.Raw
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return
	}
	for i++; ; {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == '}' {
			return
		}
		if s[i] == ',' {
			i++
			continue
		}
		end := stringEnd(s, i)
		k := s[i+1 : end-1]
		if strings.IndexByte(k, '\\') >= 0 {
			k = gjson.Parse(s[i:end]).Str
		}
		i = skipSpace(s, end) + 1 // the colon
		var v gjson.Result
		v, i = read(s, skipSpace(s, i))
		if !yield(k, v) {
			return
		}
	}
}

// elems ranges over the elements of the array n.
func (n node) elems(yield func(int, gjson.Result) bool) {
	s := n.Raw
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '[' {
		return
	}
	for j, i := 0, i+1; ; {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == ']' {
			return
		}
		if s[i] == ',' {
			i++
			continue
		}
		var v gjson.Result
		v, i = read(s, i)
		if !yield(j, v) {
			return
		}
		j++
	}
}

// read reads the JSON value at s[i] and returns it with the index just after it. A string
// holds its JSON text only, not Str.
func read(s string, i int) (gjson.Result, int) {
	var end int
	var v gjson.Result
	switch s[i] {
	case '"':
		end, v.Type = stringEnd(s, i), gjson.String
	case '{', '[':
		end, v.Type = compositeEnd(s, i), gjson.JSON
	case 't':
		end, v.Type = i+4, gjson.True
	case 'f':
		end, v.Type = i+5, gjson.False
	case 'n':
		end, v.Type = i+4, gjson.Null
	default:
		end = i + 1
		for end < len(s) && s[end] > ' ' && s[end] != ',' && s[end] != ']' && s[end] != '}' {
			end++
		}
		v.Type = gjson.Number
		v.Num, _ = strconv.ParseFloat(s[i:end], 64)
	}
	v.Raw = s[i:end]
	return v, end
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just after the JSON string that starts at s[i].
func stringEnd(s string, i int) int {
	// Most strings are short: look at their bytes one by one, then jump from quote to
	// quote through a long one.
	i++
	for n := min(len(s), i+32); i < n; i++ {
		switch s[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
	}
	for i < len(s) {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			break
		}
		i += j
		n := 0 // backslashes before the quote: an odd number escapes it
		for s[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
	return len(s)
}

// compositeEnd returns the index just after the JSON object or array that starts at s[i].
func compositeEnd(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = stringEnd(s, i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
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
func (c *checker) str(p path, v gjson.Result, required bool) bool {
	switch {
	case !v.Exists():
		if required {
			c.addAt(p, "%s is required")
		}
		return false
	case v.Type != gjson.String:
		c.addAt(p, "%s must be a string")
		return false
	case required && v.Raw == `""`:
		c.addAt(p, "%s must not be empty")
		return false
	}
	return true
}

func (c *checker) boolean(p path, v gjson.Result) {
	if v.Exists() && v.Type != gjson.True && v.Type != gjson.False {
		c.addAt(p, "%s must be a boolean")
	}
}

// integer checks that v, when present, is an integer of at least lo.
func (c *checker) integer(p path, v gjson.Result, required bool, lo int64) {
	switch {
	case !v.Exists():
		if required {
			c.addAt(p, "%s is required")
		}
	case v.Type != gjson.Number || v.Num != math.Trunc(v.Num) || math.Abs(v.Num) > 1<<53:
		c.addAt(p, "%s must be an integer")
	case v.Num < float64(lo):
		if lo == 1 {
			c.addAt(p, "%s must be positive")
		} else {
			c.addAt(p, "%s must be at least %d", lo)
		}
	}
}

// number checks that v, when present, is a number between lo and hi.
func (c *checker) number(p path, v gjson.Result, lo, hi float64) {
	switch {
	case !v.Exists():
	case v.Type != gjson.Number:
		c.addAt(p, "%s must be a number")
	case v.Num < lo || v.Num > hi:
		c.addAt(p, "%s must be between %g and %g", lo, hi)
	}
}

// oneOf checks that the string v is one of values.
func (c *checker) oneOf(p path, v gjson.Result, required bool, values ...string) bool {
	if !c.str(p, v, required) {
		return false
	}
	s := unquote(v)
	for _, want := range values {
		if s == want {
			return true
		}
	}
	c.addAt(p, "%s must be one of %s", strings.Join(values, ", "))
	return false
}

// obj checks that v, when present, is an object.
func (c *checker) obj(p path, v gjson.Result, required bool) bool {
	switch {
	case !v.Exists():
		if required {
			c.addAt(p, "%s is required")
		}
		return false
	case !v.IsObject():
		c.addAt(p, "%s must be an object")
		return false
	}
	return true
}

// array checks that v, when present, is an array.
func (c *checker) array(p path, v gjson.Result, required bool) bool {
	switch {
	case !v.Exists():
		if required {
			c.addAt(p, "%s is required")
		}
		return false
	case !v.IsArray():
		c.addAt(p, "%s must be an array")
		return false
	}
	return true
}
