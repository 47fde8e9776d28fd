package route

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRules(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Rule
	}{
		{"", nil},
		{" , ,", nil},
		{"claude-*=anthropic", []Rule{{"claude-*", "anthropic"}}},
		{" claude-* = anthropic , gpt-*=openai,,o[134]*=openai ",
			[]Rule{{"claude-*", "anthropic"}, {"gpt-*", "openai"}, {"o[134]*", "openai"}}},
		{"exact-model=ollama", []Rule{{"exact-model", "ollama"}}},
	} {
		got, err := ParseRules(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseRules(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// A rule that cannot be read is an error that quotes it, so the operator finds it in ROUTES.
func TestParseRulesErrors(t *testing.T) {
	for _, in := range []string{
		"claude-*",           // no provider
		"claude-*=",          // empty provider
		"=anthropic",         // empty pattern
		"gpt-*=openai,oops",  // one bad among good ones
		"claude-[=anthropic", // a glob that cannot match
	} {
		rules, err := ParseRules(in)
		if err == nil {
			t.Errorf("ParseRules(%q) = %v, want an error", in, rules)
			continue
		}
		bad := in[strings.LastIndex(in, ",")+1:]
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseRules(%q): %v, want the rule %q named", in, err, bad)
		}
	}
}

func TestRoute(t *testing.T) {
	rules, err := ParseRules("claude-*=anthropic,gpt-4o*=azure,gpt-*=openai,llama3=ollama")
	if err != nil {
		t.Fatal(err)
	}
	r := &Router{Default: "bedrock", Rules: rules}
	known := func(p string) bool { return p == "openrouter" || p == "ollama" || p == "anthropic" }
	for _, tc := range []struct {
		model, provider, upstream string
	}{
		{"claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"},
		{"gpt-4o-mini", "azure", "gpt-4o-mini"}, // the first matching rule wins
		{"gpt-5", "openai", "gpt-5"},
		{"llama3", "ollama", "llama3"},
		{"llama3.1", "bedrock", "llama3.1"}, // a pattern without a wildcard matches only itself
		{"mistral-large", "bedrock", "mistral-large"},
		{"", "bedrock", ""},
		// A known provider's prefix chooses it, before any rule, and is taken off the model.
		{"openrouter/anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"},
		{"ollama/gpt-oss", "ollama", "gpt-oss"},
		{"anthropic/claude-3.5-sonnet", "anthropic", "claude-3.5-sonnet"},
		// An unknown prefix is part of the model's name.
		{"meta/llama-3", "bedrock", "meta/llama-3"},
		// A prefix with nothing after it is no provider's model.
		{"openrouter/", "bedrock", "openrouter/"},
	} {
		p, m := r.Route(tc.model, known)
		if p != tc.provider || m != tc.upstream {
			t.Errorf("Route(%q) = %q, %q; want %q, %q", tc.model, p, m, tc.provider, tc.upstream)
		}
	}
}

// Without rules or a default, only a known prefix routes.
func TestRouteEmpty(t *testing.T) {
	r := &Router{}
	if p, m := r.Route("gpt-4o", func(string) bool { return true }); p != "" || m != "gpt-4o" {
		t.Errorf("Route = %q, %q; want no provider", p, m)
	}
	if p, m := r.Route("openai/gpt-4o", func(p string) bool { return p == "openai" }); p != "openai" || m != "gpt-4o" {
		t.Errorf("Route = %q, %q; want openai, gpt-4o", p, m)
	}
}
