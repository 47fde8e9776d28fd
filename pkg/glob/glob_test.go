package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"claude-*", "claude-sonnet-4-5", true},
		{"claude-*", "gpt-4o", false},
		{"Claude-*", "claude-sonnet-4-5", true}, // case is ignored, both ways
		{"claude-*", "CLAUDE-OPUS", true},
		{"*/claude-*", "anthropic/claude-sonnet-4-5", true}, // * runs over "/"
		{"anthropic/*", "anthropic/claude/x", true},
		{"gpt-4?", "gpt-4o", true},
		{"gpt-4?", "gpt-4", false},
		{"o[134]*", "o3-mini", true},
		{"o[134]*", "o2", false},
		{"o[^134]*", "o2", true},
		{"exact", "exact", true},
		{"exact", "exact-not", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"claude-[", "claude-[", false}, // malformed: matches nothing
		// What MODEL_MAP's own matcher matched before this package, still matched alike.
		{"a", "a", true},
		{"a", "ab", false},
		{"*", "", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abc", true},
		{"a*c", "ac", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"ab*ba", "aba", false}, // prefix and suffix must not overlap
		{"*-*", "x-y", true},
	} {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, p := range []string{"claude-*", "o[134]*", "*/x", `a\*`} {
		if err := Check(p); err != nil {
			t.Errorf("Check(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"claude-[", "a[b-]", `trailing\`} {
		if Check(p) == nil {
			t.Errorf("Check(%q): want an error", p)
		}
	}
}

func TestLiteral(t *testing.T) {
	for p, want := range map[string]bool{"gpt-4o": true, "claude-*": false, "gpt-4?": false, "o[13]": false, `a\*`: false} {
		if got := Literal(p); got != want {
			t.Errorf("Literal(%q) = %v, want %v", p, got, want)
		}
	}
}
