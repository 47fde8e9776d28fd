package provider

import (
	"slices"
	"testing"
)

func TestModelMapRules(t *testing.T) {
	entries, err := parseModelMap("MODEL_MAP", " claude-sonnet-*=gpt-4o , claude-haiku-*=gpt-4o-mini,,Claude-Opus-4-5=o3, */special=gpt-4.1")
	if err != nil {
		t.Fatal(err)
	}
	m := &models{def: "gpt-4o", entries: entries, native: notClaude}
	tests := []struct{ requested, want string }{
		{"claude-sonnet-4-5-20250929", "gpt-4o"},   // rule 1, glob
		{"claude-haiku-4-5", "gpt-4o-mini"},        // rule 1
		{"claude-opus-4-5", "o3"},                  // rule 1, exact, case-insensitive
		{"vendor/special", "gpt-4.1"},              // * spans any run, "/" included
		{"", "gpt-4o"},                             // rule 2
		{"gpt-4.1-mini", "gpt-4.1-mini"},           // rule 3, own family
		{"claude-3-7-sonnet-20250219", "gpt-4o"},   // rule 4, foreign
		{"claude-sonnet", "gpt-4o"},                // foreign, not matched by claude-sonnet-*
		{"my-fine-tune:v2", "my-fine-tune:v2"},     // unknown names pass to an open family
		{"CLAUDE-HAIKU-4-5", "gpt-4o-mini"},        // patterns fold case
		{"claude-haiku-4-5-extra", "gpt-4o-mini"},  // glob at the end
		{"xclaude-haiku-4-5", "xclaude-haiku-4-5"}, // globs match whole names
	}
	for _, tt := range tests {
		if got := m.resolve(tt.requested); got != tt.want {
			t.Errorf("resolve(%q) = %q, want %q", tt.requested, got, tt.want)
		}
	}
	if got, want := m.names(), []string{"claude-opus-4-5", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "o3"}; !slices.Equal(got, want) {
		t.Errorf("names() = %v, want %v", got, want)
	}
	noDefault := &models{native: isClaude}
	if got := noDefault.resolve("gpt-4o"); got != "gpt-4o" {
		t.Errorf("with no default model a foreign name passes through; got %q", got)
	}
}

func TestFamilies(t *testing.T) {
	tests := []struct {
		name                    string
		claude, openai, bedrock bool
	}{
		{"claude-sonnet-4-5", true, false, false},
		{"anthropic/claude-3.5-sonnet", true, false, false},
		{"gpt-4o", false, true, false},
		{"o3-mini", false, true, false},
		{"o1", false, true, false},
		{"orca-mini", false, false, false},
		{"qwen2.5-coder:7b", false, false, false},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", true, false, true},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", false, false, true},
		{"meta.llama3-70b-instruct-v1:0", false, false, true},
		{"arn:aws:bedrock:us-east-1:123:inference-profile/x", false, false, true},
		{"claude-3.5-sonnet", true, false, false},
		{"llama3.2:3b", false, false, false},
	}
	for _, tt := range tests {
		if isClaude(tt.name) != tt.claude || isOpenAI(tt.name) != tt.openai || isBedrockID(tt.name) != tt.bedrock {
			t.Errorf("%s: claude %v openai %v bedrock %v; want %v %v %v", tt.name, isClaude(tt.name), isOpenAI(tt.name), isBedrockID(tt.name), tt.claude, tt.openai, tt.bedrock)
		}
	}
}
