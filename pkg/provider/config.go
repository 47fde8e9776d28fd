package provider

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/lynkr/lynkr/pkg/config"
)

// ConfigError is a setting that stops start-up. Its message is one line that names the
// variable and what it expects, and never repeats a credential.
type ConfigError struct {
	Var string // the variable at fault
	msg string
}

func (e *ConfigError) Error() string { return e.msg }

// Is makes a ConfigError a config.ErrBadSetting: the command stops with status 2.
func (e *ConfigError) Is(target error) bool { return target == config.ErrBadSetting }

// required is the error of a variable a chosen provider needs.
func required(name, when string) error {
	return &ConfigError{Var: name, msg: name + " is required when " + when}
}

// invalid is the error of a variable with a value lynkr cannot use.
func invalid(name, problem string) error {
	return &ConfigError{Var: name, msg: name + ": " + problem}
}

// Set is the providers Load built, by name.
type Set struct {
	def, fallback string
	byName        map[string]Provider
}

// Default is the provider MODEL_PROVIDER chose.
func (s *Set) Default() string { return s.def }

// Fallback is the provider FALLBACK_PROVIDER chose, or "" for none.
func (s *Set) Fallback() string { return s.fallback }

// Get returns the named provider, if it was configured.
func (s *Set) Get(name string) (Provider, bool) {
	p, ok := s.byName[name]
	return p, ok
}

// Names lists the configured providers, sorted.
func (s *Set) Names() []string { return slices.Sorted(maps.Keys(s.byName)) }

func (s *Set) String() string {
	return fmt.Sprintf("providers %v (default %s, fallback %q)", s.Names(), s.def, s.fallback)
}

// env reads variables through the lookup function Load was given.
type env struct {
	lookup func(string) (string, bool)
}

// get returns a variable's value, trimmed; unset and empty are the same.
func (e env) get(name string) string {
	v, _ := e.lookup(name)
	return strings.TrimSpace(v)
}

// or returns a variable's value, or def when it is unset or empty.
func (e env) or(name, def string) string {
	if v := e.get(name); v != "" {
		return v
	}
	return def
}

// first returns the value of the first of names that is set.
func (e env) first(names ...string) string {
	for _, n := range names {
		if v := e.get(n); v != "" {
			return v
		}
	}
	return ""
}

// secret returns a credential the provider needs.
func (e env) secret(name string, c choice) (config.Secret, error) {
	s := e.optionalSecret(name)
	if s.IsZero() {
		return config.Secret{}, required(name, c.why)
	}
	return s, nil
}

// optionalSecret returns a credential the provider can do without; empty when unset.
func (e env) optionalSecret(name string) config.Secret {
	return config.NewEnv(e.lookup).Secret(name)
}

func (e env) bool(name string, def bool) (bool, error) {
	switch strings.ToLower(e.get(name)) {
	case "":
		return def, nil
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, invalid(name, fmt.Sprintf("expected true or false, got %q", e.get(name)))
}

// models builds a provider's model map: its <PREFIX>_MODEL_MAP, then, for the default
// provider, MODEL_MAP.
func (e env) models(c choice, prefix, def string, native func(string) bool) (*models, error) {
	m := &models{def: def, native: native}
	vars := []string{prefix + "_MODEL_MAP"}
	if c.isDefault {
		vars = append(vars, "MODEL_MAP")
	}
	for _, v := range vars {
		entries, err := parseModelMap(v, e.get(v))
		if err != nil {
			return nil, err
		}
		m.entries = append(m.entries, entries...)
	}
	return m, nil
}

// choice is why a provider is being built.
type choice struct {
	why       string // completes "X is required when …": "MODEL_PROVIDER=openai"
	isDefault bool   // the provider MODEL_PROVIDER chose
	chosen    bool   // chosen by MODEL_PROVIDER or FALLBACK_PROVIDER, not only configured
}

// spec is one provider Load knows.
type spec struct {
	build func(e env, c choice) (Provider, error)
	// configured returns why the provider should be built though neither MODEL_PROVIDER nor
	// FALLBACK_PROVIDER chose it ("OPENAI_API_KEY is set"), or "" to leave it out.
	configured func(e env) string
}

// setBy returns a configured function: the provider is built when the first of names that
// is set is.
func setBy(names ...string) func(env) string {
	return func(e env) string {
		for _, n := range names {
			if e.get(n) != "" {
				return n + " is set"
			}
		}
		return ""
	}
}

func specs() map[string]spec {
	return map[string]spec{
		"openai":          {buildOpenAI, setBy("OPENAI_API_KEY")},
		"azure-openai":    {buildAzureOpenAI, setBy("AZURE_OPENAI_API_KEY")},
		"openrouter":      {buildOpenRouter, setBy("OPENROUTER_API_KEY")},
		"moonshot":        {buildMoonshot, setBy("MOONSHOT_API_KEY")},
		"ollama":          {buildOllama, setBy("OLLAMA_ENDPOINT", "OLLAMA_MODEL")},
		"llamacpp":        {buildLlamaCpp, setBy("LLAMACPP_ENDPOINT", "LLAMACPP_MODEL")},
		"lmstudio":        {buildLMStudio, setBy("LMSTUDIO_ENDPOINT", "LMSTUDIO_MODEL")},
		"anthropic":       {buildAnthropic, setBy("ANTHROPIC_API_KEY")},
		"azure-anthropic": {buildAzureAnthropic, setBy("AZURE_ANTHROPIC_API_KEY")},
		"databricks":      {buildDatabricks, setBy("DATABRICKS_API_KEY")},
		"zai":             {buildZAI, setBy("ZAI_API_KEY")},
		"bedrock":         {buildBedrock, setBy("AWS_BEDROCK_API_KEY", "AWS_BEARER_TOKEN_BEDROCK", "AWS_BEDROCK_MODEL_ID")},
	}
}

// Load builds the providers the environment configures, reading variables only through
// lookup (os.LookupEnv in production). It builds
//   - the provider MODEL_PROVIDER names (default "ollama": free, and private to the laptop);
//   - the provider FALLBACK_PROVIDER names, unless FALLBACK_ENABLED=false;
//   - every other provider whose credential is set (its endpoint, for the local servers).
//
// A chosen provider missing a credential, or any bad value, stops start-up with a
// *ConfigError naming the variable: "OPENAI_API_KEY is required when MODEL_PROVIDER=openai".
//
// The variables are Lynkr's (see each provider's builder for its own):
//
//	MODEL_PROVIDER     default provider: openai, azure-openai, openrouter, moonshot, ollama,
//	                   llamacpp, lmstudio, anthropic, azure-anthropic, databricks, zai, bedrock
//	FALLBACK_PROVIDER  provider for the worker to fall back on; FALLBACK_ENABLED=false ignores it
//	MODEL_MAP          the default provider's model map; <PREFIX>_MODEL_MAP is one provider's
//	                   (OPENAI_MODEL_MAP, AWS_BEDROCK_MODEL_MAP, …), read before MODEL_MAP:
//	                   comma-separated pattern=model entries, * matching any run of characters,
//	                   e.g. claude-sonnet-*=gpt-4o,claude-haiku-*=gpt-4o-mini
//
// The model map rules are those of (*models).resolve: map entries first, then a request with
// no model gets <PREFIX>_MODEL, a name of the provider's own family passes through, and a
// foreign name (claude-* sent to an OpenAI provider) gets <PREFIX>_MODEL.
func Load(lookup func(string) (string, bool)) (*Set, error) {
	e := env{lookup: lookup}
	all := specs()
	known := slices.Sorted(maps.Keys(all))
	def := strings.ToLower(e.or("MODEL_PROVIDER", "ollama"))
	if _, ok := all[def]; !ok {
		return nil, invalid("MODEL_PROVIDER", fmt.Sprintf("expected one of %s, got %q", strings.Join(known, ", "), def))
	}
	fallback := strings.ToLower(e.get("FALLBACK_PROVIDER"))
	enabled, err := e.bool("FALLBACK_ENABLED", true)
	if err != nil {
		return nil, err
	}
	if !enabled || fallback == def {
		fallback = ""
	}
	if _, ok := all[fallback]; fallback != "" && !ok {
		return nil, invalid("FALLBACK_PROVIDER", fmt.Sprintf("expected one of %s, got %q", strings.Join(known, ", "), fallback))
	}

	s := &Set{def: def, fallback: fallback, byName: map[string]Provider{}}
	for _, name := range known {
		sp := all[name]
		c := choice{isDefault: name == def}
		switch {
		case name == def:
			c.why, c.chosen = "MODEL_PROVIDER="+name, true
		case name == fallback:
			c.why, c.chosen = "FALLBACK_PROVIDER="+name, true
		default:
			if c.why = sp.configured(e); c.why == "" {
				continue
			}
		}
		p, err := sp.build(e, c)
		if err != nil {
			return nil, err
		}
		s.byName[name] = p
	}
	return s, nil
}
