package check

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Field names a member for Lookup to read, and where to store it.
type Field struct {
	Name string
	Dst  *gjson.Result
}

// Lookup reads the members of the object v that fields name into them in one pass. It
// matches names as encoding/json does when the converters decode the same body: ignoring
// case, the last of duplicates winning. Were the two to disagree, a request could pass
// validation and still fail (or change meaning) in conversion.
func Lookup(v gjson.Result, fields ...Field) {
	for k, val := range Node(v).Members {
		for _, f := range fields {
			if k == f.Name || strings.EqualFold(k, f.Name) {
				*f.Dst = val
				break
			}
		}
	}
}

// Get returns the member name of the object v, matched as Lookup matches, or an absent
// result.
func Get(v gjson.Result, name string) gjson.Result {
	var out gjson.Result
	for k, val := range Node(v).Members {
		if k == name || strings.EqualFold(k, name) {
			out = val
		}
	}
	return out
}

// Unquote returns the value of the string v, unescaping it only when it has escapes.
func Unquote(v gjson.Result) string {
	if v.Type != gjson.String || len(v.Raw) < 2 {
		return v.Str
	}
	s := v.Raw[1 : len(v.Raw)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	return gjson.Parse(v.Raw).Str
}

// Node is a JSON value of a checked (valid) body. Ranging over its members or elements
// allocates nothing and, unlike gjson's ForEach, does not unescape strings: the values hold
// their JSON text only (Raw, not Str), to be read with Unquote.
type Node gjson.Result

// Members ranges over the members of the object n by name, in order.
func (n Node) Members(yield func(string, gjson.Result) bool) {
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

// Elems ranges over the elements of the array n.
func (n Node) Elems(yield func(int, gjson.Result) bool) {
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

// Empty reports whether the array n has no elements.
func (n Node) Empty() bool {
	s := n.Raw
	i := skipSpace(s, 0)
	if i < len(s) && s[i] == '[' {
		i = skipSpace(s, i+1)
	}
	return i >= len(s) || s[i] == ']'
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

// Kind names the JSON type of v for a problem sentence: "a string", "an array", "null"...
func Kind(v gjson.Result) string {
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
