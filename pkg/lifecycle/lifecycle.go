// Package lifecycle runs a process's long-running parts as named modules with dependencies:
// a target list picks the modules to run, they start one after the other in dependency
// order, each ready before the next starts, and they stop in the reverse order, each awaited,
// when the process ends or any of them fails. It is the idea of grafana/dskit's services and
// modules in the few lines lynkr needs: dskit itself brings go-kit logging, gRPC and a
// metrics stack along, for states and listeners no part of lynkr uses.
//
// A module owns the goroutines it starts: its Run returns only once they have all returned
// (errgroup, or sync.WaitGroup.Go and Wait), so a process whose Running has stopped has
// nothing of its own left running.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Module is one long-running part of a process. Every function is optional.
type Module struct {
	// Name is how targets and other modules' Deps name the module.
	Name string
	// Deps are the modules that start, and are ready, before this one, and stop after it.
	Deps []string
	// Start makes the part, once its dependencies are ready. An error stops the modules
	// already started; Start releases what it took itself before returning one. ctx ends if
	// the process is told to stop during start-up.
	Start func(ctx context.Context) error
	// Run runs the part until ctx ends, then returns once every goroutine it started has
	// returned. A Run that returns before its stop began, with an error or not, is a failure:
	// every module stops.
	Run func(ctx context.Context) error
	// Ready, if set, gives a channel closed once the running part serves; the next module
	// starts after it closes. It is called after Start.
	Ready func() <-chan struct{}
	// Stop releases what Start took, after Run has returned.
	Stop func()
}

// Manager knows a process's modules and the dependencies between them.
type Manager struct {
	modules map[string]Module
}

// New checks modules, which must have distinct names and depend only on one another without
// a cycle.
func New(modules ...Module) (*Manager, error) {
	m := &Manager{modules: make(map[string]Module, len(modules))}
	for _, mod := range modules {
		if mod.Name == "" {
			return nil, errors.New("lifecycle: a module without a name")
		}
		if _, dup := m.modules[mod.Name]; dup {
			return nil, fmt.Errorf("lifecycle: two modules named %q", mod.Name)
		}
		m.modules[mod.Name] = mod
	}
	for _, mod := range modules {
		if _, err := m.Order(mod.Name); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Order is the modules that targets need, each after its dependencies: depth first, targets
// and dependencies in the order given, each module once.
func (m *Manager) Order(targets ...string) ([]string, error) {
	var order []string
	visiting := map[string]bool{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		if slices.Contains(order, name) {
			return nil
		}
		path = append(path, name)
		if visiting[name] {
			return fmt.Errorf("lifecycle: dependency cycle %v", path)
		}
		mod, ok := m.modules[name]
		if !ok {
			if len(path) > 1 {
				return fmt.Errorf("lifecycle: %q depends on unknown module %q", path[len(path)-2], name)
			}
			return fmt.Errorf("lifecycle: unknown module %q", name)
		}
		visiting[name] = true
		for _, d := range mod.Deps {
			if err := visit(d, path); err != nil {
				return err
			}
		}
		visiting[name] = false
		order = append(order, name)
		return nil
	}
	for _, t := range targets {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Run starts targets and what they need, runs them until ctx ends or one fails, and stops
// them in reverse order. It returns the failure, if any; an end of ctx is not one.
func (m *Manager) Run(ctx context.Context, targets ...string) error {
	r, err := m.Start(ctx, targets...)
	if err != nil {
		return err
	}
	return r.Wait(ctx)
}

// Start starts targets and what they need in dependency order, each ready before the next
// starts, and returns them running. If one fails to start, or ctx ends first, Start stops
// those started, in reverse order, and returns the error. The modules' Run contexts do not
// end with ctx: Wait or Stop ends them, one at a time.
func (m *Manager) Start(ctx context.Context, targets ...string) (*Running, error) {
	order, err := m.Order(targets...)
	if err != nil {
		return nil, err
	}
	r := &Running{failed: make(chan struct{})}
	for _, name := range order {
		err := r.start(ctx, m.modules[name])
		if err == nil {
			select {
			case <-r.failed: // a Run returned while the next waited for it to be ready
				return nil, r.Stop()
			default:
				continue
			}
		}
		if stopErr := r.Stop(); stopErr != nil {
			return nil, errors.Join(err, stopErr)
		}
		return nil, err
	}
	return r, nil
}

// Running is the modules a Start started.
type Running struct {
	started []*started // in the order they started

	mu      sync.Mutex
	failure error         // the first Run to return before its stop
	failed  chan struct{} // closed with failure set
	stop    sync.Once
	stopErr error
}

// started is one module that started, and its Run while it runs.
type started struct {
	mod    Module
	cancel context.CancelFunc // ends Run's context
	done   chan struct{}      // closed when Run has returned
	err    error              // Run's error, once done
	early  bool               // Run returned before its stop: the failure
}

func (r *Running) start(ctx context.Context, mod Module) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lifecycle: start %s: %w", mod.Name, err)
	}
	if mod.Start != nil {
		if err := mod.Start(ctx); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &started{mod: mod, cancel: cancel, done: make(chan struct{})}
	r.started = append(r.started, s)
	if mod.Run == nil {
		close(s.done)
		return nil
	}
	go func() {
		defer close(s.done)
		s.err = mod.Run(runCtx)
		if runCtx.Err() == nil {
			s.early = true
			err := s.err
			if err == nil {
				err = fmt.Errorf("lifecycle: %s stopped by itself", mod.Name)
			}
			r.fail(err)
		}
	}()
	if mod.Ready == nil {
		return nil
	}
	select {
	case <-mod.Ready():
		return nil
	case <-r.failed:
		return nil // Manager.Start sees the failure and stops
	case <-ctx.Done():
		return fmt.Errorf("lifecycle: start %s: %w", mod.Name, ctx.Err())
	}
}

func (r *Running) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failure == nil {
		r.failure = err
		close(r.failed)
	}
}

// Failed is closed when a module's Run has returned before its stop.
func (r *Running) Failed() <-chan struct{} { return r.failed }

// Wait waits until ctx ends or a module fails, then stops every module and returns the
// failure and the errors Runs returned as they stopped.
func (r *Running) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-r.failed:
	}
	return r.Stop()
}

// Stop stops the modules in the reverse order of their start: it ends a module's Run
// context, waits for its Run to return, calls its Stop, then goes on to the module started
// before it. It returns the first failure and any error a Run returned other than
// context.Canceled, and the same again when called again.
func (r *Running) Stop() error {
	r.stop.Do(func() {
		var errs []error
		for _, s := range slices.Backward(r.started) {
			s.cancel()
			<-s.done
			if s.mod.Stop != nil {
				s.mod.Stop()
			}
			if s.err != nil && !s.early && !errors.Is(s.err, context.Canceled) {
				errs = append(errs, s.err)
			}
		}
		r.mu.Lock()
		failure := r.failure
		r.mu.Unlock()
		if failure != nil && !errors.Is(failure, context.Canceled) {
			errs = append([]error{failure}, errs...)
		}
		r.stopErr = errors.Join(errs...)
	})
	return r.stopErr
}
