package worker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/lynkr/lynkr/pkg/provider"
)

// How often an upstream's model list is asked again, and after a failure.
const (
	modelListEvery = 10 * time.Minute
	modelListRetry = 30 * time.Second
)

// listModels asks each provider that has no configured model, and whose upstream can list
// its models, which models it serves: once before the worker first announces its providers
// (waiting at most firstListWait, so a dead upstream delays nothing much), then every
// modelListEvery. A changed list is announced at once. An upstream that cannot answer is asked
// again after modelListRetry; its provider is announced without models meanwhile.
func (w *Worker) listModels(ctx context.Context, first chan<- struct{}) error {
	var listers []provider.Provider
	for _, name := range w.ps.Names() {
		p, _ := w.ps.Get(name)
		if _, ok := p.(provider.ModelLister); ok && len(p.Models()) == 0 {
			listers = append(listers, p)
		}
	}
	warned := map[string]bool{}
	for {
		wait := modelListEvery
		for _, p := range listers {
			ids, err := w.fetchModels(ctx, p)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				wait = modelListRetry
				level := w.log.Debug
				if !warned[p.Name()] {
					warned[p.Name()], level = true, w.log.Warn
				}
				level("could not list the upstream's models; GET /v1/models shows none of them", "provider", p.Name(), "error", err)
			case w.setListed(p.Name(), ids):
				w.log.Info("upstream models listed", "provider", p.Name(), "models", len(ids))
				select {
				case w.relist <- struct{}{}:
				default:
				}
			}
		}
		if first != nil {
			close(first)
			first = nil
		}
		if len(listers) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// firstListWait is the longest the first announcement waits for the upstreams' model lists.
const firstListWait = 2 * time.Second

// fetchModels makes one model list call.
func (w *Worker) fetchModels(ctx context.Context, p provider.Provider) ([]string, error) {
	lister := p.(provider.ModelLister)
	ctx, cancel := context.WithTimeout(ctx, firstListWait)
	defer cancel()
	req, err := lister.NewModelsRequest(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", req.URL.Redacted(), resp.StatusCode)
	}
	return lister.ParseModels(body)
}

// setListed keeps a provider's listed models and reports whether they changed.
func (w *Worker) setListed(provider string, ids []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if slices.Equal(w.listed[provider], ids) {
		return false
	}
	w.listed[provider] = ids
	return true
}

// models are the names a provider announces: its configured ones, else what its upstream
// listed.
func (w *Worker) models(p provider.Provider) []string {
	if m := p.Models(); len(m) > 0 {
		return m
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.listed[p.Name()]
}
