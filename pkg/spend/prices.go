package spend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Micros is an amount of money in millionths of a US dollar. A token priced at $X per
// million tokens costs X micros, so costs add up exactly in integers.
type Micros int64

// USD converts dollars to micros, rounded to the nearest micro.
func USD(dollars float64) Micros { return Micros(math.Round(dollars * 1e6)) }

// USD is the amount in dollars.
func (m Micros) USD() float64 { return float64(m) / 1e6 }

// Price is what a model costs, in USD per million tokens. A zero CacheRead or CacheWrite
// means the cached tokens cost as much as Input.
type Price struct {
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read,omitempty"`
	CacheWrite float64 `json:"cache_write,omitempty"`
}

// Validate says which price is negative, NaN or infinite.
func (p Price) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{{"input", p.Input}, {"output", p.Output}, {"cache_read", p.CacheRead}, {"cache_write", p.CacheWrite}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("%s: want a price ≥ 0 USD per million tokens, got %v", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// Cost is what usage u costs at this price. The prompt tokens neither read from nor
// written to the provider's cache are charged at Input, the others at CacheRead and
// CacheWrite.
func (p Price) Cost(u llm.Usage) Micros {
	read, write := p.CacheRead, p.CacheWrite
	if read == 0 {
		read = p.Input
	}
	if write == 0 {
		write = p.Input
	}
	uncached := max(0, u.InputTokens-u.CacheReadTokens-u.CacheCreateTokens)
	return Micros(math.Round(float64(uncached)*p.Input +
		float64(u.CacheReadTokens)*read +
		float64(u.CacheCreateTokens)*write +
		float64(u.OutputTokens)*p.Output))
}

// Prices are the prices of models, keyed by model name or by the prefix of a family of
// model names.
type Prices map[string]Price

// anthropic is Anthropic's price for a model: cache reads cost a tenth of input, cache
// writes (5-minute) a quarter more.
func anthropic(in, out float64) Price {
	return Price{Input: in, Output: out, CacheRead: in / 10, CacheWrite: in * 1.25}
}

// openai is OpenAI's price for a model: cached prompt tokens cost cached; OpenAI does not
// charge for writing its cache.
func openai(in, out, cached float64) Price {
	return Price{Input: in, Output: out, CacheRead: cached, CacheWrite: in}
}

// DefaultPrices are the list prices of common models. Dotted aliases ("claude-opus-4.5")
// are listed where a shorter key would otherwise match them at the wrong price.
func DefaultPrices() Prices {
	return Prices{
		"claude-opus-4-6":   anthropic(5, 25),
		"claude-opus-4.6":   anthropic(5, 25),
		"claude-opus-4-5":   anthropic(5, 25),
		"claude-opus-4.5":   anthropic(5, 25),
		"claude-opus-4":     anthropic(15, 75), // and claude-opus-4-1
		"claude-sonnet-4":   anthropic(3, 15),  // and 4-5, 4.5, …
		"claude-3-7-sonnet": anthropic(3, 15),
		"claude-3.7-sonnet": anthropic(3, 15),
		"claude-3-5-sonnet": anthropic(3, 15),
		"claude-3.5-sonnet": anthropic(3, 15),
		"claude-haiku-4-5":  anthropic(1, 5),
		"claude-haiku-4.5":  anthropic(1, 5),
		"claude-3-5-haiku":  anthropic(0.8, 4),
		"claude-3.5-haiku":  anthropic(0.8, 4),

		"gpt-4o":                 openai(2.5, 10, 1.25),
		"gpt-4o-mini":            openai(0.15, 0.6, 0.075),
		"gpt-4.1":                openai(2, 8, 0.5),
		"gpt-4.1-mini":           openai(0.4, 1.6, 0.1),
		"gpt-4.1-nano":           openai(0.1, 0.4, 0.025),
		"gpt-5":                  openai(1.25, 10, 0.125),
		"gpt-5-mini":             openai(0.25, 2, 0.025),
		"gpt-5-nano":             openai(0.05, 0.4, 0.005),
		"o3":                     openai(2, 8, 0.5),
		"o3-mini":                openai(1.1, 4.4, 0.55),
		"o4-mini":                openai(1.1, 4.4, 0.275),
		"text-embedding-3-small": {Input: 0.02},
		"text-embedding-3-large": {Input: 0.13},
	}
}

// vendors are the model vendors whose names Bedrock puts before a model's
// ("us.anthropic.claude-…", "openai.gpt-oss-…").
var vendors = []string{"anthropic.", "openai."}

// Lookup finds a model's price: by its exact name, else by the longest key that is a
// prefix of it ("claude-sonnet-4-5-20250929" finds "claude-sonnet-4-5"). When neither
// matches it tries again without a provider's prefix: what comes before the last "/"
// ("anthropic/claude-…") and Bedrock's region and vendor ("us.anthropic.claude-…").
func (p Prices) Lookup(model string) (Price, bool) {
	for _, name := range candidates(model) {
		if pr, ok := p[name]; ok {
			return pr, true
		}
		best, found := "", false
		for k := range p {
			if k != "" && strings.HasPrefix(name, k) && len(k) > len(best) {
				best, found = k, true
			}
		}
		if found {
			return p[best], true
		}
	}
	return Price{}, false
}

// candidates are the names Lookup tries for a model, the model's own first.
func candidates(model string) []string {
	names := []string{model}
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
		names = append(names, model)
	}
	for _, v := range vendors {
		if i := strings.Index(model, v); i >= 0 {
			names = append(names, model[i+len(v):])
			break
		}
	}
	return names
}

// Cost is what usage u of model costs, and whether the model has a price. A model without
// one costs 0.
func (p Prices) Cost(model string, u llm.Usage) (Micros, bool) {
	pr, ok := p.Lookup(model)
	if !ok {
		return 0, false
	}
	return pr.Cost(u), true
}

// LoadPrices reads a JSON file of prices, {"model": {"input": 3, "output": 15}, …}, and
// returns the default prices with the file's entries added or replacing them.
func LoadPrices(path string) (Prices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spend: prices file: %w", err)
	}
	var file Prices
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("spend: prices file %s: want {\"model\": {\"input\": …, \"output\": …}}: %w", path, err)
	}
	var errs []error
	for _, model := range slices.Sorted(maps.Keys(file)) {
		if model == "" {
			errs = append(errs, fmt.Errorf("spend: prices file %s: an entry has an empty model name", path))
		} else if err := file[model].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("spend: prices file %s: model %q: %w", path, model, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	prices := DefaultPrices()
	for model, pr := range file {
		prices[model] = pr
	}
	return prices, nil
}
