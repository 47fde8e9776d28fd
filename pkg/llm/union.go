package llm

import (
	"encoding/json"
	"fmt"
)

// Every format lynkr speaks writes a message's content as a union: a string, or an array of
// parts (Anthropic's content blocks, Chat's and Responses' content parts, Responses' input
// items). Each format keeps its own type with its own names for the two halves, and decodes
// it here. Responses' request types encode it with encoding/json instead of MarshalTextOrList:
// lynkr only reads them, and only tests write them.

// UnmarshalTextOrList decodes b, a JSON string or an array of T, into text or list: at most
// one of them is set, and neither on an error. null sets neither when orNull allows it. Any
// other value, and null when orNull does not allow it, is an error wrapping ErrInvalid whose
// text is invalid ("content must be a string or an array of parts").
func UnmarshalTextOrList[T any](b []byte, orNull bool, invalid string) (text *string, list []T, err error) {
	switch FirstByte(b) {
	case 'n':
		if orNull {
			return nil, nil, nil
		}
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, nil, err
		}
		return &s, nil, nil
	case '[':
		list := []T{}
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, nil, err
		}
		return nil, list, nil
	}
	return nil, nil, fmt.Errorf("%w: %s", ErrInvalid, invalid)
}

// MarshalTextOrList encodes the union UnmarshalTextOrList decodes, with Marshal: list when it
// is not nil (an empty list stays an empty array), else the string text, else null.
func MarshalTextOrList[T any](text *string, list []T) ([]byte, error) {
	switch {
	case list != nil:
		return Marshal(list)
	case text != nil:
		return Marshal(*text)
	default:
		return []byte("null"), nil
	}
}
