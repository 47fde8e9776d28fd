// Package header is lynkr's allow-list of HTTP headers that cross it: the client headers an
// upstream takes, and the upstream's response headers a client gets back. It is the one table
// the gateway (which headers travel on the bus), the providers (which go on an upstream call)
// and the workers (which come back) all read, so the three cannot disagree.
//
// Nothing outside the table crosses, and credentials never do: a client's Authorization,
// x-api-key, api-key and cookies are not in it (the worker sets the provider's own
// credential), nor is an upstream's Set-Cookie or its organization id.
//
// The package holds data and pure functions only; it imports neither an HTTP server nor the
// bus, so the gateway may read it without importing a provider adapter.
package header

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/lynkr/lynkr/pkg/llm"
)

// Family is the API family of an upstream: the headers one family's API defines mean nothing
// to another's.
type Family uint8

// The families. FamilyNone is an upstream that takes no client headers (Bedrock's Converse
// API: Claude's beta flags go in its body instead).
const (
	FamilyNone Family = iota
	FamilyAnthropic
	FamilyOpenAI
)

// FamilyOf is the family of an upstream speaking format f.
func FamilyOf(f llm.Format) Family {
	switch f {
	case llm.FormatAnthropic:
		return FamilyAnthropic
	case llm.FormatChat, llm.FormatResponses:
		return FamilyOpenAI
	}
	return FamilyNone
}

// Direction is which way a header crosses lynkr.
type Direction uint8

const (
	// ToUpstream: a client request header set on the upstream call.
	ToUpstream Direction = iota + 1
	// ToClient: an upstream response header written on the client's answer.
	ToClient
)

// Rule is one entry of the allow-list.
type Rule struct {
	// Name is the header's canonical name (textproto.CanonicalMIMEHeaderKey), or with Prefix a
	// canonical prefix of the names it covers.
	Name   string
	Prefix bool
	Dir    Direction
	// Family is, for a ToUpstream rule, the upstreams that take the header.
	Family Family
	// As is, for a ToClient rule, the name the client gets it under when that differs.
	As string
	// Why is the reason the header crosses, for the documentation.
	Why string
}

// Rules is the allow-list.
//
// anthropic-version and anthropic-beta cross to every Anthropic-format upstream, which then
// applies its own policy: the operator's version, and the beta flags that upstream takes.
// OpenAI-Organization crosses unless the operator set OPENAI_ORGANIZATION, which the provider
// sets over it.
//
// The upstream's x-request-id comes back as X-Upstream-Request-Id: X-Request-Id is lynkr's
// own request id on every answer (the one its logs carry), which the client may have chosen.
var Rules = []Rule{
	// Client → Anthropic-format upstreams.
	{Name: "Anthropic-", Prefix: true, Dir: ToUpstream, Family: FamilyAnthropic,
		Why: "the Anthropic API's own headers: anthropic-version, anthropic-beta"},
	{Name: "X-Claude-Code-Session-Id", Dir: ToUpstream, Family: FamilyAnthropic,
		Why: "Claude Code's session, which Anthropic groups requests by"},
	{Name: "X-App", Dir: ToUpstream, Family: FamilyAnthropic,
		Why: "the Anthropic client application (Claude Code sends cli)"},

	// Client → OpenAI-format upstreams (Chat Completions and Responses).
	{Name: "Openai-", Prefix: true, Dir: ToUpstream, Family: FamilyOpenAI,
		Why: "the OpenAI API's own headers: OpenAI-Organization, OpenAI-Project, OpenAI-Beta"},
	{Name: "Session-Id", Dir: ToUpstream, Family: FamilyOpenAI,
		Why: "Codex's session, which OpenAI routes prompt caching by"},
	{Name: "Thread-Id", Dir: ToUpstream, Family: FamilyOpenAI,
		Why: "Codex's conversation thread"},
	{Name: "Originator", Dir: ToUpstream, Family: FamilyOpenAI,
		Why: "the OpenAI client application (Codex sends codex_exec, codex_cli_rs, …)"},
	{Name: "X-Client-Request-Id", Dir: ToUpstream, Family: FamilyOpenAI,
		Why: "the client's id of the request, which OpenAI logs"},

	// Upstream → client.
	{Name: "Request-Id", Dir: ToClient, Why: "Anthropic's id of the request, for its support"},
	{Name: "X-Request-Id", Dir: ToClient, As: "X-Upstream-Request-Id", Why: "OpenAI's id of the request, for its support"},
	{Name: "Anthropic-Ratelimit-", Prefix: true, Dir: ToClient, Why: "Anthropic's rate limits"},
	{Name: "X-Ratelimit-", Prefix: true, Dir: ToClient, Why: "OpenAI's rate limits"},
	{Name: "Retry-After", Dir: ToClient, Why: "when to try again"},
	{Name: "Retry-After-Ms", Dir: ToClient, Why: "when to try again, in milliseconds (OpenAI)"},
}

// LynkrPrefix begins lynkr's own response headers (X-Lynkr-Cache, X-Lynkr-Dropped): a worker
// may set them on an answer, and the gateway writes them.
const LynkrPrefix = "X-Lynkr-"

// Dropped names, on an answer, what a format conversion left out of the request
// (translate's policy names, comma-separated).
const Dropped = "X-Lynkr-Dropped"

// denied are names no rule may let through, whatever a prefix says.
var denied = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"X-Api-Key":           true,
	"Api-Key":             true,
	"Cookie":              true,
	"Set-Cookie":          true,
}

// table is Rules indexed for look-ups.
type table struct {
	exact    map[string]*Rule // by canonical name, per direction
	prefixes []*Rule
}

var upstream, client = index(ToUpstream), index(ToClient)

func index(d Direction) table {
	t := table{exact: make(map[string]*Rule)}
	for i := range Rules {
		r := &Rules[i]
		switch {
		case r.Dir != d:
		case r.Prefix:
			t.prefixes = append(t.prefixes, r)
		default:
			t.exact[r.Name] = r
		}
	}
	return t
}

// rule returns the rule that lets canonical name through, or nil.
func (t table) rule(name string) *Rule {
	if r, ok := t.exact[name]; ok {
		return r
	}
	for _, r := range t.prefixes {
		if len(name) > len(r.Name) && strings.HasPrefix(name, r.Name) && !denied[name] {
			return r
		}
	}
	return nil
}

// Forwarded reports whether the client request header of canonical name (as net/http's
// server keys them) goes to some upstream: the gateway puts it on the bus.
func Forwarded(canonicalName string) bool {
	return upstream.rule(canonicalName) != nil
}

// Forward sets on dst the client's headers that an upstream speaking format f takes; several
// values of one header are joined with commas. Set the call's fixed headers and credential
// after it: those win.
func Forward(dst, clientHeader http.Header, f llm.Format) {
	fam := FamilyOf(f)
	if fam == FamilyNone {
		return
	}
	for k, v := range clientHeader {
		if len(v) == 0 {
			continue
		}
		k = textproto.CanonicalMIMEHeaderKey(k)
		if r := upstream.rule(k); r != nil && r.Family == fam {
			dst[k] = []string{strings.Join(v, ",")}
		}
	}
}

// Returned adds to m the upstream's response headers the client gets, under the client's
// names, and returns m (made when nil and needed).
func Returned(m map[string]string, upstreamHeader http.Header) map[string]string {
	for k, v := range upstreamHeader {
		if len(v) == 0 {
			continue
		}
		k = textproto.CanonicalMIMEHeaderKey(k)
		r := client.rule(k)
		if r == nil {
			continue
		}
		if r.As != "" {
			k = r.As
		}
		if m == nil {
			m = make(map[string]string, 8)
		}
		m[k] = strings.Join(v, ", ")
	}
	return m
}

// ForClient reports whether a response header of an answer, by the name the client gets it
// under, may be written on the client's response: one Returned gives, or lynkr's own
// (LynkrPrefix). It returns the canonical name to write it under.
func ForClient(name string) (string, bool) {
	name = textproto.CanonicalMIMEHeaderKey(name)
	if denied[name] {
		return "", false
	}
	if len(name) > len(LynkrPrefix) && strings.HasPrefix(name, LynkrPrefix) {
		return name, true
	}
	for i := range Rules {
		r := &Rules[i]
		if r.Dir == ToClient && r.As == name {
			return name, true
		}
	}
	r := client.rule(name)
	if r == nil || r.As != "" {
		return "", false // renamed: it comes back only under its other name
	}
	return name, true
}
