package clients

import "encoding/json"

// shellTools are the clients' shell tools, which the fake upstream's script mode calls for
// "run bash: CMD", and the argument that holds the command.
var shellTools = map[string]string{
	"Bash":              "command", // Claude Code
	"exec_command":      "cmd",     // Codex
	"run_shell_command": "command", // Qwen Code, Gemini CLI
}

// shellTool finds a client's shell tool among a request's tools, in any of the three formats'
// tool shapes (Anthropic {name}, Chat {function: {name}}, Responses {name}).
func shellTool(raw json.RawMessage) (name, arg string) {
	var tools []struct {
		Name     string `json:"name"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	_ = json.Unmarshal(raw, &tools)
	for _, t := range tools {
		for _, n := range []string{t.Name, t.Function.Name} {
			if a, ok := shellTools[n]; ok {
				return n, a
			}
		}
	}
	return "", ""
}
