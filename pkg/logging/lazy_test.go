package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestWithWritesItsAttributesOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log := With(base, "request_id", "r1", "provider", "openai")
	log.Debug("not written")
	log.Info("first", "n", 1)
	log.With("attempt", 2).Warn("second")
	log.WithGroup("g").Info("third", "k", "v")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.Bytes())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		if m["request_id"] != "r1" || m["provider"] != "openai" {
			t.Errorf("line %d lacks the logger's attributes: %s", i+1, l)
		}
	}
	var second map[string]any
	_ = json.Unmarshal(lines[1], &second)
	if second["attempt"] != float64(2) {
		t.Errorf("With on the lazy logger lost its attribute: %s", lines[1])
	}
	var third map[string]any
	_ = json.Unmarshal(lines[2], &third)
	if g, _ := third["g"].(map[string]any); g["k"] != "v" {
		t.Errorf("group: %s", lines[2])
	}
}

func BenchmarkWithUnused(b *testing.B) {
	base := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b.Run("slog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l := base.With("request_id", "req_lY20YX5MUjjq00002vK8sg", "provider", "openai", "attempt", 1)
			l.Info("x")
		}
	})
	b.Run("lazy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l := With(base, "request_id", "req_lY20YX5MUjjq00002vK8sg", "provider", "openai", "attempt", 1)
			l.Info("x")
		}
	})
}
