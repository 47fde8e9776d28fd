package provider

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is a credential. Every way of printing or encoding it (fmt verbs, JSON, text, slog)
// gives [redacted]; only Reveal gives the value, for the one header that carries it.
//
// The value sits behind a pointer, so even a struct that holds a Secret and is printed field
// by field through reflection (%+v of an unexported field) shows an address, not the value.
type Secret struct {
	v *string
}

// NewSecret wraps a credential.
func NewSecret(s string) Secret { return Secret{v: &s} }

// Reveal returns the credential.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports an empty credential.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

func (s Secret) String() string { return redacted }

// Format prints [redacted] for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON encodes [redacted].
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes [redacted].
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue logs [redacted].
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
