package shed

import (
	"fmt"
	"time"

	"github.com/lynkr/lynkr/pkg/config"
)

// Config sets when a gateway sheds load. A threshold of 0 turns its signal off.
type Config struct {
	// MemoryThreshold sheds when the process's resident memory exceeds this fraction of the
	// memory limit: the cgroup limit, else the machine's RAM (LOAD_SHEDDING_MEMORY_THRESHOLD).
	MemoryThreshold float64
	// HeapThreshold sheds when the live Go heap (what the last collection kept) exceeds this
	// fraction of the Go runtime's soft memory limit (GOMEMLIMIT, or the one package gcpolicy
	// sets), or of the memory limit when there is none (LOAD_SHEDDING_HEAP_THRESHOLD).
	HeapThreshold float64
	// ActiveRequestsThreshold is the most requests this process serves at once
	// (LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD).
	ActiveRequestsThreshold int
	// SampleInterval is how often memory, heap and the extra signals are sampled; between
	// samples the decision uses the cached state (LOAD_SHEDDING_SAMPLE_INTERVAL, ms).
	SampleInterval time.Duration
	// RetryAfter is what a shed request is told to wait before trying again
	// (LOAD_SHEDDING_RETRY_AFTER, ms).
	RetryAfter time.Duration
}

// DefaultConfig is Lynkr's defaults: 85% memory, 90% heap, 1000 active requests, state
// cached for a second.
func DefaultConfig() Config {
	return Config{
		MemoryThreshold:         0.85,
		HeapThreshold:           0.90,
		ActiveRequestsThreshold: 1000,
		SampleInterval:          time.Second,
		RetryAfter:              2 * time.Second,
	}
}

// ConfigFromEnv reads the LOAD_SHEDDING_* variables over the defaults. The error names the
// first bad variable.
func ConfigFromEnv(lookup config.Lookup) (Config, error) {
	d := DefaultConfig()
	e := config.NewEnv(lookup)
	c := Config{
		MemoryThreshold:         e.Float("LOAD_SHEDDING_MEMORY_THRESHOLD", d.MemoryThreshold, 0, 1),
		HeapThreshold:           e.Float("LOAD_SHEDDING_HEAP_THRESHOLD", d.HeapThreshold, 0, 1),
		ActiveRequestsThreshold: e.Int("LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD", d.ActiveRequestsThreshold, 0),
		SampleInterval:          e.Millis("LOAD_SHEDDING_SAMPLE_INTERVAL", d.SampleInterval),
		RetryAfter:              e.Millis("LOAD_SHEDDING_RETRY_AFTER", d.RetryAfter),
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks the ranges ConfigFromEnv cannot see, for a Config built in code.
func (c Config) Validate() error {
	switch {
	case !(c.MemoryThreshold >= 0 && c.MemoryThreshold <= 1):
		return fmt.Errorf("LOAD_SHEDDING_MEMORY_THRESHOLD=%g: want a number between 0 and 1 (0 turns it off)", c.MemoryThreshold)
	case !(c.HeapThreshold >= 0 && c.HeapThreshold <= 1):
		return fmt.Errorf("LOAD_SHEDDING_HEAP_THRESHOLD=%g: want a number between 0 and 1 (0 turns it off)", c.HeapThreshold)
	case c.ActiveRequestsThreshold < 0:
		return fmt.Errorf("LOAD_SHEDDING_ACTIVE_REQUESTS_THRESHOLD=%d: want an integer >= 0 (0 turns it off)", c.ActiveRequestsThreshold)
	case c.SampleInterval <= 0 || c.SampleInterval > time.Minute:
		return fmt.Errorf("LOAD_SHEDDING_SAMPLE_INTERVAL=%s: want between 1 and 60000 milliseconds", c.SampleInterval)
	case c.RetryAfter < time.Second || c.RetryAfter > 5*time.Minute:
		return fmt.Errorf("LOAD_SHEDDING_RETRY_AFTER=%s: want between 1000 and 300000 milliseconds (Retry-After is in whole seconds)", c.RetryAfter)
	}
	return nil
}
