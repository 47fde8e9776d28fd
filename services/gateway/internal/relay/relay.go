// Package relay publishes a gateway instance's requests to JetStream and hands each the
// answer workers send back: JetStream's confirmation that it holds the request, then the
// answer's chunks.
//
// Confirmations and chunks arrive on one subscription of the instance, which wakes a request's
// handler only when there is something for it: a confirmation that JetStream holds the
// request is only noted, so a request's handler wakes once, for its answer. A refusal, no
// confirmation within the accept timeout, or the request's deadline ends the answer with an
// error; one loop watches the time for every request, so none pays for a timer of its own.
//
// The relay holds an answer's chunks until the request's handler takes them, and a handler
// writing to a client that does not read is stuck in its write while the worker goes on
// sending. So one answer may hold at most MaxHeld bytes beyond one message: past that its
// client is too far behind, and the relay ends the answer (ErrClientBehind), drops what it
// held, tells the worker to stop (the request's cancellation) and kicks the handler out of its
// write (Answer.OnBehind).
package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// Why an answer ends before it is complete: the bus did not take the request, or its
// deadline passed.
var (
	// ErrNotAccepted: JetStream did not confirm the request within the accept timeout (the
	// server is down or overloaded). It may still hold it: the caller should cancel it.
	ErrNotAccepted = errors.New("the message bus did not confirm the request in time")
	// ErrDuplicate: JetStream already holds a request under this id.
	ErrDuplicate = errors.New("the message bus already holds a request with this id")
	// ErrNoStream: no JetStream stream takes the request's subject.
	ErrNoStream = errors.New("no JetStream stream takes requests")
	// ErrDeadline: the request's deadline passed before its answer was complete.
	ErrDeadline = errors.New("the request did not complete by its deadline")
	// ErrClientBehind: the client stopped taking its answer; more than MaxHeld bytes of it
	// were waiting. The relay has cancelled the request.
	ErrClientBehind = errors.New("the client stopped reading its answer: more of it waited than the gateway holds for one request")
)

// MaxHeld is the most answer bytes the relay holds for one request beyond the message it is
// receiving, whatever that message's size: a streamed answer arrives far faster than a person
// reads it, but a client that takes it at all takes it as fast as it comes, so this much
// waiting means a client that has stopped reading.
const MaxHeld = 4 << 20

// RefusedError is JetStream's own refusal of a request (a full stream, say).
type RefusedError struct {
	Code        int // JetStream's err_code
	Description string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("JetStream refused the request: %s (error %d)", e.Description, e.Code)
}

// Relay holds the reply subscription of a gateway instance.
type Relay struct {
	nc           *nats.Conn
	instance     string
	acceptWithin time.Duration
	log          *slog.Logger
	sub          *nats.Subscription
	stop         chan struct{}
	stopped      sync.WaitGroup

	mu         sync.RWMutex
	active     map[string]*Answer
	holdingSub *nats.Subscription // see answerHolding

	abandoned atomic.Uint64 // answers ended with ErrClientBehind
}

// Start subscribes to the answers and confirmations addressed to gateway instance id, and
// starts the loop that ends answers past their deadline or, when JetStream has not confirmed
// their request within acceptWithin, with ErrNotAccepted. Close stops both.
func Start(nc *nats.Conn, id string, acceptWithin time.Duration, log *slog.Logger) (*Relay, error) {
	r := &Relay{nc: nc, instance: id, acceptWithin: acceptWithin, log: log, stop: make(chan struct{}),
		active: make(map[string]*Answer)}
	sub, err := nc.Subscribe(bus.ReplyWildcard(id), r.receive)
	if err == nil {
		// Answers are small and many; a slow consumer must never drop one silently. The limits
		// are generous, and a dropped chunk is still caught by its sequence number.
		if err = sub.SetPendingLimits(1<<20, 1<<30); err != nil {
			_ = sub.Unsubscribe()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("subscribe to answers: %w", err)
	}
	r.sub = sub
	if err := r.answerHolding(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	r.stopped.Add(1)
	go r.expireLoop()
	return r, nil
}

// Close stops receiving answers.
func (r *Relay) Close() error {
	close(r.stop)
	r.stopped.Wait()
	_ = r.holdingSub.Unsubscribe()
	return r.sub.Unsubscribe()
}

// Expect registers a request before it is published, so no chunk of its answer is missed;
// past deadline its answer ends with ErrDeadline. The caller must call Done.
func (r *Relay) Expect(requestID string, deadline time.Time) *Answer {
	a := &Answer{id: requestID, ready: make(chan struct{}, 1), since: time.Now(), deadline: deadline}
	r.mu.Lock()
	r.active[requestID] = a
	r.mu.Unlock()
	return a
}

// Publish puts an expected request on subject for JetStream, with the confirmation addressed
// to this relay. An error is one the connection returned at once (it is closed, say); a
// refusal by JetStream ends the answer (see Take).
func (r *Relay) Publish(a *Answer, subject string, header nats.Header, data []byte) error {
	return r.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: bus.AckSubject(r.instance, a.id), Header: header, Data: data})
}

// Done forgets a request; chunks that still arrive for it are dropped.
func (r *Relay) Done(a *Answer) {
	r.mu.Lock()
	delete(r.active, a.id)
	r.mu.Unlock()
}

// Abandoned is the number of answers ended because their client stopped reading them
// (ErrClientBehind) since the relay started.
func (r *Relay) Abandoned() uint64 { return r.abandoned.Load() }

// InFlight is the number of requests waiting for an answer.
func (r *Relay) InFlight() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.active)
}

// receive takes a message addressed to one of the instance's requests: a chunk of its
// answer, or JetStream's reply to its publish.
func (r *Relay) receive(m *nats.Msg) {
	id, ack := bus.ReplyTarget(m.Subject)
	r.mu.RLock()
	a := r.active[id]
	r.mu.RUnlock()
	if a == nil {
		return // the client is gone, or another attempt already answered
	}
	if ack {
		a.settle(decodeAck(m))
		return
	}
	c := new(busv1.Chunk)
	if err := proto.Unmarshal(m.Data, c); err != nil {
		r.log.Error("undecodable answer chunk", "request_id", id, "error", err)
		c = nil // a hole the sequence check turns into a clean error
	}
	held, kick := a.push(c, len(m.Data))
	if held == 0 {
		return
	}
	// The client is too far behind: stop the worker, and the handler's write if it is stuck.
	r.abandoned.Add(1)
	r.log.Warn("ending a request whose client stopped reading its answer", "request_id", id,
		"held_bytes", held, "max_held_bytes", MaxHeld)
	if err := r.nc.Publish(bus.CancelSubject(id), nil); err != nil {
		r.log.Warn("could not cancel a request whose client stopped reading", "request_id", id, "error", err)
	}
	if kick != nil {
		kick()
	}
}

// decodeAck reads JetStream's reply to a publish: nil when it holds the message.
func decodeAck(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return ErrNoStream // the server's "no responders"
	}
	if bytes.HasPrefix(m.Data, []byte(`{"stream":`)) && !bytes.Contains(m.Data, []byte(`"error"`)) &&
		!bytes.Contains(m.Data, []byte(`"duplicate"`)) {
		return nil // {"stream":…,"seq":…}, the common case: taken without decoding it
	}
	var ack struct {
		Error *struct {
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Duplicate bool `json:"duplicate"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return &RefusedError{Description: "undecodable acknowledgement: " + err.Error()}
	}
	switch {
	case ack.Error != nil:
		return &RefusedError{Code: ack.Error.Code, Description: ack.Error.Description}
	case ack.Duplicate:
		return ErrDuplicate
	}
	return nil
}

// expireLoop ends the requests JetStream did not confirm in time and those past their
// deadline, within a tick of it.
func (r *Relay) expireLoop() {
	defer r.stopped.Done()
	t := time.NewTicker(expireTick)
	defer t.Stop()
	var all []*Answer
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			all = all[:0]
			r.mu.RLock() // held to copy pointers only: Expect and Done wait on it
			for _, a := range r.active {
				all = append(all, a)
			}
			r.mu.RUnlock()
			unconfirmed := now.Add(-r.acceptWithin)
			for _, a := range all {
				a.expire(now, unconfirmed)
			}
			clear(all) // keep no answer alive past its request
		}
	}
}

// expireTick is how late past a limit a request may end.
const expireTick = 50 * time.Millisecond

// Answer is the queue of chunks of one request's answer, in arrival order.
type Answer struct {
	id       string
	since    time.Time // when it was expected
	deadline time.Time
	ready    chan struct{}

	mu       sync.Mutex
	queue    []*busv1.Chunk
	held     int    // bytes of the queued chunks, as they came on the bus
	behind   bool   // ended with ErrClientBehind: chunks are dropped
	kick     func() // see OnBehind
	accepted bool   // JetStream holds the request (it confirmed, or an answer came)
	ended    error  // why the answer ends without (the rest of) its chunks
}

// push queues chunk c, size bytes on the bus. When the chunks waiting would pass MaxHeld it
// queues nothing and ends the answer with ErrClientBehind instead, dropping the queue: it then
// returns the bytes that were held and the function to kick the handler with (nil when none
// is set yet; OnBehind then calls it at once). Otherwise it returns 0 and nil.
func (a *Answer) push(c *busv1.Chunk, size int) (held int, kick func()) {
	a.mu.Lock()
	a.accepted = true
	switch {
	case a.behind:
		a.mu.Unlock()
		return 0, nil // ended already: nobody takes these
	case a.held > 0 && a.held+size > MaxHeld:
		held, kick = a.held+size, a.kick
		clear(a.queue)
		a.queue, a.held, a.behind = a.queue[:0], 0, true
		if a.ended == nil {
			a.ended = ErrClientBehind
		}
	default:
		a.queue = append(a.queue, c)
		a.held += size
	}
	a.mu.Unlock()
	a.signal()
	return held, kick
}

// OnBehind sets what kicks the request's handler out of a write to a client that does not
// read, for when the answer ends with ErrClientBehind (at once if it already has); kick runs
// on the relay's receiving goroutine, so it must not block. Set it before writing.
func (a *Answer) OnBehind(kick func()) {
	a.mu.Lock()
	a.kick = kick
	behind := a.behind
	a.mu.Unlock()
	if behind {
		kick()
	}
}

// Deadline is when the request must be complete.
func (a *Answer) Deadline() time.Time { return a.deadline }

func (a *Answer) signal() {
	select {
	case a.ready <- struct{}{}:
	default:
	}
}

// settle records JetStream's confirmation (err nil) or refusal. Only a refusal wakes the
// request's handler.
func (a *Answer) settle(err error) {
	a.mu.Lock()
	undecided := !a.accepted && a.ended == nil
	if undecided {
		a.accepted, a.ended = err == nil, err
	}
	a.mu.Unlock()
	if undecided && err != nil {
		a.signal()
	}
}

// expire ends the answer if it is past its deadline, or if JetStream has not confirmed the
// request and it was expected before unconfirmed.
func (a *Answer) expire(now, unconfirmed time.Time) {
	late := !now.Before(a.deadline)
	unsure := !a.since.After(unconfirmed)
	if !late && !unsure {
		return
	}
	a.mu.Lock()
	var err error
	switch {
	case a.ended != nil:
	case late:
		err = ErrDeadline
	case !a.accepted:
		err = ErrNotAccepted
	}
	if err != nil {
		a.ended = err
	}
	a.mu.Unlock()
	if err != nil {
		a.signal()
	}
}

// Ready is signalled when chunks are waiting or the answer ended; call Take after it fires.
func (a *Answer) Ready() <-chan struct{} { return a.ready }

// Take returns the chunks received so far, in order, and, once the answer ended without
// them, why: its deadline (ErrDeadline), its client not reading it (ErrClientBehind) or the
// bus not taking the request (ErrNotAccepted, ErrDuplicate, ErrNoStream, a *RefusedError). A nil chunk stands for one that could not be
// decoded.
func (a *Answer) Take(buf []*busv1.Chunk) ([]*busv1.Chunk, error) {
	a.mu.Lock()
	buf = append(buf[:0], a.queue...)
	clear(a.queue)
	a.queue, a.held = a.queue[:0], 0
	ended := a.ended
	a.mu.Unlock()
	return buf, ended
}
