package provider

import (
	"bytes"
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
	}{s, s}
	var texts []string
	for _, v := range []any{s, &s, holder, &holder} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %v"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
	}
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, string(j))
	txt, _ := s.MarshalText()
	texts = append(texts, string(txt))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", s, "holder", holder)
	texts = append(texts, logs.String())
	for _, text := range texts {
		if strings.Contains(text, key) || strings.Contains(text, fmt.Sprintf("%x", key)) {
			t.Errorf("secret printed: %s", text)
		}
	}
	if !strings.Contains(string(j), redacted) {
		t.Errorf("JSON %s does not say %s", j, redacted)
	}
	if s.Reveal() != key || s.IsZero() || !(Secret{}).IsZero() || (Secret{}).Reveal() != "" {
		t.Error("Reveal/IsZero do not give the value back")
	}
}
