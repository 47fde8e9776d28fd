package main

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config/configtest"
)

// TestBadSettingExits builds the gateway command and runs it with one bad setting of each kind:
// it must exit with status 2 after printing one line that names the setting, and never panic.
func TestBadSettingExits(t *testing.T) {
	configtest.BadSettingExits(t, "gateway", []configtest.Case{
		{Name: "no NATS_URL", Want: "NATS_URL is required"},
		{Name: "bad NATS_URL", Env: []string{"NATS_URL=ftp://x"}, Want: "NATS_URL: want"},
		{Name: "bad REDIS_URL", Env: []string{"NATS_URL=nats://127.0.0.1:1", "REDIS_URL=127.0.0.1:6379"}, Want: "REDIS_URL="},
		{Name: "bad port", Env: []string{"NATS_URL=nats://127.0.0.1:1", "PORT=http"}, Want: "PORT="},
		{Name: "bad bool", Env: []string{"NATS_URL=nats://127.0.0.1:1", "STRICT_MODELS=sometimes"}, Want: "STRICT_MODELS="},
		{Name: "bad LOG_LEVEL", Env: []string{"NATS_URL=nats://127.0.0.1:1", "LOG_LEVEL=trace"}, Want: "LOG_LEVEL="},
		{Name: "NATS_USER without NATS_PASSWORD", Env: []string{"NATS_URL=nats://127.0.0.1:1", "NATS_USER=gateway"}, Want: `NATS_USER="gateway": want NATS_PASSWORD`},
		{Name: "missing NATS_CREDS", Env: []string{"NATS_URL=nats://127.0.0.1:1", "NATS_CREDS=/nonexistent/gateway.creds"}, Want: `NATS_CREDS="/nonexistent/gateway.creds"`},
		{Name: "missing NATS_CA", Env: []string{"NATS_URL=tls://127.0.0.1:1", "NATS_CA=/nonexistent/ca.pem"}, Want: `NATS_CA="/nonexistent/ca.pem"`},
	})
}

// The gateway connects to a bus and never embeds one: its binary carries no nats-server.
func TestLinksNoServer(t *testing.T) {
	bustest.NoServerLinked(t)
}
