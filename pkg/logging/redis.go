package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Redis is what the go-redis client logs through (redis.SetLogger): its lines go to log as
// warnings of component "redis", so they are JSON lines like every other, not the client's own
// plain text on stderr.
type Redis struct{ Log *slog.Logger }

// Printf logs one line of the client.
func (r Redis) Printf(ctx context.Context, format string, v ...any) {
	r.Log.WarnContext(ctx, strings.TrimSuffix(fmt.Sprintf(format, v...), "\n"), "component", "redis")
}
