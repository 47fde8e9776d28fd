package gateway

import (
	"crypto/rand"
	"net/http"
	"sync/atomic"

	"github.com/lynkr/lynkr/pkg/bus"
)

// HeaderRequestID carries the request id, taken from the client or made here.
const HeaderRequestID = "X-Request-Id"

// idSource makes request ids unique across gateway instances without coordination, like a
// NUID: a random prefix per instance and a counter, in base 62. Making one costs one string.
type idSource struct {
	prefix [12]byte
	seq    atomic.Uint64
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func newIDSource() *idSource {
	s := new(idSource)
	var r [20]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on Linux
	for i := range s.prefix {
		s.prefix[i] = base62[int(r[i])%len(base62)]
	}
	s.seq.Store(uint64(r[12]) | uint64(r[13])<<8 | uint64(r[14])<<16 | uint64(r[15])<<24)
	return s
}

// next returns "req_" followed by 22 characters.
func (s *idSource) next() string {
	var b [len("req_") + 22]byte
	copy(b[:], "req_")
	copy(b[4:], s.prefix[:])
	n := s.seq.Add(1)
	for i := len(b) - 1; i >= 4+len(s.prefix); i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b[:])
}

// ensureRequestID keeps the client's X-Request-Id if it can name a bus subject token, else
// makes one, and sets it on the response. The request's header stays as the client sent it, so
// busID can tell the two apart.
func (s *idSource) ensureRequestID(req, resp http.Header) string {
	if v := req[HeaderRequestID]; len(v) > 0 && bus.ValidToken(v[0]) {
		resp[HeaderRequestID] = v
		return v[0]
	}
	v := []string{s.next()}
	resp[HeaderRequestID] = v
	return v[0]
}

// busID is the id a request travels the bus under, the one every log line of it carries and
// spend is charged once under: the X-Request-Id the gateway made for this very request, or the
// client's own with a unique suffix. A client's id never travels alone: a client may send its
// id again, for a retry of its own, and must not be able to pick the id of a request already
// charged, or another tenant's.
func (s *idSource) busID(clientID, requestID string) string {
	if clientID != requestID {
		return requestID // the client sent none, or one unfit for the bus: made here
	}
	return requestID + "-" + s.next()[4:]
}
