package provider

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lynkr/lynkr/pkg/glob"
)

// models is one provider's model map: which upstream model serves a requested name.
//
// The rules, in order:
//  1. the first entry of the provider's map whose pattern matches the requested name gives
//     the model (patterns match whole names, case-insensitively; * matches any run of
//     characters, "/" included);
//  2. a request naming no model gets the provider's default model;
//  3. a name of the provider's own family (claude-* for anthropic, gpt-* for openai, a Bedrock
//     model id for bedrock, anything but another cloud's names for local servers, …) passes
//     through unchanged;
//  4. any other name (claude-* sent to an OpenAI-format provider, gpt-4o sent to Bedrock) gets
//     the default model, or passes through when the provider has no default model.
type models struct {
	def     string
	entries []mapEntry
	native  func(string) bool
}

type mapEntry struct {
	pattern string // package glob's dialect, lower case
	model   string
}

func (m *models) resolve(requested string) string {
	for _, e := range m.entries {
		if glob.Match(e.pattern, requested) {
			return e.model
		}
	}
	switch {
	case requested == "":
		return m.def
	case m.native(requested), m.def == "":
		return requested
	default:
		return m.def
	}
}

// names lists the default model, the literal names of the map and its models, sorted.
func (m *models) names() []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(m.def)
	for _, e := range m.entries {
		if glob.Literal(e.pattern) {
			add(e.pattern) // an exact name is a model this provider answers to
		}
		add(e.model)
	}
	slices.Sort(out)
	return out
}

// parseModelMap reads a model map variable: comma-separated pattern=model entries, e.g.
// "claude-sonnet-*=gpt-4o, claude-haiku-*=gpt-4o-mini". Later entries of an earlier map keep
// their order after the earlier map's.
func parseModelMap(name, value string) ([]mapEntry, error) {
	var out []mapEntry
	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		pattern, model, ok := strings.Cut(item, "=")
		pattern, model = strings.TrimSpace(pattern), strings.TrimSpace(model)
		if !ok || pattern == "" || model == "" {
			return nil, invalid(name, fmt.Sprintf("expected comma-separated pattern=model entries such as claude-sonnet-*=gpt-4o, got %q", item))
		}
		if err := glob.Check(pattern); err != nil {
			return nil, invalid(name, err.Error())
		}
		out = append(out, mapEntry{pattern: strings.ToLower(pattern), model: model})
	}
	return out, nil
}

// The families of model names, for the native rules of the providers.

func isClaude(m string) bool {
	m = strings.ToLower(m)
	return strings.HasPrefix(m, "claude") || strings.HasPrefix(m, "anthropic")
}

func isOpenAI(m string) bool {
	m = strings.ToLower(m)
	if len(m) >= 2 && m[0] == 'o' && m[1] >= '1' && m[1] <= '9' { // o1, o3-mini, o4-mini, …
		return true
	}
	// The gpt-5.x-codex models (and any *-codex name) are served only by OpenAI's Responses API.
	return hasPrefixFold(m, "gpt-", "chatgpt-", "codex-", "text-embedding-", "ft:gpt", "davinci", "babbage", "omni-") ||
		strings.Contains(m, "-codex")
}

// isBedrockID reports a Bedrock model id or inference profile (anthropic.claude-…,
// us.anthropic.claude-…, meta.llama3-…, amazon.nova-…) or an ARN: a provider (or region)
// prefix of letters and hyphens, a dot, then a letter. claude-3.5-sonnet is not one.
func isBedrockID(m string) bool {
	if strings.HasPrefix(m, "arn:aws") {
		return true
	}
	prefix, rest, ok := strings.Cut(m, ".")
	if !ok || prefix == "" || rest == "" || rest[0] < 'a' || rest[0] > 'z' {
		return false
	}
	for _, c := range prefix {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// isCloudName reports a name of a hosted family, which a local server does not serve.
func isCloudName(m string) bool { return isClaude(m) || isOpenAI(m) }

func hasPrefixFold(m string, prefixes ...string) bool {
	m = strings.ToLower(m)
	for _, p := range prefixes {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}
