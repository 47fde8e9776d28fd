package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lynkr/lynkr/pkg/config"
)

// MaxMessageBytes is the largest message lynkr's embedded server accepts: room for an 8 MiB
// request body and its envelope. An external cluster needs max_payload at least this large
// for requests of that size; the gateway refuses larger requests with a 413 either way.
const MaxMessageBytes = 8<<20 + 64<<10

// Connect opens a connection to url, or, when url is empty, to the server in this process that
// in reaches (the embedded server: natsserver.Start), with the credentials and TLS settings of
// auth. in is nats.go's interface rather than the server's type so that a service that only
// connects does not link nats-server. The connection reconnects for ever: a NATS restart
// is an outage to ride out, not a reason to die. A server that is not there yet is waited
// for; one that refuses the credentials, or whose certificate does not verify, is an error
// at once, since waiting will not mend it. What the server reports later (a permission
// violation, a slow consumer) goes to log; a nil log leaves it to nats.go, which prints it.
func Connect(url string, in nats.InProcessConnProvider, name string, auth ClientAuth, log *slog.Logger) (*nats.Conn, error) {
	authOpts, err := auth.options()
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	opts := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
		nats.IgnoreAuthErrorAbort(), // credentials rotated on the server meanwhile are not fatal
	}, authOpts...)
	if log != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			level, args := slog.LevelWarn, []any{"connection", name, "error", err}
			if errors.Is(err, nats.ErrPermissionViolation) {
				level = slog.LevelError // the server's permissions lack what this role needs
			}
			if sub != nil {
				args = append(args, "subject", sub.Subject)
			}
			log.Log(context.Background(), level, "NATS server reported an error", args...)
		}))
	}
	if url == "" {
		if in == nil {
			return nil, fmt.Errorf("connect %s: neither NATS_URL nor an embedded server", name)
		}
		nc, err := nats.Connect("", append(opts, nats.InProcessServer(in))...)
		if err != nil {
			return nil, fmt.Errorf("connect %s to the embedded NATS: %w", name, err)
		}
		return nc, nil
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil && !refused(err) {
		nc, err = nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s to NATS %s: %w", name, redactURLs(url), err)
	}
	return nc, nil
}

// redactURLs is a NATS_URL list without the credentials its URLs may carry.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if strings.Contains(u, "@") {
			parts[i] = config.RedactURL(strings.TrimSpace(u))
		}
	}
	return strings.Join(parts, ",")
}
