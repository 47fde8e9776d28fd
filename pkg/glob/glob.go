// Package glob is the one pattern dialect of the settings that match model names (ROUTES,
// MODEL_MAP, <PROVIDER>_MODEL_MAP): * matches any run of characters, "/" included (model
// names such as "anthropic/claude-sonnet-4-5" have them); ? matches one character; [abc],
// [a-z] and [^abc] match one of a set; \ quotes the character after it. Case is ignored:
// "Claude-*" and "claude-*" are the same pattern.
package glob

import (
	"fmt"
	"path"
	"strings"
)

// Match reports whether name matches pattern; a malformed pattern (see Check) matches
// nothing.
func Match(pattern, name string) bool {
	ok, _ := path.Match(fold(pattern), fold(name))
	return ok
}

// Check reports whether pattern is well formed (its brackets close, say), for the settings
// to refuse one at start-up rather than never match.
func Check(pattern string) error {
	if _, err := path.Match(fold(pattern), ""); err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return nil
}

// fold puts s in the form path.Match compares: lower case, and "/" turned into a byte no
// model name has, so that path.Match's *, which stops at "/", runs over it.
func fold(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "/", "\x00"))
}

// Literal reports whether pattern matches one name only, itself (ignoring case): it has none
// of the special characters.
func Literal(pattern string) bool {
	return !strings.ContainsAny(pattern, `*?[\`)
}
