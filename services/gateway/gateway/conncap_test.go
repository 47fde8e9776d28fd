package gateway

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serveCapped serves "ok" on loopback behind the connection caps.
func serveCapped(t *testing.T, perAddr, total int) (*capListener, *prometheus.CounterVec) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"reason"})
	l := newCapListener(ln, perAddr, total, slog.New(slog.DiscardHandler), refused)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, refused
}

// dialFrom connects to l from the loopback address from (127.0.0.x: Linux routes all of
// 127/8 to the loopback interface) and sends one request.
func dialFrom(t *testing.T, l net.Listener, from string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// get sends a request on c and returns the status of its answer.
func get(t *testing.T, c net.Conn, r *bufio.Reader) int {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: lynkr\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// refusedNow reads what a connection the caps refuse is told, without sending anything: a
// plain 503 with Retry-After, then the end of the connection.
func refusedNow(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("a connection over the cap: %v, want a 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(string(body), "too many connections") {
		t.Fatalf("a connection over the cap: %d %q %s", resp.StatusCode, resp.Header, body)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the refused connection is still open")
	}
}

func TestConnectionCaps(t *testing.T) {
	l, refused := serveCapped(t, 2, 3)

	a1, r1 := dialFrom(t, l, "127.0.0.1")
	a2, r2 := dialFrom(t, l, "127.0.0.1")
	if get(t, a1, r1) != http.StatusOK || get(t, a2, r2) != http.StatusOK {
		t.Fatal("the connections within the caps were not served")
	}
	c, r := dialFrom(t, l, "127.0.0.1") // the third from one address
	refusedNow(t, c, r)
	b1, rb := dialFrom(t, l, "127.0.0.2")
	if get(t, b1, rb) != http.StatusOK {
		t.Fatal("another address was refused while under the caps")
	}
	c, r = dialFrom(t, l, "127.0.0.3") // the fourth in all
	refusedNow(t, c, r)

	if got := testutil.ToFloat64(refused.WithLabelValues(refusedPerAddress)); got != 1 {
		t.Errorf("refused per address = %g, want 1", got)
	}
	if got := testutil.ToFloat64(refused.WithLabelValues(refusedTotal)); got != 1 {
		t.Errorf("refused in all = %g, want 1", got)
	}

	// A closed connection leaves the counts: its address may connect again.
	a1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for l.Open() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted open after one of 3 closed", l.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	a3, r3 := dialFrom(t, l, "127.0.0.1")
	if get(t, a3, r3) != http.StatusOK {
		t.Fatal("a connection after another from the same address closed was not served")
	}
}

func TestConnectionCapsOff(t *testing.T) {
	l, refused := serveCapped(t, 0, 0)
	for range 20 {
		c, r := dialFrom(t, l, "127.0.0.1")
		if get(t, c, r) != http.StatusOK {
			t.Fatal("a connection was refused with the caps off")
		}
	}
	if got := testutil.CollectAndCount(refused); got != 2 {
		t.Errorf("%d refusal series, want 2 (both at zero)", got)
	}
	if got := testutil.ToFloat64(refused.WithLabelValues(refusedPerAddress)) + testutil.ToFloat64(refused.WithLabelValues(refusedTotal)); got != 0 {
		t.Errorf("%g refusals with the caps off", got)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct {
		addr    net.Addr
		want    string
		counted bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4000}, "203.0.113.7", true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:203.0.113.7"), Port: 4000}, "203.0.113.7", true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 4000}, "2001:db8:1:2::", true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 4001}, "2001:db8:1:2::", true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 4000}, "2001:db8:1:3::", true},
		{&net.UnixAddr{Name: "/run/lynkr.sock", Net: "unix"}, "invalid IP", false},
	} {
		got, counted := clientKey(tc.addr)
		if got.String() != tc.want || counted != tc.counted {
			t.Errorf("clientKey(%s) = %s, %t; want %s, %t", tc.addr, got, counted, tc.want, tc.counted)
		}
	}
	if a, _ := clientKey(&net.TCPAddr{IP: net.ParseIP("2001:db8::1")}); a != netip.MustParseAddr("2001:db8::") {
		t.Errorf("an IPv6 address keys as %s, want its /64", a)
	}
}
