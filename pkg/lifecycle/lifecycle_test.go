package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// journal records what the modules did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	j.events = append(j.events, e)
	j.mu.Unlock()
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// module is a module that records its start, the end of its Run and its stop, and whose Run
// owns a goroutine that lives until the Run's context ends.
func module(j *journal, name string, deps ...string) Module {
	return Module{
		Name:  name,
		Deps:  deps,
		Start: func(context.Context) error { j.add("start " + name); return nil },
		Run: func(ctx context.Context) error {
			var wg sync.WaitGroup
			wg.Go(func() { <-ctx.Done() })
			wg.Wait()
			j.add("ran " + name)
			return nil
		},
		Stop: func() { j.add("stop " + name) },
	}
}

func TestOrder(t *testing.T) {
	m, err := New(
		Module{Name: "nats"},
		Module{Name: "bus", Deps: []string{"nats"}},
		Module{Name: "telemetry"},
		Module{Name: "worker", Deps: []string{"bus", "telemetry"}},
		Module{Name: "gateway", Deps: []string{"bus", "telemetry", "worker"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		targets []string
		want    string
	}{
		{[]string{"gateway"}, "nats bus telemetry worker gateway"},
		{[]string{"worker"}, "nats bus telemetry worker"},
		{[]string{"telemetry", "worker"}, "telemetry nats bus worker"},
		{[]string{"gateway", "worker", "gateway"}, "nats bus telemetry worker gateway"},
		{nil, ""},
	} {
		got, err := m.Order(tc.targets...)
		if err != nil {
			t.Fatalf("%v: %v", tc.targets, err)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("Order(%v) = %v, want %s", tc.targets, got, tc.want)
		}
	}
	if _, err := m.Order("router"); err == nil || !strings.Contains(err.Error(), `unknown module "router"`) {
		t.Errorf("Order of an unknown target: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		modules []Module
		want    string
	}{
		{"duplicate", []Module{{Name: "a"}, {Name: "a"}}, `two modules named "a"`},
		{"no name", []Module{{}}, "without a name"},
		{"unknown dependency", []Module{{Name: "a", Deps: []string{"b"}}}, `"a" depends on unknown module "b"`},
		{"cycle", []Module{{Name: "a", Deps: []string{"b"}}, {Name: "b", Deps: []string{"c"}}, {Name: "c", Deps: []string{"a"}}}, "dependency cycle [a b c a]"},
		{"self", []Module{{Name: "a", Deps: []string{"a"}}}, "dependency cycle [a a]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.modules...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
}

// Modules start in dependency order and stop in reverse, each Run returned before its Stop
// and before the module started before it is stopped.
func TestRunStartsInOrderStopsInReverse(t *testing.T) {
	var j journal
	m, err := New(module(&j, "a"), module(&j, "b", "a"), module(&j, "c", "b"), module(&j, "unused"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := m.Start(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := j.get(), []string{"start a", "start b", "start c"}; !slices.Equal(got, want) {
		t.Fatalf("started %v, want %v", got, want)
	}
	cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	want := []string{"start a", "start b", "start c", "ran c", "stop c", "ran b", "stop b", "ran a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Errorf("events\n got  %v\n want %v", got, want)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

// A module starts only once the one before it is ready.
func TestStartWaitsForReady(t *testing.T) {
	ready := make(chan struct{})
	a := Module{
		Name:  "a",
		Run:   func(ctx context.Context) error { close(ready); <-ctx.Done(); return nil },
		Ready: func() <-chan struct{} { return ready },
	}
	var sawReady bool
	b := Module{Name: "b", Deps: []string{"a"}, Start: func(context.Context) error {
		select {
		case <-ready:
			sawReady = true
		default:
		}
		return nil
	}}
	m, err := New(a, b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Start(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if !sawReady {
		t.Error("b started before a was ready")
	}
}

// A module failing to start stops those that started, in reverse, and not itself; the
// start error is returned as is.
func TestStartFailureStopsWhatStarted(t *testing.T) {
	var j journal
	errBroken := errors.New("broken")
	c := module(&j, "c", "b")
	c.Start = func(context.Context) error { j.add("start c"); return errBroken }
	m, err := New(module(&j, "a"), module(&j, "b", "a"), c, module(&j, "d", "c"))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Run(context.Background(), "d")
	if !errors.Is(err, errBroken) {
		t.Fatalf("Run: %v, want %v", err, errBroken)
	}
	want := []string{"start a", "start b", "start c", "ran b", "stop b", "ran a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Errorf("events\n got  %v\n want %v", got, want)
	}
}

// A Run that fails, or returns while it should run, stops every module in reverse order,
// and Run returns its error.
func TestRunFailureStopsAll(t *testing.T) {
	errBroken := errors.New("broken")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"error", errBroken, "broken"},
		{"returned", nil, "lifecycle: b stopped by itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j journal
			fail := make(chan struct{})
			b := module(&j, "b", "a")
			b.Run = func(context.Context) error { <-fail; j.add("ran b"); return tc.err }
			m, err := New(module(&j, "a"), b, module(&j, "c", "b"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.Start(context.Background(), "c")
			if err != nil {
				t.Fatal(err)
			}
			close(fail)
			<-r.Failed()
			err = r.Wait(context.Background())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Wait: %v, want %s", err, tc.want)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("Wait: %v is not %v", err, tc.err)
			}
			want := []string{"start a", "start b", "start c", "ran b", "ran c", "stop c", "stop b", "ran a", "stop a"}
			if got := j.get(); !slices.Equal(got, want) {
				t.Errorf("events\n got  %v\n want %v", got, want)
			}
		})
	}
}

// A Run that fails while the manager waits for it to be ready stops the start.
func TestRunFailureWhileStarting(t *testing.T) {
	var j journal
	errBroken := errors.New("broken")
	b := module(&j, "b", "a")
	b.Run = func(context.Context) error { return errBroken }
	b.Ready = func() <-chan struct{} { return nil } // never ready
	m, err := New(module(&j, "a"), b, module(&j, "c", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(context.Background(), "c"); !errors.Is(err, errBroken) {
		t.Fatalf("Start: %v, want %v", err, errBroken)
	}
	want := []string{"start a", "start b", "stop b", "ran a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Errorf("events\n got  %v\n want %v", got, want)
	}
}

// The end of ctx while a module is not yet ready stops the start, and stops that module too.
func TestContextEndsWhileStarting(t *testing.T) {
	var j journal
	ctx, cancel := context.WithCancel(context.Background())
	b := module(&j, "b", "a")
	b.Ready = func() <-chan struct{} { cancel(); return nil }
	m, err := New(module(&j, "a"), b, module(&j, "c", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start: %v, want context.Canceled", err)
	}
	want := []string{"start a", "start b", "ran b", "stop b", "ran a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Errorf("events\n got  %v\n want %v", got, want)
	}
}

// Errors a Run returns as it stops are reported; context.Canceled is not an error.
func TestStopReportsRunErrors(t *testing.T) {
	errDrain := errors.New("could not drain")
	m, err := New(
		Module{Name: "a", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		Module{Name: "b", Deps: []string{"a"}, Run: func(ctx context.Context) error { <-ctx.Done(); return errDrain }},
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := m.Start(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := r.Wait(ctx); !errors.Is(err, errDrain) || errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want only %v", err, errDrain)
	}
}
