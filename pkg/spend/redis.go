package spend

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lynkr/lynkr/pkg/tenant"
	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix is the prefix of the ledger's keys in Redis.
const DefaultRedisPrefix = "lynkr:spend"

// Redis is the ledger the gateways share through Redis. Every key carries the hash tag
// {prefix}, so a cluster keeps them on one node, where one script can update them together:
//
//	{prefix}:charged:<request id>          "1", for DedupeWindow
//	{prefix}:<kind>:<name>:d:<YYYY-MM-DD>  hash of tokens, cost (µ$), requests, for 40 days
//	{prefix}:<kind>:<name>:m:<YYYY-MM>     the same for a month, for 400 days
type Redis struct {
	client redis.UniversalClient
	tag    string
	charge *redis.Script
}

var _ Ledger = (*Redis)(nil)

// NewRedis returns a ledger keeping its keys under prefix (DefaultRedisPrefix when empty)
// in client. The caller keeps the client and closes it.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, tag: "{" + prefix + "}", charge: redis.NewScript(chargeLua)}
}

func (r *Redis) windowKeys(s tenant.Scope, at time.Time) (day, month string) {
	base := r.tag + ":" + string(s.Kind) + ":" + s.Name
	return base + ":d:" + at.Format(dayLayout), base + ":m:" + at.Format(monthLayout)
}

// chargeLua charges a batch of charges, each once, in one atomic call.
//
//	ARGV[1]  dedupe TTL, s     ARGV[2] day window TTL, s     ARGV[3] month window TTL, s
//	then per charge: ARGV[i] its number of scopes n, ARGV[i+1] tokens, ARGV[i+2] cost
//	KEYS     per charge: its charged key, then each scope's day and month window
//
// A charge whose charged key already exists is skipped. Returns how many were charged.
const chargeLua = `
local k, charged = 1, 0
for i = 4, #ARGV, 3 do
  local n = tonumber(ARGV[i])
  if redis.call('SET', KEYS[k], '1', 'NX', 'EX', ARGV[1]) then
    charged = charged + 1
    for j = 1, 2 * n do
      local key = KEYS[k + j]
      redis.call('HINCRBY', key, 'tokens', ARGV[i + 1])
      redis.call('HINCRBY', key, 'cost', ARGV[i + 2])
      redis.call('HINCRBY', key, 'requests', 1)
      local ttl = ARGV[2]
      if j % 2 == 0 then
        ttl = ARGV[3]
      end
      redis.call('EXPIRE', key, ttl)
    end
  end
  k = k + 1 + 2 * n
end
return charged
`

// Charge charges the batch in one script call, atomically.
func (r *Redis) Charge(ctx context.Context, charges []Charge) (int, error) {
	if len(charges) == 0 {
		return 0, nil
	}
	if err := validateAll(charges); err != nil {
		return 0, err
	}
	now := time.Now()
	keys := make([]string, 0, len(charges)*5)
	args := make([]any, 0, 3+3*len(charges))
	args = append(args, int64(DedupeWindow/time.Second), int64(dayRetention/time.Second), int64(monthRetention/time.Second))
	for _, c := range charges {
		at := c.at(now)
		keys = append(keys, r.tag+":charged:"+c.RequestID)
		for _, s := range c.Scopes {
			d, m := r.windowKeys(s, at)
			keys = append(keys, d, m)
		}
		args = append(args, len(c.Scopes), c.Tokens, int64(c.Cost))
	}
	n, err := r.charge.Run(ctx, r.client, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("spend: charging %d requests: %w", len(charges), err)
	}
	return n, nil
}

// Spent reads every window in one pipeline of HMGETs.
func (r *Redis) Spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]Spend, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	at = at.UTC()
	cmds := make([]*redis.SliceCmd, 0, 2*len(scopes))
	pipe := r.client.Pipeline()
	for _, s := range scopes {
		d, m := r.windowKeys(s, at)
		cmds = append(cmds, pipe.HMGet(ctx, d, "tokens", "cost", "requests"), pipe.HMGet(ctx, m, "tokens", "cost", "requests"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("spend: reading spend: %w", err)
	}
	out := make([]Spend, len(scopes))
	for i, s := range scopes {
		out[i] = emptySpend(s, at)
		for j, w := range []*Window{&out[i].Day, &out[i].Month} {
			if err := parseWindow(cmds[2*i+j].Val(), w); err != nil {
				return nil, fmt.Errorf("spend: reading spend of %s: %w", s, err)
			}
		}
	}
	return out, nil
}

// parseWindow reads HMGET's tokens, cost and requests into w; missing fields are zero.
func parseWindow(vals []any, w *Window) error {
	var n [3]int64
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("unexpected value %v", v)
		}
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		n[i] = x
	}
	w.Tokens, w.Cost, w.Requests = n[0], Micros(n[1]), n[2]
	return nil
}

// Close does nothing: the caller keeps the client.
func (r *Redis) Close() error { return nil }
