package llm

import (
	"bytes"
	"encoding/json"
)

// Marshal encodes v as compact JSON as the vendors' APIs write it: without escaping <, > and &,
// so text reads, and caches, as it was sent.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// FirstByte returns the first byte of the JSON text b that is not white space, or 0: enough to
// tell a string from an array, an object or null before decoding.
func FirstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
