package llm

import (
	"errors"
	"testing"
)

type part struct {
	Type string `json:"type"`
}

func TestTextOrList(t *testing.T) {
	for _, tc := range []struct {
		in      string
		orNull  bool
		text    *string // the string decoded, if any
		list    int     // the length of the list decoded, or -1 when none
		invalid bool    // an ErrInvalid error
		err     bool    // another error (JSON's own)
		out     string  // the union written again
	}{
		{in: `"a<b>"`, text: ptr("a<b>"), list: -1, out: `"a<b>"`},
		{in: " \n\"\"", text: ptr(""), list: -1, out: `""`},
		{in: `[]`, list: 0, out: `[]`},
		{in: `[{"type":"text"},{"type":"image"}]`, list: 2, out: `[{"type":"text"},{"type":"image"}]`},
		{in: `null`, orNull: true, list: -1, out: `null`},
		{in: `null`, list: -1, invalid: true, out: `null`},
		{in: `{}`, orNull: true, list: -1, invalid: true, out: `null`},
		{in: `1`, orNull: true, list: -1, invalid: true, out: `null`},
		{in: `[1]`, list: -1, err: true, out: `null`},
		{in: `"\x"`, list: -1, err: true, out: `null`},
	} {
		text, list, err := UnmarshalTextOrList[part]([]byte(tc.in), tc.orNull, "content must be a string or an array of parts")
		if got := errors.Is(err, ErrInvalid); got != tc.invalid || (err != nil) != (tc.invalid || tc.err) {
			t.Errorf("%s: error %v", tc.in, err)
		}
		if tc.invalid && err != nil && err.Error() != "invalid input: content must be a string or an array of parts" {
			t.Errorf("%s: error %q", tc.in, err)
		}
		if (text == nil) != (tc.text == nil) || (text != nil && *text != *tc.text) {
			t.Errorf("%s: text %v, want %v", tc.in, text, tc.text)
		}
		if (list != nil) != (tc.list >= 0) || (list != nil && len(list) != tc.list) {
			t.Errorf("%s: list %v, want %d parts", tc.in, list, tc.list)
		}
		b, err := MarshalTextOrList(text, list)
		if err != nil || string(b) != tc.out {
			t.Errorf("%s: written as %s (%v), want %s", tc.in, b, err, tc.out)
		}
	}
}

func ptr(s string) *string { return &s }
