package main

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config/configtest"
)

// TestBadSettingExits builds the worker command and runs it with one bad setting of each kind:
// it must exit with status 2 after printing one line that names the setting, and never panic.
func TestBadSettingExits(t *testing.T) {
	configtest.BadSettingExits(t, "worker", []configtest.Case{
		{Name: "no NATS_URL", Env: []string{"MODEL_PROVIDER=openai", "OPENAI_API_KEY=k"}, Want: "NATS_URL is required"},
		{Name: "missing key", Env: []string{"NATS_URL=nats://127.0.0.1:1", "MODEL_PROVIDER=openai"}, Want: "OPENAI_API_KEY is required when MODEL_PROVIDER=openai"},
		{Name: "endpoint scheme", Env: []string{"NATS_URL=nats://127.0.0.1:1", "MODEL_PROVIDER=openai", "OPENAI_API_KEY=k", "OPENAI_ENDPOINT=ftp://x"}, Want: "OPENAI_ENDPOINT: expected an http(s) URL"},
		{Name: "bad OPENAI_API", Env: []string{"NATS_URL=nats://127.0.0.1:1", "MODEL_PROVIDER=openai", "OPENAI_API_KEY=k", "OPENAI_API=completions"}, Want: "OPENAI_API: expected chat"},
		{Name: "bad threshold", Env: []string{"NATS_URL=nats://127.0.0.1:1", "CIRCUIT_BREAKER_FAILURE_THRESHOLD=0"}, Want: "CIRCUIT_BREAKER_FAILURE_THRESHOLD="},
		{Name: "bad NATS_URL", Env: []string{"NATS_URL=not a url"}, Want: "NATS_URL: want"},
		{Name: "two NATS credentials", Env: []string{"NATS_URL=nats://127.0.0.1:1", "NATS_TOKEN=t", "NATS_NKEY=/nonexistent/worker.nk"}, Want: "NATS_TOKEN=\"[REDACTED]\": want one way of authenticating"},
		{Name: "missing NATS_NKEY", Env: []string{"NATS_URL=nats://127.0.0.1:1", "NATS_NKEY=/nonexistent/worker.nk"}, Want: `NATS_NKEY="/nonexistent/worker.nk"`},
	})
}

// The worker connects to a bus and never embeds one: its binary carries no nats-server.
func TestLinksNoServer(t *testing.T) {
	bustest.NoServerLinked(t)
}
