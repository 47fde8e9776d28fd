// Package route decides which provider a request goes to.
package route

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lynkr/lynkr/pkg/glob"
)

// ErrUnknownProvider is returned for a request that names a provider nobody serves.
var ErrUnknownProvider = errors.New("unknown provider")

// Rule sends models whose name matches Pattern (a glob such as "claude-*", in package glob's
// dialect, the same as MODEL_MAP's) to Provider.
type Rule struct {
	Pattern  string
	Provider string
}

// ParseRules reads "pattern=provider" pairs separated by commas, as in
// ROUTES=claude-*=anthropic,gpt-*=openai.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pattern, provider, ok := strings.Cut(part, "=")
		pattern, provider = strings.TrimSpace(pattern), strings.TrimSpace(provider)
		if !ok || pattern == "" || provider == "" {
			return nil, fmt.Errorf("route %q: want pattern=provider", part)
		}
		if err := glob.Check(pattern); err != nil {
			return nil, fmt.Errorf("route %q: %w", part, err)
		}
		rules = append(rules, Rule{Pattern: pattern, Provider: provider})
	}
	return rules, nil
}

// Router maps a requested model to a provider.
type Router struct {
	Default string
	Rules   []Rule
}

// Route returns the provider for a requested model and the model name to ask it for.
//
// In order: a "provider/model" name whose prefix is a provider that known reports (so
// "openrouter/anthropic/claude-3.5-sonnet" goes to openrouter as "anthropic/claude-3.5-sonnet",
// while OpenRouter's own "anthropic/claude-3.5-sonnet" goes to the default provider unchanged
// unless a provider is called "anthropic"); the first matching rule; the default provider.
func (r *Router) Route(model string, known func(string) bool) (provider, upstreamModel string) {
	if prefix, rest, ok := strings.Cut(model, "/"); ok && rest != "" && known(prefix) {
		return prefix, rest
	}
	for _, rule := range r.Rules {
		if glob.Match(rule.Pattern, model) {
			return rule.Provider, model
		}
	}
	return r.Default, model
}
