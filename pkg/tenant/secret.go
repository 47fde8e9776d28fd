package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// secretPrefix starts every key's secret, so a lynkr key is easy to recognise (and to scan
// for in leaked text).
const secretPrefix = "lk-"

// NewSecret makes a key's secret, "lk-" and 32 random bytes in unpadded URL-safe base64,
// and its hash, the only part the stores keep.
func NewSecret() (secret, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("tenant: making a secret: %w", err)
	}
	secret = secretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret), nil
}

// HashSecret is the SHA-256 of secret in lowercase hex: what the stores look a key up by.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewID makes a key's id: "key_" and 20 random lowercase base32 letters and digits
// (100 bits).
func NewID() string {
	return "key_" + strings.ToLower(rand.Text()[:20])
}

// prefixLen is how much of a secret PrefixOf shows.
const prefixLen = 10

// PrefixOf is the start of secret that people see to tell their keys apart: its first 10
// characters, "lk-" and 7 more.
func PrefixOf(secret string) string {
	if len(secret) <= prefixLen {
		return secret
	}
	return secret[:prefixLen]
}
