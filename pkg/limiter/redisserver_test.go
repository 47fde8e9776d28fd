package limiter

import (
	"testing"

	"github.com/lynkr/lynkr/pkg/internal/redistest"
)

// startRedis is a real redis-server for one test.
func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }
