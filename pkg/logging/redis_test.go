package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestRedisLinesAreJSON(t *testing.T) {
	var buf bytes.Buffer
	Redis{Log: slog.New(slog.NewJSONHandler(&buf, nil))}.Printf(context.Background(), "redis: connection pool: %s\n", "failed to dial")
	var line struct{ Level, Msg, Component string }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not a JSON line: %q", buf.String())
	}
	if line.Level != "WARN" || line.Msg != "redis: connection pool: failed to dial" || line.Component != "redis" {
		t.Errorf("line %+v", line)
	}
}
