package fakeupstream

import (
	"bytes"
	"encoding/json"
	"strings"
)

// reqInfo holds the few top-level request fields an answer depends on.
type reqInfo struct {
	model        []byte // decoded JSON string; aliases the body unless it held escapes
	stream       bool
	includeUsage bool // stream_options.include_usage
	// encryptedReasoning: include holds "reasoning.encrypted_content" (Responses)
	encryptedReasoning bool
}

// scanRequest reads model, stream, stream_options.include_usage and whether include asks for
// reasoning.encrypted_content from a JSON object without allocating (unless the model string holds escapes). Later duplicate keys win, as in
// encoding/json. Anything that is not an object yields the zero reqInfo; it never panics.
func scanRequest(b []byte) reqInfo {
	var info reqInfo
	eachField(b, func(key, val []byte) {
		switch string(key) {
		case "model":
			info.model = nil
			if len(val) >= 2 && val[0] == '"' {
				info.model = unquote(val)
			}
		case "stream":
			info.stream = string(val) == "true"
		case "include":
			info.encryptedReasoning = bytes.Contains(val, []byte(`"reasoning.encrypted_content"`))
		case "stream_options":
			info.includeUsage = false
			eachField(val, func(k, v []byte) {
				if string(k) == "include_usage" {
					info.includeUsage = string(v) == "true"
				}
			})
		}
	})
	return info
}

// eachField calls fn with the decoded key and the raw value of each member of the JSON object
// in b, in order. It stops quietly at the first malformed byte.
func eachField(b []byte, fn func(key, val []byte)) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return
		}
		end := skipString(b, i)
		if end < 0 {
			return
		}
		key := unquote(b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		vend := skipValue(b, i)
		if vend < 0 {
			return
		}
		fn(key, b[i:vend])
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string literal starting at b[i] == '"', or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index just past the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end := skipString(b, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// unquote returns the contents of the JSON string literal s: a sub-slice when it holds no
// escapes, a decoded copy otherwise.
func unquote(s []byte) []byte {
	if len(s) < 2 {
		return nil
	}
	inner := s[1 : len(s)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var out string
	if json.Unmarshal(s, &out) != nil {
		return nil
	}
	return []byte(out)
}

// lastUserText returns the text of the last user message of an OpenAI Chat Completions or
// Anthropic Messages request: its string content, or its text parts joined; when a user turn
// holds only tool results, their text. Of a Responses request it returns the last user
// message's text (a string input is one).
func lastUserText(body []byte) string {
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Input json.RawMessage `json:"input"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if m := req.Messages[i]; m.Role == "user" {
			return contentText(m.Content)
		}
	}
	items, _ := inputItems(req.Input)
	for i := len(items) - 1; i >= 0; i-- {
		if it := items[i]; it.Role == "user" {
			return contentText(it.Content)
		}
	}
	return ""
}

// contentText flattens a message content: a string, or an array of parts where "text" parts
// count and, failing those, the contents of "tool_result" parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var text, results strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "text", "input_text":
			text.WriteString(p.Text)
		case "tool_result":
			if len(p.Content) > 0 {
				results.WriteString(contentText(p.Content))
			}
		}
	}
	if text.Len() > 0 {
		return text.String()
	}
	return results.String()
}

// deploymentName returns the {name} of an Azure OpenAI path …/deployments/{name}/…, or "".
func deploymentName(path string) string {
	const seg = "/deployments/"
	i := strings.Index(path, seg)
	if i < 0 {
		return ""
	}
	rest := path[i+len(seg):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		return rest[:j]
	}
	return ""
}
