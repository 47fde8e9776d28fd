package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/config"
)

// TestMainBadSettings runs Main with one bad flag or setting of each kind: it must return a
// config.ErrBadSetting error of one line naming the flag or variable, before it logs or
// starts anything.
func TestMainBadSettings(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the start of the message
	}{
		{"missing key openai", nil, map[string]string{"MODEL_PROVIDER": "openai"}, "OPENAI_API_KEY is required when MODEL_PROVIDER=openai"},
		{"missing key azure-openai", nil, map[string]string{"MODEL_PROVIDER": "azure-openai"}, "AZURE_OPENAI_API_KEY is required"},
		{"missing endpoint azure-openai", nil, map[string]string{"MODEL_PROVIDER": "azure-openai", "AZURE_OPENAI_API_KEY": "k"}, "AZURE_OPENAI_ENDPOINT is required"},
		{"missing key anthropic", nil, map[string]string{"MODEL_PROVIDER": "anthropic"}, "ANTHROPIC_API_KEY is required"},
		{"missing key openrouter", nil, map[string]string{"MODEL_PROVIDER": "openrouter"}, "OPENROUTER_API_KEY is required"},
		{"missing key databricks", nil, map[string]string{"MODEL_PROVIDER": "databricks"}, "DATABRICKS_API_KEY is required"},
		{"missing key of the fallback", nil, map[string]string{"FALLBACK_PROVIDER": "moonshot"}, "MOONSHOT_API_KEY is required when FALLBACK_PROVIDER=moonshot"},
		{"unknown provider", nil, map[string]string{"MODEL_PROVIDER": "gemini"}, "MODEL_PROVIDER: expected one of"},
		{"endpoint scheme", nil, map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "ftp://x"}, "OPENAI_ENDPOINT: expected an http(s) URL"},
		{"endpoint not a URL", nil, map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "not a url"}, "OPENAI_ENDPOINT: expected an http(s) URL"},
		{"endpoint unparsable", nil, map[string]string{"OLLAMA_ENDPOINT": "http://[::1"}, "OLLAMA_ENDPOINT: expected an http(s) URL"},
		{"endpoint without host", nil, map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_ENDPOINT": "https:///v1"}, "OPENAI_ENDPOINT: expected an http(s) URL"},
		{"bad OPENAI_API", nil, map[string]string{"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "k", "OPENAI_API": "assistants"}, "OPENAI_API: expected chat"},
		{"bad duration", nil, map[string]string{"REQUEST_TIMEOUT": "soon"}, `REQUEST_TIMEOUT="soon": want milliseconds`},
		{"bad breaker duration", nil, map[string]string{"CIRCUIT_BREAKER_TIMEOUT": "1h?"}, `CIRCUIT_BREAKER_TIMEOUT="1h?"`},
		{"bad number", nil, map[string]string{"WORKER_CONCURRENCY": "lots"}, `WORKER_CONCURRENCY="lots": want an integer >= 1`},
		{"bad threshold", nil, map[string]string{"LOAD_SHEDDING_MEMORY_THRESHOLD": "1.5"}, `LOAD_SHEDDING_MEMORY_THRESHOLD="1.5"`},
		{"bad bool", nil, map[string]string{"METRICS_ENABLED": "maybe"}, `METRICS_ENABLED="maybe": want true or false`},
		{"bad port", nil, map[string]string{"PORT": "70000"}, `PORT="70000": want a port number`},
		{"bad LOG_LEVEL", nil, map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL="loud": want error, warn, info or debug`},
		{"unwritable LOG_FILE_PATH", nil, map[string]string{"LOG_FILE_ENABLED": "true", "LOG_FILE_PATH": filepath.Join(notADir, "lynkr.log")}, "LOG_FILE_PATH="},
		{"bad NATS_URL", nil, map[string]string{"NATS_URL": "http://nats:4222"}, "NATS_URL: want a comma-separated list of nats://"},
		{"unparsable NATS_URL", nil, map[string]string{"NATS_URL": "nats://a b"}, "NATS_URL: want"},
		{"bad REDIS_URL", nil, map[string]string{"REDIS_URL": "localhost:6379"}, `REDIS_URL="localhost:6379": want a redis://`},
		{"bad NATS_LISTEN", nil, map[string]string{"NATS_LISTEN": "4222"}, `NATS_LISTEN="4222": want a listen address`},
		{"bad PPROF_ADDR", nil, map[string]string{"PPROF_ADDR": "localhost:http-ish"}, `PPROF_ADDR="localhost:http-ish"`},
		{"NATS_LISTEN with NATS_URL", nil, map[string]string{"NATS_LISTEN": "127.0.0.1:4222", "NATS_URL": "nats://x:4222"}, "NATS_LISTEN is set with NATS_URL"},
		{"NATS_LISTEN without users", nil, map[string]string{"NATS_LISTEN": "127.0.0.1:4222"}, `NATS_LISTEN="127.0.0.1:4222": set the passwords of the users that may connect, one or more of NATS_GATEWAY_PASSWORD, NATS_WORKER_PASSWORD, NATS_AGGREGATOR_PASSWORD, or NATS_SERVER_CONFIG`},
		{"a role password without NATS_LISTEN", nil, map[string]string{"NATS_WORKER_PASSWORD": "pw"}, "NATS_WORKER_PASSWORD is set without NATS_LISTEN"},
		{"a role password with NATS_URL", nil, map[string]string{"NATS_WORKER_PASSWORD": "pw", "NATS_URL": "nats://x:4222"}, "NATS_WORKER_PASSWORD is set with NATS_URL"},
		{"listener certificate without its key", nil, map[string]string{"NATS_LISTEN": "127.0.0.1:4222", "NATS_WORKER_PASSWORD": "pw", "NATS_LISTEN_CERT": "/nonexistent/cert.pem"}, "NATS_LISTEN_CERT is set without NATS_LISTEN_KEY"},
		{"missing NATS_SERVER_CONFIG", nil, map[string]string{"NATS_SERVER_CONFIG": "/nonexistent/nats.conf"}, `NATS_SERVER_CONFIG="/nonexistent/nats.conf"`},
		{"client credentials for the embedded server", nil, map[string]string{"NATS_USER": "gateway", "NATS_PASSWORD": "pw"}, "NATS credentials (NATS_CREDS, NATS_NKEY, NATS_USER, NATS_TOKEN, NATS_CA, NATS_CERT) are set without NATS_URL or NATS_SERVER_CONFIG"},
		{"NATS_USER without NATS_PASSWORD", nil, map[string]string{"NATS_URL": "nats://x:4222", "NATS_USER": "gateway"}, `NATS_USER="gateway": want NATS_PASSWORD`},
		{"bad OTEL exporter", nil, map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, `OTEL_TRACES_EXPORTER="zipkin"`},
		{"bad ROUTES", nil, map[string]string{"ROUTES": "claude-*"}, "ROUTES="},
		{"bad -target", []string{"-target", "gateway,router"}, nil, `-target "gateway,router": want all or a comma-separated list`},
		{"empty -target", []string{"-target="}, nil, `-target "": want all`},
		{"unknown flag", []string{"-port", "8080"}, nil, "flag provided but not defined: -port"},
		{"argument", []string{"gateway"}, nil, `unexpected argument "gateway"`},
		{"worker setting with -target worker", []string{"-target", "worker"}, map[string]string{"WORKER_ACK_WAIT": "10"}, "WORKER_ACK_WAIT=10ms: want at least 1000 ms"},
		{"aggregator setting", []string{"-target", "aggregator"}, map[string]string{"HEARTBEAT_TTL": "1000", "HEARTBEAT_INTERVAL": "2000"}, "HEARTBEAT_TTL="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"LYNKR_DATA_DIR": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a setting wrongly accepted starts and stops at once
			var stderr bytes.Buffer
			err := Main(ctx, tt.args, config.Map(env), &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, config.ErrBadSetting) {
				t.Errorf("error %q is not a config.ErrBadSetting", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got  %s\n want %s…", err, tt.want)
			}
			if stderr.Len() != 0 {
				t.Errorf("Main wrote before stopping on a bad setting:\n%s", stderr.String())
			}
			var out bytes.Buffer
			if code := config.Report(&out, "lynkr", err); code != 2 || strings.Count(out.String(), "\n") != 1 {
				t.Errorf("Report: status %d, %q: want 2 and one line", code, out.String())
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := Main(context.Background(), []string{"-h"}, config.Map(nil), &stderr); err != nil {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(stderr.String(), "-target") {
		t.Errorf("-h printed %q, want the usage", stderr.String())
	}
}

// TestNewHalfBuiltClosesCleanly is the panic of a half-built App: a part failing after
// another started must stop what started and return the error, not dereference nil.
func TestNewHalfBuiltClosesCleanly(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := config.Map(map[string]string{
		"LYNKR_DATA_DIR":    t.TempDir(),
		"PPROF_ADDR":        "127.0.0.1:0", // the server, NATS, the worker start,
		"AUTH_ENABLED":      "true",        // then the gateway cannot open its tenant store
		"ADMIN_API_KEY":     "admin-key",
		"TENANT_STORE_PATH": filepath.Join(file, "tenants.db"),
	})
	_, err := New(context.Background(), Config{Targets: Targets, Lookup: env}, slog.New(slog.DiscardHandler))
	if err == nil || errors.Is(err, config.ErrBadSetting) {
		t.Fatalf("New with the NATS port taken: %v, want a start-up failure that is not a bad setting", err)
	}
	if config.ExitCode(err) != 1 {
		t.Errorf("ExitCode = %d, want 1", config.ExitCode(err))
	}
}

// The all-in-one listens on loopback unless HOST says otherwise: out of the box, with
// authentication off, it does not offer the provider's key to the network.
func TestListensOnLoopbackByDefault(t *testing.T) {
	for _, tc := range []struct {
		host     string
		loopback bool
	}{{"", true}, {"0.0.0.0", false}} {
		env := map[string]string{"LYNKR_DATA_DIR": t.TempDir(), "PORT": "0"}
		if tc.host != "" {
			env["HOST"] = tc.host
		}
		ctx, cancel := context.WithCancel(context.Background())
		a, err := New(ctx, Config{Targets: []string{"gateway", "worker"}, Lookup: config.Map(env)}, slog.New(slog.DiscardHandler))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		select {
		case <-a.Gateway().Ready():
		case err := <-done:
			cancel()
			t.Fatalf("HOST=%q: stopped: %v", tc.host, err)
		}
		ip := a.Gateway().Addr().(*net.TCPAddr).IP
		if ip.IsLoopback() != tc.loopback {
			t.Errorf("HOST=%q: listening on %s", tc.host, ip)
		}
		cancel()
		<-done
	}
}
