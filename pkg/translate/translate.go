// Package translate converts requests, responses and streams between the wire formats of
// package llm. It is pure data in, data out: no HTTP, no bus.
//
// Each supported pair of formats registers one Converter (one file per pair, named for the
// pair). A request travels from the client's format to the upstream's; its answer travels
// back. Formats with no direct converter are chained through the formats in between, so
// Responses → Anthropic runs Responses → Chat → Anthropic and back.
package translate

import (
	"errors"
	"fmt"

	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/pkg/llm/converse"
	"github.com/lynkr/lynkr/pkg/llm/responses"
	"github.com/lynkr/lynkr/pkg/sse"
)

// ErrUnsupported is returned when no chain of converters joins two formats.
var ErrUnsupported = errors.New("unsupported translation")

// Stream converts one upstream stream into the client's, one event at a time. It keeps the
// state a conversion needs (open content blocks, tool-call indexes, usage so far).
type Stream interface {
	// Next takes one upstream event and returns the client events it produces, possibly none.
	Next(ev sse.Event) ([]sse.Event, error)
	// Close is called once after the upstream's last event and returns the client events that
	// close the stream properly (or an error if the upstream ended it early).
	Close() ([]sse.Event, error)
	// Usage returns the token usage seen so far.
	Usage() llm.Usage
}

// Converter is one directed edge of the format graph: requests in a client-side format (From)
// become requests in an upstream-side format (To), and the upstream's answers in To become
// answers in From.
//
// Request is given the upstream model name to set (empty keeps the request's own), and notes
// in the options' Dropped what it leaves out, by the names of the policy table (policy.go).
// Response and Stream are given req, the From-side request that was translated, because an
// answer depends on its question (the client's model name, whether it asked for usage in the
// stream, an estimate of the prompt's size before the upstream reports it).
type Converter struct {
	From, To llm.Format
	Request  func(body []byte, opt llm.Options) ([]byte, error)
	Response func(req, body []byte) ([]byte, llm.Usage, error)
	Stream   func(req []byte) Stream
}

// Plan is the chain of converters that joins a client format to an upstream format.
type Plan []Converter

// converters lists every direct conversion: the one place that says what is supported.
// The conversions themselves live with their formats (package anthropic converts to and from
// OpenAI chat, package responses to and from chat, package converse from Anthropic).
var converters = []Converter{
	identity(llm.FormatAnthropic, anthropic.ResponseUsage, anthropic.EventUsage, anthropic.IsLastEvent),
	chatIdentity(),
	identity(llm.FormatResponses, responses.ResponseUsage, responses.EventUsage, responses.IsLastEvent),
	{
		From: llm.FormatAnthropic, To: llm.FormatChat,
		Request:  anthropic.MessagesToChatRequest,
		Response: anthropic.ChatToMessagesResponse,
		Stream:   func(req []byte) Stream { return anthropic.NewChatToMessagesStream(req) },
	},
	{
		From: llm.FormatChat, To: llm.FormatAnthropic,
		Request:  anthropic.ChatToMessagesRequest,
		Response: anthropic.MessagesToChatResponse,
		Stream:   func(req []byte) Stream { return anthropic.NewMessagesToChatStream(req) },
	},
	{
		From: llm.FormatResponses, To: llm.FormatChat,
		Request:  responses.ResponsesToChatRequest,
		Response: responses.ChatToResponsesResponse,
		Stream:   func(req []byte) Stream { return responses.NewChatToResponsesStream(req) },
	},
	{
		From: llm.FormatChat, To: llm.FormatResponses,
		Request:  responses.ChatToResponsesRequest,
		Response: responses.ResponsesToChatResponse,
		Stream:   func(req []byte) Stream { return responses.NewResponsesToChatStream(req) },
	},
	{
		From: llm.FormatAnthropic, To: llm.FormatConverse,
		Request:  converse.MessagesToConverseRequest,
		Response: converse.ConverseToMessagesResponse,
		Stream:   func(req []byte) Stream { return converse.NewConverseToMessagesStream(req) },
	},
}

// For returns the plan that takes requests in client format to upstream format, the shortest
// chain of registered converters.
func For(client, upstream llm.Format) (Plan, error) {
	if client == upstream {
		for _, c := range converters {
			if c.From == client && c.To == upstream {
				return Plan{c}, nil
			}
		}
	}
	// Breadth-first search over the (small) graph of formats.
	type node struct {
		format llm.Format
		plan   Plan
	}
	seen := map[llm.Format]bool{client: true}
	queue := []node{{format: client}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range converters {
			if c.From != n.format || c.From == c.To || seen[c.To] {
				continue
			}
			p := append(append(Plan(nil), n.plan...), c)
			if c.To == upstream {
				return p, nil
			}
			seen[c.To] = true
			queue = append(queue, node{format: c.To, plan: p})
		}
	}
	return nil, fmt.Errorf("%w: %s to %s", ErrUnsupported, client, upstream)
}

// From is the client's format.
func (p Plan) From() llm.Format { return p[0].From }

// To is the upstream's format.
func (p Plan) To() llm.Format { return p[len(p)-1].To }

// Lists reports whether the policy names name explicitly for a conversion of the plan (not
// only as one of the "other" constructs, named by themselves).
func (p Plan) Lists(name string) bool {
	for _, c := range p {
		if listed[[2]llm.Format{c.From, c.To}][name] {
			return true
		}
	}
	return false
}

// listed holds, by direction, the names the policy gives explicitly: Lists runs for every
// name a request drops, so the table is read once, not per request.
var listed = func() map[[2]llm.Format]map[string]bool {
	m := map[[2]llm.Format]map[string]bool{}
	for _, r := range Policy {
		d := [2]llm.Format{r.From, r.To}
		for _, n := range r.Names {
			if n == AnyName {
				continue
			}
			if m[d] == nil {
				m[d] = map[string]bool{}
			}
			m[d][n] = true
		}
	}
	return m
}()

// Call is one request on its way through a plan: the request as each stage saw it, so the
// answer can be translated back through the same stages.
type Call struct {
	plan    Plan
	bodies  [][]byte // bodies[i] is the request in plan[i].From; the last is the upstream's
	dropped llm.Dropped
}

// Request translates a client request body into the upstream's format, naming the upstream
// model (empty keeps the client's).
func (p Plan) Request(body []byte, model string) (*Call, error) {
	c := &Call{plan: p, bodies: make([][]byte, len(p)+1)}
	c.bodies[0] = body
	for i, conv := range p {
		// Every stage names the upstream model, so each decides by it (a reasoning model takes
		// other settings); the client's own name comes back from its request in the answer.
		opt := llm.Options{Model: model, Dropped: &c.dropped, Intermediate: i < len(p)-1}
		out, err := conv.Request(c.bodies[i], opt)
		if err != nil {
			return nil, err
		}
		c.bodies[i+1] = out
	}
	return c, nil
}

// Body is the request to send upstream.
func (c *Call) Body() []byte { return c.bodies[len(c.bodies)-1] }

// Dropped names what the conversion left out of the client's request, by the names of the
// policy table, in the order first met; none for a passthrough.
func (c *Call) Dropped() []string { return c.dropped.Names() }

// Response translates a complete upstream response body into the client's format. The usage
// is the one the upstream reported.
func (c *Call) Response(body []byte) ([]byte, llm.Usage, error) {
	var usage llm.Usage
	for i := len(c.plan) - 1; i >= 0; i-- {
		b, u, err := c.plan[i].Response(c.bodies[i], body)
		if err != nil {
			return nil, llm.Usage{}, err
		}
		if i == len(c.plan)-1 {
			usage = u
		}
		body = b
	}
	return body, usage, nil
}

// Stream returns the converter of the upstream's stream into the client's.
func (c *Call) Stream() Stream {
	if len(c.plan) == 1 {
		return c.plan[0].Stream(c.bodies[0])
	}
	stages := make([]Stream, len(c.plan))
	for i := range c.plan {
		stages[len(c.plan)-1-i] = c.plan[i].Stream(c.bodies[i])
	}
	return &chain{stages: stages}
}

// chain runs the upstream-side stage first and feeds each stage's output to the next.
type chain struct{ stages []Stream }

func (c *chain) Next(ev sse.Event) ([]sse.Event, error) {
	evs := []sse.Event{ev}
	for _, s := range c.stages {
		var out []sse.Event
		for _, e := range evs {
			o, err := s.Next(e)
			if err != nil {
				return nil, err
			}
			out = append(out, o...)
		}
		evs = out
	}
	return evs, nil
}

func (c *chain) Close() ([]sse.Event, error) {
	var carry []sse.Event
	for _, s := range c.stages {
		var out []sse.Event
		for _, e := range carry {
			o, err := s.Next(e)
			if err != nil {
				return nil, err
			}
			out = append(out, o...)
		}
		tail, err := s.Close()
		if err != nil {
			return nil, err
		}
		carry = append(out, tail...)
	}
	return carry, nil
}

// Usage is the upstream's usage, as the first stage read it.
func (c *chain) Usage() llm.Usage { return c.stages[0].Usage() }
