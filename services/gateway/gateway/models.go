package gateway

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
)

// modelsCreated is the creation time reported for every model: providers do not say.
var modelsCreated = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// model is one model a client may ask for, with the provider that serves it.
type model struct{ id, provider string }

func (g *Gateway) models() []model {
	var out []model
	seen := map[string]bool{}
	for _, p := range g.registry.All() {
		for _, id := range p.Models {
			if !seen[id] {
				seen[id] = true
				out = append(out, model{id: id, provider: p.Name})
			}
		}
	}
	return out
}

// anthropicClient reports a caller that speaks the Anthropic API: Claude Code and the
// Anthropic SDKs send anthropic-version on every request.
func anthropicClient(r *http.Request) bool {
	return r.Header.Get("anthropic-version") != "" || r.Header.Get("x-api-key") != ""
}

type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type anthropicModelList struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type openAIModelList struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

func toAnthropic(m model) anthropicModel {
	return anthropicModel{Type: "model", ID: m.id, DisplayName: m.id, CreatedAt: modelsCreated.Format(time.RFC3339)}
}

func toOpenAI(m model) openAIModel {
	return openAIModel{ID: m.id, Object: "model", Created: modelsCreated.Unix(), OwnedBy: m.provider}
}

// listModels answers GET /v1/models in the shape the caller speaks.
func (g *Gateway) listModels(c echo.Context) error {
	ms := g.models()
	if anthropicClient(c.Request()) {
		list := anthropicModelList{Data: make([]anthropicModel, 0, len(ms))}
		for _, m := range ms {
			list.Data = append(list.Data, toAnthropic(m))
		}
		if n := len(list.Data); n > 0 {
			list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
		}
		return c.JSON(http.StatusOK, list)
	}
	list := openAIModelList{Object: "list", Data: make([]openAIModel, 0, len(ms))}
	for _, m := range ms {
		list.Data = append(list.Data, toOpenAI(m))
	}
	return c.JSON(http.StatusOK, list)
}

// getModel answers GET /v1/models/{id}.
func (g *Gateway) getModel(c echo.Context) error {
	id := c.Param("id")
	for _, m := range g.models() {
		if m.id == id {
			if anthropicClient(c.Request()) {
				return c.JSON(http.StatusOK, toAnthropic(m))
			}
			return c.JSON(http.StatusOK, toOpenAI(m))
		}
	}
	f := llm.FormatChat
	if anthropicClient(c.Request()) {
		f = llm.FormatAnthropic
	}
	writeError(c.Response(), f, apierror.New(http.StatusNotFound, "model %q not found", id))
	return nil
}
