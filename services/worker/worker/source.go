package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// source is a provider's consumer as its handlers pull from it: one iterator at a time,
// replaced by a new one when the bus re-created the consumer (an iterator of the old one
// would wait for ever) or when the iterator ended on its own.
type source struct {
	cons  jetstream.Consumer
	batch int

	mu      sync.Mutex
	it      jetstream.MessagesContext
	stopped bool
}

func newSource(cons jetstream.Consumer, batch int) (*source, error) {
	it, err := cons.Messages(jetstream.PullMaxMessages(batch))
	if err != nil {
		return nil, err
	}
	return &source{cons: cons, batch: batch, it: it}, nil
}

// restartWait paces the attempts to pull again from a consumer that is not there.
const restartWait = 250 * time.Millisecond

// next returns the next message. One caller at a time: the iterator is not made for
// concurrent use. It returns an error only when ctx ends or for a pull that failed, which the
// caller logs and calls again.
func (s *source) next(ctx context.Context) (jetstream.Msg, error) {
	for {
		s.mu.Lock()
		it := s.it
		s.mu.Unlock()
		msg, err := it.Next()
		if err == nil {
			return msg, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && !errors.Is(err, jetstream.ErrConsumerDeleted) {
			return nil, err
		}
		// Stopped by restart, or ended by the server: pull from the consumer as it is now.
		if err := s.renew(it); err != nil {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(restartWait):
			}
		}
	}
}

// renew replaces old with a new iterator, unless another one replaced it already or the
// source is stopped.
func (s *source) renew(old jetstream.MessagesContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("stopped")
	}
	if s.it != old {
		return nil
	}
	old.Stop()
	it, err := s.cons.Messages(jetstream.PullMaxMessages(s.batch))
	if err != nil {
		return fmt.Errorf("pull again: %w", err)
	}
	s.it = it
	return nil
}

// restart makes the handler waiting in next pull from a new iterator.
func (s *source) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.it.Stop() // next sees it closed and renews it
	}
}

// stop ends the pulling for good: next returns once ctx (the caller's) has ended.
func (s *source) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.it.Stop()
}
