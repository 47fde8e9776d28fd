package shed

import (
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/config"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string // the variable the error must name, "" for none
	}{
		{name: "defaults are Lynkr's", env: nil, want: Config{
			MemoryThreshold: 0.85, HeapThreshold: 0.90, ActiveRequestsThreshold: 1000,
			SampleInterval: time.Second, RetryAfter: 2 * time.Second,
		}},
		{name: "all set", env: map[string]string{
			"LOAD_SHEDDING_MEMORY_THRESHOLD":          "0.7",
			"LOAD_SHEDDING_HEAP_THRESHOLD":            "0.8",
			"LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD": "50",
			"LOAD_SHEDDING_SAMPLE_INTERVAL":           "250",
			"LOAD_SHEDDING_RETRY_AFTER":               "5000",
		}, want: Config{
			MemoryThreshold: 0.7, HeapThreshold: 0.8, ActiveRequestsThreshold: 50,
			SampleInterval: 250 * time.Millisecond, RetryAfter: 5 * time.Second,
		}},
		{name: "zero turns signals off", env: map[string]string{
			"LOAD_SHEDDING_MEMORY_THRESHOLD": "0", "LOAD_SHEDDING_HEAP_THRESHOLD": "0", "LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD": "0",
		}, want: Config{SampleInterval: time.Second, RetryAfter: 2 * time.Second}},
		{name: "memory above 1", env: map[string]string{"LOAD_SHEDDING_MEMORY_THRESHOLD": "85"}, wantErr: "LOAD_SHEDDING_MEMORY_THRESHOLD"},
		{name: "heap not a number", env: map[string]string{"LOAD_SHEDDING_HEAP_THRESHOLD": "ninety"}, wantErr: "LOAD_SHEDDING_HEAP_THRESHOLD"},
		{name: "negative active requests", env: map[string]string{"LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD": "-1"}, wantErr: "LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD"},
		{name: "zero sample interval", env: map[string]string{"LOAD_SHEDDING_SAMPLE_INTERVAL": "0"}, wantErr: "LOAD_SHEDDING_SAMPLE_INTERVAL"},
		{name: "retry after below a second", env: map[string]string{"LOAD_SHEDDING_RETRY_AFTER": "500"}, wantErr: "LOAD_SHEDDING_RETRY_AFTER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(config.Map(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+"=") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := DefaultConfig()
	c.HeapThreshold = -0.5
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "LOAD_SHEDDING_HEAP_THRESHOLD") {
		t.Fatalf("New with a negative heap threshold: err = %v", err)
	}
}
