package e2e

import (
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func TestSmoke(t *testing.T) {
	for _, kind := range upstreams {
		t.Run(string(kind), func(t *testing.T) {
			s := start(t, kind, nil)
			s.Fake.Enqueue(fakeupstreamReply("hello world"))
			c := s.anthropic()
			m, err := c.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", m.RawJSON())
		})
	}
}

func fakeupstreamReply(s string) fakeupstream.Reply { return fakeupstream.Reply{Text: s} }
