package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const key = "sk-very-secret-1234"
	s := NewSecret(key)
	holder := struct {
		Key   Secret
		inner Secret
		ptr   *Secret
	}{s, s, &s}
	var texts []string
	for _, v := range []any{s, &s, holder, &holder, []Secret{s}, map[string]Secret{"k": s}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3s", "%-8q"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(j))
	}
	texts = append(texts, s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintln(s))
	txt, _ := s.MarshalText()
	texts = append(texts, string(txt))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", s, "holder", holder, "ptr", &s)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "key", s, "holder", holder, "ptr", &s)
	texts = append(texts, logs.String())
	for _, text := range texts {
		if strings.Contains(text, key) || strings.Contains(strings.ToLower(text), hex.EncodeToString([]byte(key))) {
			t.Errorf("secret printed: %s", text)
		}
	}
	if j, _ := json.Marshal(s); string(j) != `"[REDACTED]"` {
		t.Errorf("JSON %s, want \"[REDACTED]\"", j)
	}
	for verb, want := range map[string]string{"%v": Redacted, "%+v": Redacted, "%#v": Redacted, "%s": Redacted, "%q": Redacted, "%x": Redacted} {
		if got := fmt.Sprintf(verb, s); got != want {
			t.Errorf("%s = %q, want %q", verb, got, want)
		}
	}
	if !strings.Contains(logs.String(), `"key":"[REDACTED]"`) {
		t.Errorf("slog JSON does not say [REDACTED]: %s", logs.String())
	}
}

func TestSecretReveal(t *testing.T) {
	const key = "sk-very-secret-1234"
	if s := NewSecret(key); s.Reveal() != key || s.IsZero() {
		t.Errorf("Reveal = %q, IsZero = %v", s.Reveal(), s.IsZero())
	}
	var zero Secret
	if zero.Reveal() != "" || !zero.IsZero() || !NewSecret("").IsZero() {
		t.Error("the zero Secret is not empty")
	}
}

func TestEnvSecret(t *testing.T) {
	e := NewEnv(Map(map[string]string{"KEY": "  sk-1  ", "BLANK": " "}))
	if got := e.Secret("KEY"); got.Reveal() != "sk-1" {
		t.Errorf("KEY = %q, want the trimmed value", got.Reveal())
	}
	for _, name := range []string{"BLANK", "UNSET"} {
		if !e.Secret(name).IsZero() {
			t.Errorf("%s: want an empty Secret", name)
		}
	}
	if e.Err() != nil {
		t.Errorf("Err = %v", e.Err())
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://user:hunter2@cache:6379/0":           "redis://cache:6379/0",
		"https://collector:4318/v1/traces?key=abc123": "https://collector:4318/v1/traces",
		"http://localhost:11434/api/chat":             "http://localhost:11434/api/chat",
		"::not a url":                                 "(unparsable URL)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
