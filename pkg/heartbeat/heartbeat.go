// Package heartbeat is how lynkr's instances find each other: every instance publishes a
// Heartbeat about itself on core NATS every few seconds (Run), and whoever wants the cluster's
// picture keeps the latest one of each instance (Roster). Nothing is persisted: an instance
// that stops heartbeating is forgotten after a TTL, one that stops gracefully says so.
package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/proto/busv1"
)

// Defaults that every service uses, so that the aggregator's TTL fits the senders' interval:
// three heartbeats may be lost before an instance is forgotten.
const (
	DefaultInterval = 5 * time.Second
	DefaultTTL      = 3 * DefaultInterval
)

// Source says what an instance is now. It is called once per heartbeat, from Run's goroutine,
// and must return a heartbeat whose Service and Instance are valid subject tokens. Run does
// not modify what it returns.
type Source func() *busv1.Heartbeat

// flushTimeout bounds the wait for the last heartbeat to leave.
const flushTimeout = time.Second

// Run publishes src() at once and then every every, stamping SentUnixNano, until ctx ends;
// then it publishes one last heartbeat with Leaving set, so that watchers drop the instance at
// once, and returns nil. A heartbeat that cannot be sent while NATS reconnects is lost, which
// heartbeats tolerate; Run returns an error only for a bad heartbeat or a closed connection.
func Run(ctx context.Context, nc *nats.Conn, every time.Duration, src Source) error {
	if every <= 0 {
		return fmt.Errorf("heartbeat: interval %s: want a positive duration", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := publish(nc, src(), false); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			err := publish(nc, src(), true)
			if err == nil {
				// The caller closes the connection next: let the goodbye leave first.
				_ = nc.FlushTimeout(flushTimeout)
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				return nil // nobody to say goodbye to
			}
			return err
		case <-t.C:
		}
	}
}

func publish(nc *nats.Conn, hb *busv1.Heartbeat, leaving bool) error {
	if hb == nil {
		return errors.New("heartbeat: the source returned nothing")
	}
	if !bus.ValidToken(hb.GetService()) || !bus.ValidToken(hb.GetInstance()) {
		return fmt.Errorf("heartbeat: service %q, instance %q: want valid subject tokens", hb.GetService(), hb.GetInstance())
	}
	hb = proto.CloneOf(hb)
	hb.SentUnixNano = time.Now().UnixNano()
	hb.Leaving = hb.Leaving || leaving
	b, err := proto.Marshal(hb)
	if err != nil {
		return fmt.Errorf("heartbeat of %s %s: %w", hb.Service, hb.Instance, err)
	}
	err = nc.Publish(bus.HeartbeatSubject(hb.Service, hb.Instance), b)
	if errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("heartbeat of %s %s: %w", hb.Service, hb.Instance, err)
	}
	return nil
}

// Advertise is how other hosts reach a listener's address: the host name stands in for a
// wildcard address ("[::]:8081" becomes "myhost:8081"), for the Addr of a heartbeat.
func Advertise(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}
