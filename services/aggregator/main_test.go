package main

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/bus/bustest"
	"github.com/lynkr/lynkr/pkg/config/configtest"
)

// TestBadSettingExits builds the aggregator command and runs it with one bad setting of each kind:
// it must exit with status 2 after printing one line that names the setting, and never panic.
func TestBadSettingExits(t *testing.T) {
	configtest.BadSettingExits(t, "aggregator", []configtest.Case{
		{Name: "no NATS_URL", Want: "NATS_URL is required"},
		{Name: "bad NATS_URL", Env: []string{"NATS_URL=nats://"}, Want: "NATS_URL: want"},
		{Name: "NATS_CERT without NATS_KEY", Env: []string{"NATS_URL=nats://127.0.0.1:1", "NATS_CERT=/nonexistent/agg.pem"}, Want: "NATS_CERT=\"/nonexistent/agg.pem\": want NATS_KEY"},
		{Name: "bad duration", Env: []string{"NATS_URL=nats://127.0.0.1:1", "HEARTBEAT_TTL=soon"}, Want: "HEARTBEAT_TTL="},
		{Name: "bad port", Env: []string{"NATS_URL=nats://127.0.0.1:1", "PORT=-1"}, Want: "PORT="},
		{Name: "bad LOG_LEVEL", Env: []string{"NATS_URL=nats://127.0.0.1:1", "LOG_LEVEL=verbose"}, Want: "LOG_LEVEL="},
	})
}

// The aggregator connects to a bus and never embeds one: its binary carries no nats-server.
func TestLinksNoServer(t *testing.T) {
	bustest.NoServerLinked(t)
}
