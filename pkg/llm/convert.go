package llm

import (
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// Options are what a request conversion is told besides the body.
type Options struct {
	// Model is the upstream model to name; empty keeps the request's own.
	Model string
	// Dropped collects the constructs of the request that the conversion left out, by the
	// names of the conversion policy (package translate). Nil collects nothing.
	Dropped *Dropped
	// Intermediate says the output feeds another conversion rather than an upstream: it may
	// carry what only the next conversion reads (signed reasoning, say), which an upstream of
	// the output's format would refuse.
	Intermediate bool
}

// Drop notes that the conversion left out the construct name.
func (o Options) Drop(name string) { o.Dropped.Add(name) }

// DropOthers notes every top-level member of the JSON object body that known lacks: the
// members a conversion does not carry.
func (o Options) DropOthers(body []byte, known []string) {
	if o.Dropped == nil {
		return
	}
	gjson.ParseBytes(body).ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(known, k.Str) {
			o.Drop(k.Str)
		}
		return true
	})
}

// Dropped is the set of constructs a conversion left out, named as the conversion policy
// names them. The zero value is empty and ready to use; a nil *Dropped ignores additions.
type Dropped struct{ names []string }

// Add notes name once.
func (d *Dropped) Add(name string) {
	if d == nil || slices.Contains(d.names, name) {
		return
	}
	d.names = append(d.names, name)
}

// Names returns the names noted, in the order they were first noted.
func (d *Dropped) Names() []string {
	if d == nil {
		return nil
	}
	return d.names
}

// String is the names joined by commas, as the X-Lynkr-Dropped header carries them.
func (d *Dropped) String() string { return strings.Join(d.Names(), ",") }

// ToolFamily is the name of a versioned tool type without its date: "web_search_20250305" is
// "web_search". The policy names tools by family, since their versions come and go.
func ToolFamily(typ string) string {
	i := strings.LastIndexByte(typ, '_')
	if i <= 0 || len(typ)-i != 9 {
		return typ
	}
	for _, c := range typ[i+1:] {
		if c < '0' || c > '9' {
			return typ
		}
	}
	return typ[:i]
}
