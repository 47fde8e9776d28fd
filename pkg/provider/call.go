package provider

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
)

// base is what every provider has: a name, a format, a model map and an endpoint to show.
type base struct {
	name     string
	format   llm.Format
	models   *models
	endpoint string // the endpoint URL, password redacted, for String and logs
}

func (b *base) Name() string                  { return b.name }
func (b *base) Format() llm.Format            { return b.format }
func (b *base) Model(requested string) string { return b.models.resolve(requested) }
func (b *base) Models() []string              { return b.models.names() }

// String describes the provider without its credential.
func (b *base) String() string {
	return fmt.Sprintf("%s provider (%s, %s)", b.name, b.format, b.endpoint)
}

// GoString is String, so %#v does not print the provider's fields.
func (b *base) GoString() string { return b.String() }

// LogValue logs the provider's name, format and endpoint.
func (b *base) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", b.name), slog.String("format", string(b.format)), slog.String("endpoint", b.endpoint))
}

// auth is how a provider presents its credential.
type auth struct {
	header string // Authorization, x-api-key or api-key
	prefix string // "Bearer " for Authorization
	key    config.Secret
}

// bearer sends key as "Authorization: Bearer <key>".
func bearer(key config.Secret) auth {
	return auth{header: "Authorization", prefix: "Bearer ", key: key}
}

// xAPIKey sends key as "x-api-key: <key>".
func xAPIKey(key config.Secret) auth { return auth{header: "x-api-key", key: key} }

// apply sets the credential header; a provider without a credential (a local server) sets none.
// It is the one place a provider's key is revealed.
func (a auth) apply(h http.Header) {
	if a.key.IsZero() {
		return
	}
	h.Set(a.header, a.prefix+a.key.Reveal())
}

// newCall returns a POST of body to url with header h.
func newCall(ctx context.Context, provider, url string, body []byte, h http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", provider, err)
	}
	req.Header = h
	return req, nil
}
