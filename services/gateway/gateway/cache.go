package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lynkr/lynkr/pkg/limiter"
	"github.com/lynkr/lynkr/pkg/llm/header"
	"github.com/lynkr/lynkr/pkg/respcache"
)

// HeaderCache lets a client opt a request into the response cache ("true") or out of it
// ("false"); answers carry it too: "hit" or "miss".
const HeaderCache = "X-Lynkr-Cache"

// CacheConfig is the response cache (RESPONSE_CACHE_*): answers to deterministic requests —
// temperature 0, or opted in with X-Lynkr-Cache: true — kept for TTL, in Redis when REDIS_URL
// is set (shared by every gateway), else in this process.
type CacheConfig struct {
	Enabled    bool
	TTL        time.Duration
	MaxEntries int   // in-process cache only
	MaxBytes   int64 // in-process cache only
}

// newCache builds the response cache: in the limiter's Redis when it has one (one client and
// one connection pool for both), else in this process; nil when it is off.
func newCache(cfg CacheConfig, lim limiter.Limiter) respcache.Cache {
	switch r, shared := lim.(limiter.RedisUser); {
	case !cfg.Enabled:
		return nil
	case shared:
		return respcache.NewRedis(r.Client(), "lynkr:cache:")
	default:
		return respcache.NewLocal(cfg.MaxEntries, cfg.MaxBytes, time.Now)
	}
}

// cacheLookup is what serve learned from the cache for one request.
type cacheLookup struct {
	key string // non-empty when the request is cacheable
	hit bool
}

// lookup answers a cacheable request from the cache if it can. A cache that fails is passed
// by: it is an optimisation, never a reason to refuse.
func (g *Gateway) lookup(ctx context.Context, c echo.Context, ep endpoint, body []byte, a *admission) (cacheLookup, int) {
	if g.cache == nil || !ep.conversation || a.identity.NoCache() {
		return cacheLookup{}, 0
	}
	v := strings.ToLower(c.Request().Header.Get(HeaderCache))
	if !respcache.Cacheable(body, v == "true", v == "false") {
		return cacheLookup{}, 0
	}
	key := respcache.Key(a.identity.CachePartition(), string(ep.format), ep.op.String(), a.provider, a.model, a.stream, body)
	lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	e, ok, err := g.cache.Get(lctx, key)
	cancel()
	if err != nil {
		g.log.Debug("response cache unavailable", "error", err)
	}
	w := c.Response()
	if !ok {
		g.metrics.CacheMisses.Inc()
		w.Header().Set(HeaderCache, "miss")
		return cacheLookup{key: key}, 0
	}
	g.metrics.CacheHits.Inc()
	h := w.Header()
	h.Set(HeaderCache, "hit")
	h.Set("Content-Type", e.ContentType)
	if e.Dropped != "" {
		h.Set(header.Dropped, e.Dropped)
	}
	if a.stream {
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
	w.Flush()
	return cacheLookup{key: key, hit: true}, e.Status
}

// remember keeps a complete, successful answer for the requests that ask the same.
func (g *Gateway) remember(key string, e respcache.Entry) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := g.cache.Set(ctx, key, e, g.cfg.Cache.TTL); err != nil {
			g.log.Debug("response not cached", "error", err)
		}
	}()
}
