package breaker

import (
	"sort"
	"sync"
)

// Options are what a Set adds to its breakers.
type Options struct {
	// Instance names this process in the shared bucket (the worker's WORKER_ID).
	Instance string
	// OnStateChange, if not nil, is called on every change of state of every breaker, with
	// that breaker's lock held: it must be quick and must not call the breaker. Publisher.Notify
	// fits; so does a metrics gauge.
	OnStateChange func(Change)
	// Board, if not nil, makes Allow fail fast while another instance has found the provider
	// down. This instance's own entries are left to its own breakers.
	Board *Board
}

// Set holds one breaker per provider, made on first use. It is safe for concurrent use.
type Set struct {
	cfg      Config
	opts     Options
	breakers sync.Map // provider → *Breaker
}

// NewSet returns an empty set whose breakers all have the settings cfg, which must have
// passed Validate.
func NewSet(cfg Config, opts Options) *Set {
	return &Set{cfg: cfg, opts: opts}
}

// Breaker returns the breaker of a provider.
func (s *Set) Breaker(provider string) *Breaker {
	if b, ok := s.breakers.Load(provider); ok {
		return b.(*Breaker)
	}
	b, _ := s.breakers.LoadOrStore(provider, newBreaker(provider, s.cfg, s.opts))
	return b.(*Breaker)
}

// Allow is Breaker(provider).Allow().
func (s *Set) Allow(provider string) (done func(Outcome), err error) {
	return s.Breaker(provider).Allow()
}

// State is the state of a provider's breaker; a provider never called is closed.
func (s *Set) State(provider string) State {
	if b, ok := s.breakers.Load(provider); ok {
		return b.(*Breaker).State()
	}
	return StateClosed
}

// States is the state of every breaker made so far, for metrics and health checks.
func (s *Set) States() map[string]State {
	m := map[string]State{}
	s.breakers.Range(func(k, v any) bool {
		m[k.(string)] = v.(*Breaker).State()
		return true
	})
	return m
}

// Providers lists the providers with a breaker, sorted.
func (s *Set) Providers() []string {
	var names []string
	s.breakers.Range(func(k, _ any) bool {
		names = append(names, k.(string))
		return true
	})
	sort.Strings(names)
	return names
}
