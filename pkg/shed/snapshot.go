package shed

import (
	"errors"
	"time"
)

// Snapshot is the load-shedding state as Lynkr serves it at /metrics/load-shedding.
type Snapshot struct {
	// Overloaded is true when a new request would be shed now; Reason says why.
	Overloaded bool   `json:"overloaded"`
	Reason     string `json:"reason,omitempty"`
	Detail     string `json:"detail,omitempty"`
	// SampledAt is when memory, heap and the extra signals were last sampled.
	SampledAt      time.Time     `json:"sampled_at"`
	Memory         RatioState    `json:"memory"`
	Heap           RatioState    `json:"heap"`
	ActiveRequests CountState    `json:"active_requests"`
	Signals        []SignalState `json:"signals"`
	// Shed counts the requests Begin refused since start, per reason.
	Shed map[string]uint64 `json:"shed_total"`
	// RetryAfterSeconds is what shed requests are told to wait.
	RetryAfterSeconds float64 `json:"retry_after_seconds"`
}

// RatioState is a used/limit signal.
type RatioState struct {
	UsedBytes  int64   `json:"used_bytes"`
	LimitBytes int64   `json:"limit_bytes"`
	Ratio      float64 `json:"ratio"`
	Threshold  float64 `json:"threshold"`
	// LimitSource is where the limit came from: "cgroup", "ram" or "GOMEMLIMIT".
	LimitSource string `json:"limit_source,omitempty"`
	// Error says why the signal could not be read; it does not shed then.
	Error string `json:"error,omitempty"`
}

// CountState is the active requests signal.
type CountState struct {
	Current   int64 `json:"current"`
	Threshold int   `json:"threshold"`
}

// SignalState is an extra signal's last sample.
type SignalState struct {
	Name    string `json:"name"`
	Tripped bool   `json:"tripped"`
	Detail  string `json:"detail,omitempty"`
}

// Snapshot returns the current values, thresholds and shed counts.
func (s *Shedder) Snapshot() Snapshot {
	st := s.state.Load()
	snap := Snapshot{
		SampledAt: st.at,
		Memory: RatioState{
			UsedBytes: st.rss, LimitBytes: st.memLimit, Ratio: ratio(st.rss, st.memLimit),
			Threshold: s.cfg.MemoryThreshold, LimitSource: st.memSource, Error: st.memErr,
		},
		Heap: RatioState{
			UsedBytes: st.heap, LimitBytes: st.heapLimit, Ratio: ratio(st.heap, st.heapLimit),
			Threshold: s.cfg.HeapThreshold, LimitSource: st.heapSource, Error: st.heapErr,
		},
		ActiveRequests:    CountState{Current: s.active.Load(), Threshold: s.cfg.ActiveRequestsThreshold},
		Signals:           append([]SignalState{}, st.signals...),
		RetryAfterSeconds: s.cfg.RetryAfter.Seconds(),
		Shed: map[string]uint64{
			ReasonMemory:         s.shedMemory.Load(),
			ReasonHeap:           s.shedHeap.Load(),
			ReasonActiveRequests: s.shedActive.Load(),
		},
	}
	s.mu.Lock()
	for _, sg := range s.signals {
		snap.Shed[sg.name] = sg.shed.Load()
	}
	s.mu.Unlock()
	var oe *OverloadedError
	if errors.As(s.Check(), &oe) {
		snap.Overloaded, snap.Reason, snap.Detail = true, oe.Reason, oe.Detail
	}
	return snap
}
