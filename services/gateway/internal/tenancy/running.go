package tenancy

import (
	"sync"

	"github.com/lynkr/lynkr/pkg/tenant"
)

// running counts each capped scope's requests under way in this gateway. The caps guard the
// gateway's own active-request slots, so each gateway counts its own: a key capped at N may
// have N requests under way on every gateway.
type running struct {
	mu sync.Mutex
	n  map[tenant.Scope]int64
}

func newRunning() *running { return &running{n: map[tenant.Scope]int64{}} }

// enter counts a request under every scope whose cap (caps[i] for scopes[i], 0 for none)
// has room, and returns those it counts under and -1; or, where a cap is full, counts it
// under none and returns the index of the first full one.
func (r *running) enter(scopes []tenant.Scope, caps []int64) ([]tenant.Scope, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var entered []tenant.Scope
	for i, s := range scopes {
		if caps[i] > 0 && r.n[s] >= caps[i] {
			return nil, i
		}
	}
	for i, s := range scopes {
		if caps[i] > 0 {
			r.n[s]++
			entered = append(entered, s)
		}
	}
	return entered, -1
}

// leave uncounts a request from the scopes enter counted it under.
func (r *running) leave(scopes []tenant.Scope) {
	if len(scopes) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range scopes {
		if r.n[s]--; r.n[s] <= 0 {
			delete(r.n, s)
		}
	}
}
