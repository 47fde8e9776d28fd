package worker

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/fakeupstream"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/proto/busv1"
)

// panicking is a provider with a bug: building its call panics.
type panicking struct{ provider.Provider }

func (panicking) NewRequest(context.Context, []byte, bool, http.Header) (*http.Request, error) {
	var m map[string]int
	m["boom"]++ // a nil map write: a real panic, not a panic() call
	return nil, nil
}

// A request that panics is answered with a 500 and its stack is logged; the worker lives on.
func TestPanicIsAnsweredNotFatal(t *testing.T) {
	fake := fakeupstream.New()
	t.Cleanup(fake.Close)
	w, _, p := testWorker(t, fake)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	req := &busv1.Request{Id: "req-panic", Operation: busv1.Operation_OPERATION_CHAT_COMPLETIONS, Model: "gpt-4o",
		Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)}
	rep := newReply(w.nc, req, 1)
	_, panicked, err := w.answerGuarded(context.Background(), req, panicking{p}, rep, log)
	if !panicked {
		t.Fatalf("no panic reported, error %v", err)
	}
	if e := apierror.As(err); e.Status != http.StatusInternalServerError || !strings.Contains(e.Message, "req-panic") {
		t.Errorf("error %d %q", e.Status, e.Message)
	}
	if out := logs.String(); !strings.Contains(out, "request panicked") || !strings.Contains(out, "assignment to entry in nil map") ||
		!strings.Contains(out, "panic_test.go") {
		t.Errorf("log has no panic and stack: %s", out)
	}
	// The same worker answers the next request.
	fake.Enqueue(fakeupstream.Reply{Text: "fine"})
	req2 := &busv1.Request{Id: "req-next", Operation: busv1.Operation_OPERATION_CHAT_COMPLETIONS, Model: "gpt-4o",
		Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)}
	if _, panicked, err := w.answerGuarded(context.Background(), req2, p, newReply(w.nc, req2, 1), log); panicked || err != nil {
		t.Errorf("next request: panicked %v, error %v", panicked, err)
	}
}
