package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// ModelLister is a provider whose upstream lists the models it serves. A worker asks it when
// the operator configured no model, so GET /v1/models still shows a client — Claude Code's
// model picker — what it can pick.
type ModelLister interface {
	// NewModelsRequest returns the upstream call that lists its models.
	NewModelsRequest(ctx context.Context) (*http.Request, error)
	// ParseModels reads the model ids from that call's answer.
	ParseModels(body []byte) ([]string, error)
}

var _ ModelLister = (*messagesCounter)(nil)

// NewModelsRequest is Anthropic's GET /v1/models, beside the messages endpoint, with the
// provider's credential and anthropic-version.
func (p *messagesCounter) NewModelsRequest(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, modelsURL(p.url).String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	req.Header = p.header(contentJSON, nil)
	req.Header.Del("Content-Type")
	return req, nil
}

// ParseModels reads the ids of Anthropic's model list ({"data":[{"id":…},…]}).
func (p *messagesCounter) ParseModels(body []byte) ([]string, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("%s: the model list is not JSON", p.name)
	}
	data := gjson.GetBytes(body, "data")
	if !data.IsArray() {
		return nil, fmt.Errorf("%s: the model list has no data array", p.name)
	}
	var ids []string
	for _, m := range data.Array() {
		if id := m.Get("id"); id.Type == gjson.String && id.Str != "" {
			ids = append(ids, id.Str)
		}
	}
	return ids, nil
}

// modelsURL is the model list beside a messages endpoint: …/v1/messages → …/v1/models, as
// many as one page holds.
func modelsURL(messages *url.URL) *url.URL {
	u := *messages
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/messages") + "/models"
	u.RawPath = ""
	u.RawQuery = "limit=1000"
	return &u
}
