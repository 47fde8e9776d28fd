package loopguard

import (
	"strings"

	"github.com/tidwall/gjson"
)

// A small JSON reader over the raw text of a body, which reads each byte once and allocates
// nothing: a visitor is called with the offset of each member or element, reads the value
// there and returns the offset just after it (or -1 to stop); values are substrings of the
// body, strings keep their JSON text, and only a string that is compared and holds escapes
// is unescaped. It trusts its input no more than it must: on text that is not JSON it stops
// early rather than panic or loop, and Check refuses nothing that is not valid JSON.

// object reads the value at s[i]. When it is an object, object calls member with each
// member's name (unescaped) and the offset of its value. It returns the offset just after
// the value, or -1 when s holds no complete value there.
func object(s string, i int, member func(name string, v int) int) int {
	if i >= len(s) || s[i] != '{' {
		return skip(s, i)
	}
	for i++; ; {
		i = skipSpace(s, i)
		if i >= len(s) {
			return -1
		}
		switch s[i] {
		case '}':
			return i + 1
		case ',':
			i++
			continue
		case '"':
		default:
			return -1
		}
		end := stringEnd(s, i)
		if end < 0 {
			return -1
		}
		k := s[i+1 : end-1]
		if strings.IndexByte(k, '\\') >= 0 {
			k = gjson.Parse(s[i:end]).Str
		}
		i = skipSpace(s, end)
		if i >= len(s) || s[i] != ':' {
			return -1
		}
		if i = member(k, skipSpace(s, i+1)); i < 0 {
			return -1
		}
	}
}

// array reads the value at s[i]. When it is an array, array calls elem with the offset of
// each element. It returns the offset just after the value, or -1.
func array(s string, i int, elem func(v int) int) int {
	if i >= len(s) || s[i] != '[' {
		return skip(s, i)
	}
	return elements(s, i+1, elem)
}

// elements calls elem with the offset of each value of s separated by commas, from offset
// i to a closing bracket, and returns the offset just after the bracket, or -1.
func elements(s string, i int, elem func(v int) int) int {
	for {
		i = skipSpace(s, i)
		if i >= len(s) {
			return -1
		}
		switch s[i] {
		case ']':
			return i + 1
		case ',':
			i++
			continue
		}
		if i = elem(i); i < 0 {
			return -1
		}
	}
}

// value returns the JSON text of the value at s[i] and the offset just after it.
func value(s string, i int) (string, int) {
	end := skip(s, i)
	if end < 0 {
		return "", -1
	}
	return s[i:end], end
}

// field sets *dst to the JSON text of the value at s[i] and returns the offset after it.
func field(s string, i int, dst *string) int {
	v, end := value(s, i)
	*dst = v
	return end
}

// get returns the JSON text of the member name of the object s, or "". It matches names as
// encoding/json does when the converters decode the same body: ignoring case, the last of
// duplicates winning.
func get(s, name string) string {
	var out string
	object(s, skipSpace(s, 0), func(k string, v int) int {
		if is(k, name) {
			return field(s, v, &out)
		}
		return skip(s, v)
	})
	return out
}

// is reports whether the member name k matches name as encoding/json matches it.
func is(k, name string) bool { return k == name || strings.EqualFold(k, name) }

// str returns the value of v when v is a JSON string, or "". It unescapes only a string that
// has escapes.
func str(v string) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	s := v[1 : len(v)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	return gjson.Parse(v).Str
}

func isObject(v string) bool { return len(v) > 0 && v[0] == '{' }

// appendCompact appends the JSON text s to dst without the white space between tokens, as
// encoding/json's Compact writes it.
func appendCompact(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			end := stringEnd(s, i)
			if end < 0 {
				end = len(s)
			}
			dst = append(dst, s[i:end]...)
			i = end
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skip returns the offset just after the JSON value at s[i], or -1 when there is none
// complete.
func skip(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		return compositeEnd(s, i)
	}
	end := i + 1 // a number, true, false or null
	for end < len(s) && s[end] > ' ' && s[end] != ',' && s[end] != ']' && s[end] != '}' && s[end] != ':' {
		end++
	}
	return end
}

// stringEnd returns the offset just after the string whose opening quote is s[i], or -1.
func stringEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0 // backslashes before the quote: an odd number escapes it
		for p := j - 1; p > i && s[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
	}
	return -1
}

// compositeEnd returns the offset just after the object or array that opens at s[i], or -1.
func compositeEnd(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"':
			end := stringEnd(s, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}
