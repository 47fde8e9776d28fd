package spend

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/llm"
)

func TestLookupDefaults(t *testing.T) {
	prices := DefaultPrices()
	for _, tc := range []struct {
		model string
		input float64 // 0: not priced
	}{
		{"claude-sonnet-4-5-20250929", 3},
		{"claude-sonnet-4-20250514", 3},
		{"claude-opus-4-1-20250805", 15},
		{"claude-opus-4-20250514", 15},
		{"claude-opus-4-5-20251101", 5},
		{"claude-opus-4.5", 5},
		{"claude-haiku-4-5", 1},
		{"claude-3-5-haiku-20241022", 0.8},
		{"claude-3-7-sonnet-latest", 3},
		{"gpt-4o", 2.5},
		{"gpt-4o-2024-08-06", 2.5},
		{"gpt-4o-mini-2024-07-18", 0.15},
		{"gpt-4.1-nano", 0.1},
		{"gpt-5-mini-2025-08-07", 0.25},
		{"o3-2025-04-16", 2},
		{"o3-mini", 1.1},
		{"text-embedding-3-large", 0.13},
		// Provider prefixes.
		{"anthropic/claude-3.5-sonnet", 3},
		{"openai/gpt-4.1-mini", 0.4},
		{"openrouter/anthropic/claude-haiku-4.5", 1},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", 0.8},
		{"publishers/anthropic/models/claude-opus-4-1@20250805", 15},
		// Unpriced.
		{"llama-3.1-70b", 0},
		{"us.meta.llama3-1-70b-instruct-v1:0", 0},
		{"", 0},
	} {
		p, ok := prices.Lookup(tc.model)
		if ok != (tc.input != 0) || p.Input != tc.input {
			t.Errorf("Lookup(%q) = %+v, %v; want input %v", tc.model, p, ok, tc.input)
		}
	}
}

func TestLookupPrefers(t *testing.T) {
	prices := Prices{
		"m":            {Input: 1},
		"m-large":      {Input: 2},
		"m-large-2":    {Input: 3},
		"vendor/m-x":   {Input: 4},
		"m-x":          {Input: 5},
		"m-large-2-v9": {Input: 6},
	}
	for _, tc := range []struct {
		model string
		input float64
	}{
		{"m", 1},
		{"m-small", 1},
		{"m-large-1", 2},
		{"m-large-2-2025", 3},          // the longest prefix
		{"m-large-2-v9", 6},            // the exact name
		{"vendor/m-x-1", 4},            // the full name before the stripped one
		{"other/m-x-1", 5},             // else the stripped one
		{"us.anthropic.m-large-2", 3},  // Bedrock
		{"openai/openai.m-large-1", 2}, // both
	} {
		if p, ok := prices.Lookup(tc.model); !ok || p.Input != tc.input {
			t.Errorf("Lookup(%q) = %+v, %v; want input %v", tc.model, p, ok, tc.input)
		}
	}
	if _, ok := prices.Lookup("x"); ok {
		t.Error("Lookup(x) found a price")
	}
}

func TestCost(t *testing.T) {
	sonnet := DefaultPrices()["claude-sonnet-4"]
	for _, tc := range []struct {
		name  string
		price Price
		u     llm.Usage
		want  Micros
	}{
		{"input and output", Price{Input: 3, Output: 15}, llm.Usage{InputTokens: 1000, OutputTokens: 100}, 3000 + 1500},
		{"anthropic cache", sonnet, llm.Usage{InputTokens: 1_000_000, CacheReadTokens: 600_000, CacheCreateTokens: 100_000, OutputTokens: 10_000},
			300_000*3 + 600_000*0.3 + 100_000*3.75 + 10_000*15},
		{"cache prices default to input", Price{Input: 2, Output: 4}, llm.Usage{InputTokens: 10, CacheReadTokens: 4, CacheCreateTokens: 3, OutputTokens: 1}, 10*2 + 4},
		{"uncached not below zero", Price{Input: 5, CacheRead: 1}, llm.Usage{InputTokens: 10, CacheReadTokens: 20}, 20},
		{"rounded to the micro", Price{Input: 0.15}, llm.Usage{InputTokens: 3}, 0}, // 0.45 µ$
		{"rounded up", Price{Input: 0.15}, llm.Usage{InputTokens: 7}, 1},           // 1.05 µ$
		{"embedding", Price{Input: 0.02}, llm.Usage{InputTokens: 1_000_000}, 20_000},
		{"nothing", sonnet, llm.Usage{}, 0},
	} {
		if got := tc.price.Cost(tc.u); got != tc.want {
			t.Errorf("%s: Cost = %d, want %d", tc.name, got, tc.want)
		}
	}

	prices := DefaultPrices()
	if c, ok := prices.Cost("claude-sonnet-4-5-20250929", llm.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}); !ok || c != USD(18) {
		t.Errorf("Cost = %d, %v; want $18", c, ok)
	}
	if c, ok := prices.Cost("my-local-model", llm.Usage{InputTokens: 1000}); ok || c != 0 {
		t.Errorf("unknown model: Cost = %d, %v; want 0, false", c, ok)
	}
}

func TestMicros(t *testing.T) {
	if USD(12.31) != 12_310_000 || USD(12.31).USD() != 12.31 {
		t.Errorf("USD(12.31) = %d", USD(12.31))
	}
	if USD(0.0000015) != 2 || USD(0.0000004) != 0 {
		t.Error("USD does not round to the nearest micro")
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPrices(t *testing.T) {
	path := writeFile(t, `{
		"gpt-4o": {"input": 2, "output": 8},
		"my-model": {"input": 0.5, "output": 1, "cache_read": 0.05, "cache_write": 0.6},
		"free-model": {"input": 0, "output": 0}
	}`)
	prices, err := LoadPrices(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := prices.Lookup("gpt-4o-2024-08-06"); p != (Price{Input: 2, Output: 8}) {
		t.Errorf("gpt-4o = %+v, want the file's", p)
	}
	if p, _ := prices.Lookup("gpt-4o-mini"); p != DefaultPrices()["gpt-4o-mini"] {
		t.Errorf("gpt-4o-mini = %+v, want the default", p)
	}
	if p, _ := prices.Lookup("my-model"); p != (Price{Input: 0.5, Output: 1, CacheRead: 0.05, CacheWrite: 0.6}) {
		t.Errorf("my-model = %+v", p)
	}
	if c, ok := prices.Cost("free-model", llm.Usage{InputTokens: 100}); !ok || c != 0 {
		t.Errorf("free-model: Cost = %d, %v; want 0, true", c, ok)
	}
	if len(prices) != len(DefaultPrices())+2 {
		t.Errorf("%d prices, want the %d defaults and 2 more", len(prices), len(DefaultPrices()))
	}
}

func TestLoadPricesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"negative", `{"gpt-4o": {"input": 2, "output": 8}, "bad": {"input": -1, "output": 1}}`,
			[]string{`model "bad": input: want a price ≥ 0`, "got -1"}},
		{"two bad", `{"b": {"output": -2}, "a": {"cache_read": -3}}`,
			[]string{`model "a": cache_read`, `model "b": output`}},
		{"empty name", `{"": {"input": 1}}`, []string{"empty model name"}},
		{"unknown field", `{"m": {"inptu": 1}}`, []string{`unknown field "inptu"`}},
		{"not an object", `[1, 2]`, []string{"want {\"model\""}},
		{"string price", `{"m": {"input": "3"}}`, []string{"cannot unmarshal string"}},
	} {
		path := writeFile(t, tc.body)
		_, err := LoadPrices(path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range append(tc.want, path) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := LoadPrices(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v does not name it", err)
	}
}

func TestPriceValidate(t *testing.T) {
	if err := (Price{Input: 1, Output: 2}).Validate(); err != nil {
		t.Error(err)
	}
	for _, p := range []Price{{Input: math.NaN()}, {Output: math.Inf(1)}, {CacheWrite: -0.1}} {
		if p.Validate() == nil {
			t.Errorf("%+v is valid", p)
		}
	}
}
