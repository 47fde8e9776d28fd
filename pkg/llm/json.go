package llm

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/tidwall/gjson"
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

// DecodeMembers decodes the JSON object data into dst (a pointer to a struct without a
// custom decoder) as a tolerant reader: members whose types do not fit dst's fields are not
// an error when they are not among the members the caller reads. When the whole object does
// not decode, it is decoded again with only the named members, whose types the gateway's
// validation has checked; an unknown member that happens to share a field's name with
// another shape is left out.
func DecodeMembers(data []byte, dst any, members ...string) error {
	err := json.Unmarshal(data, dst)
	if err == nil {
		return nil
	}
	if !gjson.ValidBytes(data) {
		return err
	}
	kept := []byte{'{'}
	gjson.ParseBytes(data).ForEach(func(k, v gjson.Result) bool {
		if !slices.Contains(members, k.Str) {
			return true
		}
		if len(kept) > 1 {
			kept = append(kept, ',')
		}
		kept = append(kept, k.Raw...)
		kept = append(kept, ':')
		kept = append(kept, v.Raw...)
		return true
	})
	kept = append(kept, '}')
	return json.Unmarshal(kept, dst)
}
