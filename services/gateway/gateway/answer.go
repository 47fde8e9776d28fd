package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/header"
	"github.com/lynkr/lynkr/pkg/respcache"
	"github.com/lynkr/lynkr/pkg/sse"
	"github.com/lynkr/lynkr/proto/busv1"
	"github.com/lynkr/lynkr/services/gateway/internal/relay"
)

// Errors that end an answer early.
var (
	ErrWorkerLost = errors.New("the worker handling the request stopped after part of the answer was sent")
	ErrAnswerGap  = errors.New("part of the answer was lost on the bus")
)

// answerWriter turns the chunks of one answer into the HTTP response. It follows DESIGN.md's
// rules: chunks of one attempt are numbered, so a gap becomes a clean error; a redelivered
// request whose earlier attempt sent nothing to the client is answered transparently, and one
// whose earlier attempt had already streamed bytes ends with an error event.
type answerWriter struct {
	w      *echo.Response
	format llm.Format
	stream bool
	ping   time.Duration

	attempt   uint64
	nextSeq   uint64
	head      *busv1.Head
	buffered  []byte // a non-streamed body, written whole at the end
	committed bool   // the HTTP status is on the wire
	sentData  bool   // answer bytes reached the client
	status    int
	usage     *busv1.Usage // what the answer consumed, from its end
	firstData time.Time    // when the first streamed answer bytes went to the client
	capture   bool         // keep a copy of the streamed bytes, for the response cache
	captured  []byte
	ended     error // why the relay ended the answer early: its deadline, or the bus refused it

	// The writes to the client, bounded (see guard).
	rc      *http.ResponseController
	guardMu sync.Mutex
	done    bool // relay returned: the connection may serve the client's next request
	kicked  bool // the client stopped reading: the connection is done for
}

func newAnswerWriter(w *echo.Response, f llm.Format, stream bool, ping time.Duration) *answerWriter {
	return &answerWriter{w: w, format: f, stream: stream, ping: ping}
}

// relay writes the answer until its end, the request's deadline or the client's departure
// (the end of ctx). It returns the HTTP status the client got and why the answer was not
// complete, if it was not.
func (a *answerWriter) relay(ctx context.Context, ans *relay.Answer) (int, error) {
	a.guard(ans)
	defer a.release()
	var (
		buf   []*busv1.Chunk
		timer *time.Timer
		tick  <-chan time.Time
	)
	if a.stream && a.ping > 0 {
		timer = time.NewTimer(a.ping)
		defer timer.Stop()
		tick = timer.C
	}
	for {
		select {
		case <-ans.Ready():
		case <-tick:
			a.keepAlive()
			timer.Reset(a.ping)
			continue
		case <-ctx.Done():
			return 499, ctx.Err() // the client went away: nobody to write to
		}
		var ended error
		buf, ended = ans.Take(buf)
		for _, c := range buf {
			done, err := a.apply(c)
			if done || err != nil {
				return a.status, err
			}
		}
		if ended != nil {
			// For ErrClientBehind the relay has cancelled the request and kicked the writes:
			// the error cannot reach the client, and writing it makes sure that net/http
			// closes the connection.
			a.ended = ended
			e := endError(ended)
			a.fail(e)
			return a.status, e
		}
		if timer != nil {
			timer.Reset(a.ping)
		}
	}
}

// writeGrace is how long past the request's deadline a write to its client may wait: time to
// write the error that ends the answer.
const writeGrace = 5 * time.Second

// guard bounds the writes of the answer to the client, who may stop reading: it is then
// the client's own connection that waits, holding the handler in a write. When the relay
// holds more of the answer than it may for one request (relay.MaxHeld), it kicks the write
// out: the write deadline moves to the past, the pending write fails, and net/http closes
// the connection once the handler returns. A client that falls behind less than that, on an
// answer that then ends, holds its handler until the request's deadline (REQUEST_TIMEOUT)
// and writeGrace, no longer. Where the response cannot take deadlines (a wrapped writer
// in a test), the answer is still bounded and cancelled, only the write is not kicked.
func (a *answerWriter) guard(ans *relay.Answer) {
	a.rc = http.NewResponseController(a.w)
	if a.rc.SetWriteDeadline(ans.Deadline().Add(writeGrace)) != nil {
		return
	}
	ans.OnBehind(a.kick)
}

// kick fails the pending and later writes to the client, unless relay has returned (the
// connection may serve the client's next request by then). It runs on the relay's receiving
// goroutine.
func (a *answerWriter) kick() {
	a.guardMu.Lock()
	defer a.guardMu.Unlock()
	if !a.done {
		a.kicked = true
		_ = a.rc.SetWriteDeadline(time.Unix(1, 0)) // long past
	}
}

// release ends the guard as relay returns: a connection whose client keeps up loses its
// deadline, which would otherwise bound its next request.
func (a *answerWriter) release() {
	a.guardMu.Lock()
	defer a.guardMu.Unlock()
	a.done = true
	if !a.kicked {
		_ = a.rc.SetWriteDeadline(time.Time{})
	}
}

// endError is the client's error for an answer the relay ended: the request's deadline
// passed, the client stopped reading, or the bus did not take the request.
func endError(err error) *apierror.Error {
	switch {
	case errors.Is(err, relay.ErrDeadline):
		return apierror.New(http.StatusGatewayTimeout, "the request did not complete within REQUEST_TIMEOUT")
	case errors.Is(err, relay.ErrClientBehind):
		return apierror.New(http.StatusRequestTimeout, "%v (%d MiB): the request was cancelled", err, relay.MaxHeld>>20)
	case errors.Is(err, relay.ErrDuplicate):
		return apierror.New(http.StatusConflict, "request id already used for another request; send a new X-Request-Id")
	}
	e := apierror.New(http.StatusServiceUnavailable, "could not queue the request: %v", err)
	e.RetryAfter = time.Second
	return e
}

// apply handles one chunk and reports whether the answer is complete.
func (a *answerWriter) apply(c *busv1.Chunk) (bool, error) {
	if c == nil {
		return a.abort(ErrAnswerGap)
	}
	switch {
	case c.Attempt < a.attempt:
		return false, nil // a late chunk of an attempt that was superseded
	case c.Attempt > a.attempt:
		if a.sentData {
			return a.abort(ErrWorkerLost)
		}
		a.attempt, a.nextSeq, a.head, a.buffered, a.captured = c.Attempt, 1, nil, nil, nil
	}
	if c.Seq != a.nextSeq {
		return a.abort(fmt.Errorf("%w: chunk %d arrived when %d was due", ErrAnswerGap, c.Seq, a.nextSeq))
	}
	a.nextSeq++
	if c.Head != nil {
		a.head = c.Head
		if a.stream && c.Head.Status == http.StatusOK {
			a.commit()
		}
	}
	if len(c.Data) > 0 {
		if a.committed && a.stream {
			_, _ = a.w.Write(c.Data)
			a.w.Flush()
			if a.capture {
				a.captured = append(a.captured, c.Data...)
			}
			if !a.sentData {
				a.sentData, a.firstData = true, time.Now()
			}
		} else if a.buffered == nil {
			a.buffered = c.Data // most answers are one chunk: keep it, do not copy it
		} else {
			a.buffered = append(a.buffered, c.Data...)
		}
	}
	if c.End == nil {
		return false, nil
	}
	if e := c.End.GetError(); e != nil {
		err := &apierror.Error{Status: int(e.Status), Type: e.Type, Message: e.Message, Details: e.Details,
			RetryAfter: time.Duration(e.RetryAfterMs) * time.Millisecond}
		a.fail(err)
		return true, err
	}
	a.usage = c.End.GetUsage()
	a.finish()
	return true, nil
}

// entry is the complete answer as the client received it, for the response cache: its
// status, content type, body and X-Lynkr-Dropped. The upstream's headers are not kept: its
// request id and rate limits describe the call that filled the cache, not the request a hit
// answers.
func (a *answerWriter) entry() respcache.Entry {
	dropped := a.w.Header().Get(header.Dropped)
	if a.stream {
		return respcache.Entry{Status: a.status, ContentType: sseContentType, Body: a.captured, Dropped: dropped}
	}
	return respcache.Entry{Status: a.status, ContentType: a.w.Header().Get("Content-Type"), Body: a.buffered, Dropped: dropped}
}

// sseContentType is the Content-Type of every stream the gateway sends.
const sseContentType = "text/event-stream; charset=utf-8"

// commit puts the status and headers of a stream on the wire.
func (a *answerWriter) commit() {
	if a.committed {
		return
	}
	a.writeHeaders()
	h := a.w.Header()
	h.Set("Content-Type", sseContentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	a.w.WriteHeader(http.StatusOK)
	a.w.Flush()
	a.committed, a.status = true, http.StatusOK
}

// writeHeaders puts the answer's headers on the client's response, as far as the allow-list
// lets them (package header): the upstream's request id and rate limits, and lynkr's own
// X-Lynkr-* headers. A header the gateway has set already (X-Request-Id, RateLimit-*) stays.
// A stream the gateway had to start with a keep-alive before its head came has none.
func (a *answerWriter) writeHeaders() {
	if a.head == nil || len(a.head.Headers) == 0 {
		return
	}
	h := a.w.Header()
	for k, v := range a.head.Headers {
		if name, ok := header.ForClient(k); ok && len(h[name]) == 0 {
			h[name] = []string{v}
		}
	}
}

// keepAlive starts a stream that is still waiting for its first byte and sends a ping, so
// clients and proxies with idle timeouts keep the connection.
func (a *answerWriter) keepAlive() {
	a.commit()
	if a.format == llm.FormatAnthropic {
		_, _ = a.w.Write(sse.Encode(sse.Event{Event: "ping", Data: []byte(`{"type": "ping"}`)}))
	} else {
		_, _ = a.w.Write([]byte(": ping\n\n"))
	}
	a.w.Flush()
}

// finish writes a complete non-streamed answer (streams are already written).
func (a *answerWriter) finish() {
	if a.committed {
		return
	}
	status, ctype := http.StatusOK, "application/json"
	if a.head != nil {
		status, ctype = int(a.head.Status), a.head.ContentType
	}
	a.writeHeaders()
	a.w.Header().Set("Content-Type", ctype)
	a.w.WriteHeader(status)
	_, _ = a.w.Write(a.buffered)
	a.committed, a.status = true, status
}

// fail ends the answer with an error: a status and body if nothing is on the wire yet, an
// error event if the stream has begun.
func (a *answerWriter) fail(e *apierror.Error) {
	if a.committed {
		_, _ = a.w.Write(sse.Encode(apierror.Event(a.format, e)))
		a.w.Flush()
		return
	}
	writeError(a.w, a.format, e)
	a.committed, a.status = true, e.Status
}

func (a *answerWriter) abort(cause error) (bool, error) {
	e := apierror.New(http.StatusBadGateway, "%v", cause)
	a.fail(e)
	return true, cause
}
