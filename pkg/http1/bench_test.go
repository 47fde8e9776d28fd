package http1

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRoundTrip compares a keep-alive call to a loopback upstream through this transport
// and through net/http's, with 8 callers per core: go test -bench RoundTrip -cpu 1,2 ./pkg/http1
func BenchmarkRoundTrip(b *testing.B) {
	answer := bytes.Repeat([]byte("x"), 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(answer)
	}))
	defer srv.Close()
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"http1", &Transport{Fallback: &http.Transport{}}},
		{"net-http", &http.Transport{MaxIdleConnsPerHost: 256}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: tc.rt}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Post(srv.URL, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
