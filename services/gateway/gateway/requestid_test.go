package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// The bus id of a request — under which its spend is charged once — is the id the gateway
// made for it, or the client's own with a fresh suffix: never an id a client chose alone, even
// one shaped like the gateway's own.
func TestBusIDIsNeverTheClientsChoiceAlone(t *testing.T) {
	s := newIDSource()
	made := s.next()
	for _, tc := range []struct {
		name, sent string
		suffixed   bool
	}{
		{"none sent", "", false},
		{"unfit for the bus", "has space", false},
		{"the client's own", "trace-42", true},
		{"one shaped like the gateway's", made, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, resp := http.Header{}, http.Header{}
			if tc.sent != "" {
				req.Set(HeaderRequestID, tc.sent)
			}
			got := s.ensureRequestID(req, resp)
			if resp.Get(HeaderRequestID) != got {
				t.Fatalf("response X-Request-Id %q, want %q", resp.Get(HeaderRequestID), got)
			}
			first, second := s.busID(req.Get(HeaderRequestID), got), s.busID(req.Get(HeaderRequestID), got)
			switch {
			case tc.suffixed && (!strings.HasPrefix(first, tc.sent+"-") || first == second):
				t.Errorf("bus ids %q, %q: want %q with a fresh suffix each time", first, second, tc.sent)
			case !tc.suffixed && (first != got || got == tc.sent):
				t.Errorf("bus id %q, want the id made here, %q", first, got)
			}
		})
	}
}
