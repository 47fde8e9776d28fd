package responses

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"time"
)

// ids makes the ids of responses, output items and calls, and tells the time when the
// upstream did not. The zero value uses crypto/rand and the clock; tests set r and now to get
// the same ids every run.
type ids struct {
	r   io.Reader
	now func() time.Time
}

// ID prefixes, as the real API uses them.
const (
	prefixResponse  = "resp_"
	prefixMessage   = "msg_"
	prefixFunction  = "fc_"
	prefixCustom    = "ctc_"
	prefixReasoning = "rs_"
	prefixCall      = "call_"
)

// make returns prefix followed by 48 hexadecimal digits, the shape of the real API's ids.
func (g ids) make(prefix string) string {
	var b [24]byte
	if g.r == nil {
		rand.Read(b[:]) // never fails
	} else if _, err := io.ReadFull(g.r, b[:]); err != nil {
		rand.Read(b[:])
	}
	return prefix + hex.EncodeToString(b[:])
}

// unix returns the time in seconds, from the upstream's created when it gave one.
func (g ids) unix(created int64) int64 {
	if created > 0 {
		return created
	}
	if g.now != nil {
		return g.now().Unix()
	}
	return time.Now().Unix()
}
