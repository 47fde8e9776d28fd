package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// Redacted is what a Secret prints, encodes and logs as.
const Redacted = "[REDACTED]"

// Secret is a credential (an API key, a bearer token, an AWS secret key). Every way of
// printing or encoding it gives [REDACTED]: String, GoString, every fmt verb (%v, %+v, %#v,
// %s, %q, %x, %d, …), JSON, text and slog. Only Reveal gives the value, for the one place
// that puts it in a request header or a signature.
//
// The value sits behind a pointer, so a struct that holds a Secret in an unexported field,
// which fmt prints field by field through reflection without calling its methods, shows an
// address, never the value. (A plain string type would print in full there.)
//
// The zero Secret is empty.
type Secret struct {
	v *string
}

// NewSecret wraps a credential.
func NewSecret(s string) Secret { return Secret{v: &s} }

// Secret returns the variable, trimmed, as a Secret; empty when unset. It never fails, so
// the value can never reach Err's message.
func (e *Env) Secret(name string) Secret {
	if v, ok := e.get(name); ok {
		return NewSecret(v)
	}
	return Secret{}
}

// Reveal returns the credential.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports an empty credential.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String returns [REDACTED].
func (s Secret) String() string { return Redacted }

// GoString returns [REDACTED].
func (s Secret) GoString() string { return Redacted }

// Format prints [REDACTED] for every verb and flag.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON encodes "[REDACTED]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText encodes [REDACTED].
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue logs [REDACTED].
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// RedactURL is raw without what may carry a credential — user information and the query —
// for error messages and logs. A value that is not a URL is replaced as a whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return strings.TrimSuffix(u.String(), "?")
}
