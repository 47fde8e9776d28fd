package relay

import (
	"bytes"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/lynkr/lynkr/pkg/bus"
)

// answerHolding (Start calls it) starts answering workers that ask which of their requests
// this gateway instance still holds a client for (bus.HoldingSubject): a worker stops a
// request whose client is gone even when the cancellation was lost, and when this instance is
// gone altogether nobody answers, which the worker sees as "no responders" at once. Close
// ends the subscription.
func (r *Relay) answerHolding() error {
	sub, err := r.nc.Subscribe(bus.HoldingSubject(r.instance), r.holding)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", bus.HoldingSubject(r.instance), err)
	}
	r.mu.Lock()
	r.holdingSub = sub
	r.mu.Unlock()
	return nil
}

// holding answers one question: the request ids it names, separated by spaces, that this
// instance does not hold (an empty answer: it holds them all).
func (r *Relay) holding(m *nats.Msg) {
	var gone []byte
	r.mu.RLock()
	for id := range bytes.FieldsSeq(m.Data) {
		if _, ok := r.active[string(id)]; !ok {
			if len(gone) > 0 {
				gone = append(gone, ' ')
			}
			gone = append(gone, id...)
		}
	}
	r.mu.RUnlock()
	_ = m.Respond(gone)
}
