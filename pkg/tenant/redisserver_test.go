package tenant

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lynkr/lynkr/pkg/internal/redistest"
)

// startRedis is a real redis-server for one test.
func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }

// newClient is a go-redis client of srv that does not retry, closed at the end of the test.
func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
