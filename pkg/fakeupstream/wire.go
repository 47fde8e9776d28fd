package fakeupstream

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendString appends s as a JSON string literal. Unlike encoding/json it leaves <, > and &
// alone, as the vendors' servers do; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// sseData frames a data-only server-sent event, as OpenAI sends them.
func sseData(payload []byte) []byte {
	b := make([]byte, 0, len(payload)+8)
	b = append(b, "data: "...)
	b = append(b, payload...)
	return append(b, '\n', '\n')
}

// sseEvent frames a named server-sent event, as Anthropic sends them.
func sseEvent(name string, payload []byte) []byte {
	b := make([]byte, 0, len(name)+len(payload)+16)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, payload...)
	return append(b, '\n', '\n')
}

// indent re-renders compact JSON with the given indent, as OpenAI pretty-prints its
// non-streaming bodies.
func indent(compact []byte, by string) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", by); err != nil {
		return compact
	}
	return out.Bytes()
}
