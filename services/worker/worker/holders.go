package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lynkr/lynkr/pkg/bus"
)

// A request's client is held by one gateway instance. A worker asks that gateway, every
// holdingEvery while the request runs, whether it still holds it (bus.HoldingSubject): a
// cancellation published while the worker was reconnecting is lost, and a gateway that dies
// sends none. A gateway that is gone has no subscription, so NATS answers "no responders" at
// once: its requests stop within a second or two.
const (
	holdingEvery   = time.Second
	holdingTimeout = time.Second
	// lateAfter is how long a request may take to be stored or taken before the worker asks
	// its gateway first, before calling the upstream.
	lateAfter = time.Second
)

var (
	// errGatewayGone is the cause of a request whose gateway is gone.
	errGatewayGone = fmt.Errorf("%w: the gateway holding its client is gone", ErrCanceled)
	// errNotHeld is the cause of a request its gateway no longer holds.
	errNotHeld = fmt.Errorf("%w: its gateway no longer holds its client", ErrCanceled)
)

// unsure reports whether a request may have been given up by its gateway before the worker
// took it, so the worker asks before running it: a delivery after the first, or a request
// that JetStream stored late (a publish that waited in the client's buffer through an
// outage, after the gateway answered 503) or that waited long in the queue. In the common
// case, a request stored and taken at once, it costs nothing.
func unsure(accepted, stored, taken time.Time, attempt uint64) bool {
	return attempt > 1 || stored.IsZero() || stored.Sub(accepted) > lateAfter || taken.Sub(stored) > lateAfter
}

// holderGone asks gateway whether it still holds request id, and says why not when it does
// not. No answer in time says nothing: the request runs, and checkHolders asks again.
func (w *Worker) holderGone(ctx context.Context, gateway, id string) (bool, string) {
	if gateway == "" {
		return false, ""
	}
	gone, err := w.askHolder(ctx, gateway, []string{id})
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return true, "its gateway " + gateway + " is gone"
	case err == nil && len(gone) > 0:
		return true, "its gateway " + gateway + " no longer holds its client"
	}
	return false, ""
}

// askHolder asks gateway which of ids it no longer holds.
func (w *Worker) askHolder(ctx context.Context, gateway string, ids []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, holdingTimeout)
	defer cancel()
	m, err := w.nc.RequestWithContext(ctx, bus.HoldingSubject(gateway), []byte(strings.Join(ids, " ")))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(m.Data)), nil
}

// checkHolders asks, every holdingEvery until ctx ends, the gateways of the requests in flight
// which they still hold, and stops the others.
func (w *Worker) checkHolders(ctx context.Context) {
	t := time.NewTicker(holdingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.askHolders(ctx)
		}
	}
}

func (w *Worker) askHolders(ctx context.Context) {
	byGateway := map[string][]string{}
	w.mu.Lock()
	for id, r := range w.inFlight {
		if r.gateway != "" {
			byGateway[r.gateway] = append(byGateway[r.gateway], id)
		}
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for gateway, ids := range byGateway {
		wg.Go(func() {
			gone, err := w.askHolder(ctx, gateway, ids)
			switch {
			case errors.Is(err, nats.ErrNoResponders):
				w.log.Warn("a gateway is gone: stopping the requests of its clients", "gateway", gateway, "requests", len(ids))
				w.stop(ids, errGatewayGone)
			case err == nil && len(gone) > 0:
				w.log.Info("a gateway no longer holds some requests' clients: stopping them", "gateway", gateway, "requests", len(gone))
				w.stop(gone, errNotHeld)
			case err != nil && ctx.Err() == nil:
				w.log.Debug("could not ask a gateway which requests it holds", "gateway", gateway, "error", err)
			}
		})
	}
	wg.Wait()
}
