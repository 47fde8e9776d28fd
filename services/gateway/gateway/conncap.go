package gateway

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection caps: why, and what they cost.
//
// The body deadline (REQUEST_BODY_TIMEOUT) keeps a slow client from holding a connection for
// long, and a request counts against the shared active-requests threshold only once its body
// is in; but nothing else stops one client from opening thousands of connections, each
// holding a goroutine, buffers and a file descriptor, or from taking a large share of the
// shared slots with requests it does send. MAX_CONNECTIONS_PER_IP caps the connections one
// client address has open at once: at the default 256, one address can hold at most a quarter
// of the default 1,000 active requests. MAX_CONNECTIONS caps them all, so that connections
// cannot exhaust the process's file descriptors (which the bus and Redis connections need
// too) or its memory (an idle connection costs some 10-20 KiB; 10,000 of them 100-200 MiB).
//
// An IPv6 client usually has a whole /64 to itself, so IPv6 addresses are counted by their
// /64; IPv4-mapped IPv6 addresses count as the IPv4 address.
//
// Behind a load balancer or reverse proxy every connection comes from the balancer's own
// address, so the per-address cap applies per balancer node, not per client: raise it to
// what one node may send (or set 0 to turn it off) and cap clients at the balancer.
//
// A connection over a cap is refused as it is accepted: it is answered a plain
// "503 Service Unavailable" with Retry-After and closed at once, before the gateway reads
// anything from it, so a refusal costs one small write. (A client that already sent its
// request may see the connection reset rather than the 503.)

// Why a connection was refused: the values of lynkr_connections_refused_total's reason.
const (
	refusedPerAddress = "per_address"
	refusedTotal      = "total"
)

// refusedLogEvery is how often at most a refused connection is logged, so that a flood of
// them does not flood the log; the metric counts every one.
const refusedLogEvery = time.Minute

// capListener is a listener that refuses connections over the per-address and total caps.
// Its connections leave the counts when they are closed.
type capListener struct {
	net.Listener
	perAddr, total int // 0: no cap
	log            *slog.Logger
	refusedAddr    prometheus.Counter
	refusedTotal   prometheus.Counter

	mu      sync.Mutex
	open    int
	byAddr  map[netip.Addr]int
	lastLog time.Time
	unlog   int // refusals since the last logged one
}

func newCapListener(ln net.Listener, perAddr, total int, log *slog.Logger, refused *prometheus.CounterVec) *capListener {
	return &capListener{
		Listener:     ln,
		perAddr:      perAddr,
		total:        total,
		log:          log,
		refusedAddr:  refused.WithLabelValues(refusedPerAddress),
		refusedTotal: refused.WithLabelValues(refusedTotal),
		byAddr:       make(map[netip.Addr]int),
	}
}

// Accept returns the next connection within the caps, refusing those over them meanwhile.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, counted := clientKey(c.RemoteAddr())
		reason := l.admit(addr, counted)
		if reason == "" {
			return &cappedConn{Conn: c, l: l, addr: addr, counted: counted}, nil
		}
		l.refuse(c, addr, reason)
	}
}

// admit counts a new connection from addr (counted: addr is a client address to cap), or
// says which cap refuses it.
func (l *capListener) admit(addr netip.Addr, counted bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.open >= l.total {
		return refusedTotal
	}
	if counted && l.perAddr > 0 && l.byAddr[addr] >= l.perAddr {
		return refusedPerAddress
	}
	l.open++
	if counted {
		l.byAddr[addr]++
	}
	return ""
}

// release uncounts a connection admit counted.
func (l *capListener) release(addr netip.Addr, counted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !counted {
		return
	}
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

// Open is the number of connections open now.
func (l *capListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// refusal is what a refused connection is told, whole: no request of it has been read.
var refusal = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(refusalBody)) + "\r\n\r\n" + refusalBody)

const refusalBody = "lynkr: too many connections open at once; retry later\n"

// refuse answers a connection over a cap and closes it.
func (l *capListener) refuse(c net.Conn, addr netip.Addr, reason string) {
	if reason == refusedTotal {
		l.refusedTotal.Inc()
	} else {
		l.refusedAddr.Inc()
	}
	// A fresh connection's send buffer is empty: the write does not wait, and the deadline
	// makes sure of it.
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(refusal)
	_ = c.Close()

	l.mu.Lock()
	now := time.Now()
	due := now.Sub(l.lastLog) >= refusedLogEvery
	skipped := l.unlog
	if due {
		l.lastLog, l.unlog = now, 0
	} else {
		l.unlog++
	}
	open, fromAddr := l.open, l.byAddr[addr]
	l.mu.Unlock()
	if due {
		setting, limit := "MAX_CONNECTIONS_PER_IP", l.perAddr
		if reason == refusedTotal {
			setting, limit = "MAX_CONNECTIONS", l.total
		}
		l.log.Warn("connection refused: too many connections open", "client", addr.String(), "reason", reason,
			"setting", setting+"="+strconv.Itoa(limit), "open", open, "open_from_client", fromAddr,
			"refused_unlogged_since_last", skipped)
	}
}

// clientKey is the address a connection counts under: its IP, with IPv4-mapped IPv6 as
// IPv4 and other IPv6 by their /64. counted is false for an address that is not an IP (a
// Unix socket), which only the total cap applies to.
func clientKey(a net.Addr) (addr netip.Addr, counted bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip := tcp.AddrPort().Addr().Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err != nil {
			return netip.Addr{}, false
		}
		ip = p.Addr()
	}
	return ip, true
}

// cappedConn is a connection the caps count until it is closed.
type cappedConn struct {
	net.Conn
	l       *capListener
	addr    netip.Addr
	counted bool
	closed  atomic.Bool
}

// Close closes the connection and takes it out of the counts (once, however often it is
// called).
func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.addr, c.counted)
	}
	return err
}

// capConnections wraps the gateway's listener in the connection caps (MAX_CONNECTIONS_PER_IP,
// MAX_CONNECTIONS) and registers the metrics of the gateway's defences against slow or
// greedy clients: connections open and refused, and requests ended because their client
// stopped reading the answer (see relay.Relay.Abandoned). Run calls it once.
func (g *Gateway) capConnections(ln net.Listener) net.Listener {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lynkr_connections_refused_total",
		Help: "Client connections refused as they were accepted, by the cap they passed: per_address (MAX_CONNECTIONS_PER_IP) or total (MAX_CONNECTIONS).",
	}, []string{"reason"})
	l := newCapListener(ln, g.cfg.MaxConnsPerIP, g.cfg.MaxConns, g.log, refused)
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lynkr_connections_open",
		Help: "Client connections open at this gateway.",
	}, func() float64 { return float64(l.Open()) })
	abandoned := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "lynkr_unread_answers_total",
		Help: "Requests ended, and their upstream call cancelled, because their client stopped reading the answer while the gateway held too much of it.",
	}, func() float64 { return float64(g.relay.Abandoned()) })
	for _, c := range []prometheus.Collector{refused, open, abandoned} {
		if err := g.promReg.Register(c); err != nil {
			g.log.Warn("could not register a metric", "error", err)
		}
	}
	return l
}
