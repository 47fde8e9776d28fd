package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

// prose is a prompt of ordinary English, whose true token count is near a quarter of its
// length.
var prose = strings.Repeat("The quick brown fox jumps over the lazy dog while the compiler checks the types. ", 60)

// TestCountTokens checks /v1/messages/count_tokens through the Anthropic SDK: an
// Anthropic-format upstream's own count is relayed; for an OpenAI-format upstream, which cannot
// count, lynkr's estimate is never below the true count.
func TestCountTokens(t *testing.T) {
	params := anthropic.MessageCountTokensParams{
		Model:    "claude-sonnet-4-5",
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("You are terse.")},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prose))},
		Tools: []anthropic.MessageCountTokensToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{Properties: toolSchemas["get_weather"]["properties"]},
		}}},
	}
	t.Run("openai", func(t *testing.T) {
		s := start(t, openAIUpstream, nil)
		c := s.anthropic()
		res, err := c.Messages.CountTokens(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		// The fake cannot tokenize; a quarter of the prompt's characters is below any
		// tokenizer's count of English prose.
		if lower := int64(len(prose)+len("You are terse.")) / 4; res.InputTokens < lower {
			t.Errorf("estimate %d, below the lower bound %d of the true count", res.InputTokens, lower)
		}
		if n := s.Fake.Calls(); n != 0 {
			t.Errorf("the OpenAI-format upstream got %d calls for a count it cannot make", n)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		s := start(t, anthropicUpstream, nil)
		c := s.anthropic()
		res, err := c.Messages.CountTokens(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		reqs := answered(s.Fake)
		if len(reqs) != 1 || reqs[0].Endpoint != fakeupstream.CountTokens {
			t.Fatalf("upstream requests %+v, want one count_tokens call", reqs)
		}
		// The fake counts a token per four bytes of what it received, plus one.
		if want := int64(len(reqs[0].Body)/4 + 1); res.InputTokens != want {
			t.Errorf("input_tokens %d, want the upstream's %d", res.InputTokens, want)
		}
		if !strings.Contains(string(reqs[0].Body), "lazy dog") {
			t.Errorf("the upstream was asked to count %.200s", reqs[0].Body)
		}
	})
}

// TestEmbeddings checks /v1/embeddings through openai-go against an OpenAI-format upstream:
// the client gets the upstream's vectors.
func TestEmbeddings(t *testing.T) {
	s := start(t, openAIUpstream, nil)
	c := s.openai()
	res, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model:      "text-embedding-3-small",
		Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta gamma"}},
		Dimensions: openai.Int(8),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || len(res.Data[0].Embedding) != 8 || res.Data[1].Index != 1 || res.Model != "text-embedding-3-small" {
		t.Fatalf("embeddings %s", res.RawJSON())
	}
	reqs := s.Fake.Requests()
	if len(reqs) != 1 || reqs[0].Endpoint != fakeupstream.Embeddings {
		t.Fatalf("upstream requests %+v, want one embeddings call", reqs)
	}
	direct := postDirect(t, s.Fake.URL()+reqs[0].Path, reqs[0].Body)
	if canonical(t, []byte(res.RawJSON())) != canonical(t, direct) {
		t.Errorf("client got\n%s\nthe upstream answers\n%s", res.RawJSON(), direct)
	}
}

// TestModelsAndRoot checks GET /v1/models answers each SDK in its own shape, and HEAD /.
func TestModelsAndRoot(t *testing.T) {
	s := start(t, openAIUpstream, map[string]string{"OPENAI_MODEL_MAP": "claude-sonnet-4-5=gpt-4o"})
	want := []string{"claude-sonnet-4-5", "gpt-4o"}

	ac := s.anthropic()
	page, err := ac.Models.List(t.Context(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.Type != "model" || m.DisplayName == "" || m.CreatedAt.IsZero() {
			t.Errorf("Anthropic model %s", m.RawJSON())
		}
	}
	var shape map[string]json.RawMessage
	_ = json.Unmarshal([]byte(page.RawJSON()), &shape)
	if strings.Join(ids, ",") != strings.Join(want, ",") || shape["has_more"] == nil || shape["first_id"] == nil || shape["object"] != nil {
		t.Errorf("Anthropic list %s, want Anthropic's shape listing %v", page.RawJSON(), want)
	}

	oc := s.openai()
	list, err := oc.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.OwnedBy == "" || m.Created == 0 {
			t.Errorf("OpenAI model %s", m.RawJSON())
		}
	}
	_ = json.Unmarshal([]byte(list.RawJSON()), &shape)
	if strings.Join(ids, ",") != strings.Join(want, ",") || string(shape["object"]) != `"list"` {
		t.Errorf("OpenAI list %s, want OpenAI's shape listing %v", list.RawJSON(), want)
	}

	resp, err := s.HTTP.Head(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD / = %d", resp.StatusCode)
	}
}

// With no ANTHROPIC_MODEL, the client's model goes to Anthropic as it is, and GET /v1/models
// lists what the upstream's own model list says — Claude Code's model picker reads it.
func TestModelsListedByTheAnthropicUpstream(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.WithModels("claude-opus-4-5", "claude-haiku-4-5"))
	t.Cleanup(fake.Close)
	s := startLynkr(t, anthropicUpstream, fake.URL(), nil)
	s.Fake = fake
	ac := s.anthropic()
	deadline := time.Now().Add(15 * time.Second)
	for {
		page, err := ac.Models.List(t.Context(), anthropic.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if strings.Join(ids, ",") == "claude-opus-4-5,claude-haiku-4-5" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/models lists %v, want the upstream's claude-opus-4-5 and claude-haiku-4-5", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
