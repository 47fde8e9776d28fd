package responses

import (
	"crypto/sha256"
	"encoding/hex"
)

// Namespace tools group function tools under a name ({"type":"namespace","name":
// "multi_agent_v1","tools":[…]}, as Codex sends them). Chat Completions has no groups, so each
// tool of a namespace becomes a function of its own whose name joins the two, and the model's
// calls of it come back with the tool's own name and its namespace.

// namespaceSep joins a namespace and a tool name into a chat function name.
const namespaceSep = "__"

// maxFunctionName is the longest function name OpenAI accepts.
const maxFunctionName = 64

// FlatName is the chat function name of the tool name of namespace ns: the two joined by a
// double underscore, shortened with a hash of the whole when longer than a function name may be.
func FlatName(ns, name string) string {
	flat := ns + namespaceSep + name
	if len(flat) <= maxFunctionName {
		return flat
	}
	sum := sha256.Sum256([]byte(flat))
	tag := hex.EncodeToString(sum[:4])
	return flat[:maxFunctionName-len(tag)-1] + "_" + tag
}

// namespaced is a tool of a namespace, by its flat name.
type namespaced struct{ namespace, name string }

// flatten returns the function tools of a request's tools, namespaces opened, and the map
// from each flat name back to its namespace and name (nil when there is no namespace).
func flatten(tools []Tool) ([]Tool, map[string]namespaced) {
	var out []Tool
	var names map[string]namespaced
	for _, t := range tools {
		if t.Type != ToolNamespace {
			out = append(out, t)
			continue
		}
		if names == nil {
			names = map[string]namespaced{}
		}
		for _, inner := range t.Tools {
			flat := FlatName(t.Name, inner.Name)
			names[flat] = namespaced{namespace: t.Name, name: inner.Name}
			inner.Name = flat
			if inner.Description == "" {
				inner.Description = t.Description
			}
			out = append(out, inner)
		}
	}
	return out, names
}
