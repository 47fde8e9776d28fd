package main

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/config/configtest"
)

// TestBadSettingExits builds the lynkr command and runs it with one bad setting of each kind:
// it must exit with status 2 after printing one line that names the setting, and never panic.
func TestBadSettingExits(t *testing.T) {
	configtest.BadSettingExits(t, "lynkr", []configtest.Case{
		{Name: "missing key", Env: []string{"MODEL_PROVIDER=openai"}, Want: "OPENAI_API_KEY is required when MODEL_PROVIDER=openai"},
		{Name: "endpoint scheme", Env: []string{"MODEL_PROVIDER=openai", "OPENAI_API_KEY=k", "OPENAI_ENDPOINT=ftp://x"}, Want: "OPENAI_ENDPOINT: expected an http(s) URL"},
		{Name: "endpoint not a URL", Env: []string{"MODEL_PROVIDER=openai", "OPENAI_API_KEY=k", "OPENAI_ENDPOINT=not a url"}, Want: "OPENAI_ENDPOINT: expected an http(s) URL"},
		{Name: "bad LOG_LEVEL", Env: []string{"LOG_LEVEL=loud"}, Want: "LOG_LEVEL="},
		{Name: "bad duration", Env: []string{"REQUEST_TIMEOUT=soon"}, Want: "REQUEST_TIMEOUT="},
		{Name: "bad -target", Args: []string{"-target", "router"}, Want: `-target "router"`},
		{Name: "unknown flag", Args: []string{"-verbose"}, Want: "flag provided but not defined: -verbose"},
	})
}
