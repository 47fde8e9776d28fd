package tenant

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestHashSecret(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		if got := HashSecret(tc.in); got != tc.want {
			t.Errorf("HashSecret(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, hash, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(secret, "lk-")
		if !ok {
			t.Fatalf("secret %q does not start with lk-", secret)
		}
		if b, err := base64.RawURLEncoding.DecodeString(rest); err != nil || len(b) != 32 {
			t.Fatalf("secret %q: %d bytes, %v; want 32 bytes of raw URL base64", secret, len(b), err)
		}
		if hash != HashSecret(secret) {
			t.Fatalf("hash %s, want HashSecret(secret) %s", hash, HashSecret(secret))
		}
		if seen[secret] {
			t.Fatalf("secret %q made twice", secret)
		}
		seen[secret] = true
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^key_[a-z2-7]{20}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("NewID() = %q, want %s", id, re)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}
}

func TestPrefixOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"lk-abcdefghijklmnop", "lk-abcdefg"},
		{"lk-abcdefg", "lk-abcdefg"},
		{"lk-ab", "lk-ab"},
		{"", ""},
	} {
		if got := PrefixOf(tc.in); got != tc.want {
			t.Errorf("PrefixOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
