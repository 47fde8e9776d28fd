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
//	{prefix}:<kind>:<name>:held            hash of the scope's holds: tokens and cost, their
//	                                       sums; r:<request id>, "<tokens> <cost>" of each;
//	                                       tail, the id of the tail (see fit)
//	{prefix}:<kind>:<name>:held:until      sorted set of the holding request ids by when their
//	                                       hold lapses, in Redis's clock (ms)
//
// The two keys of holds live as long as their longest hold. Lapsed holds are dropped by the
// next Reserve of the scope: Spent counts a lapsed hold until then.
type Redis struct {
	client  redis.UniversalClient
	tag     string
	charge  *redis.Script
	reserve *redis.Script
	release *redis.Script
}

var _ Ledger = (*Redis)(nil)

// NewRedis returns a ledger keeping its keys under prefix (DefaultRedisPrefix when empty)
// in client. The caller keeps the client and closes it.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, tag: "{" + prefix + "}",
		charge: redis.NewScript(chargeLua), reserve: redis.NewScript(reserveLua), release: redis.NewScript(releaseLua)}
}

func (r *Redis) windowKeys(s tenant.Scope, at time.Time) (day, month string) {
	base := r.tag + ":" + string(s.Kind) + ":" + s.Name
	return base + ":d:" + at.Format(dayLayout), base + ":m:" + at.Format(monthLayout)
}

func (r *Redis) heldKeys(s tenant.Scope) (held, until string) {
	held = r.tag + ":" + string(s.Kind) + ":" + s.Name + ":held"
	return held, held + ":until"
}

// dropLua is the scripts' dropHold(held, lapses, id), which ends one request's hold of a
// scope (lapses is the held:until key; until is a word of Lua), and nowMillis(), Redis's clock.
const dropLua = `
local function dropHold(held, lapses, id)
  local v = redis.call('HGET', held, 'r:' .. id)
  if v then
    local tokens, cost = string.match(v, '^(%d+) (%d+)$')
    redis.call('HINCRBY', held, 'tokens', 0 - tonumber(tokens)) -- never -0, which HINCRBY refuses
    redis.call('HINCRBY', held, 'cost', 0 - tonumber(cost))
    redis.call('HDEL', held, 'r:' .. id)
    if redis.call('HGET', held, 'tail') == id then
      redis.call('HDEL', held, 'tail')
    end
  end
  redis.call('ZREM', lapses, id)
end
local function nowMillis()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// chargeLua charges a batch of charges, each once, in one atomic call, and ends their holds.
//
//	ARGV[1]  dedupe TTL, s     ARGV[2] day window TTL, s     ARGV[3] month window TTL, s
//	then per charge: ARGV[i] its number of scopes n, ARGV[i+1] tokens, ARGV[i+2] cost,
//	ARGV[i+3] its request id
//	KEYS     per charge: its charged key, then each scope's day and month window, held and
//	         held:until
//
// A charge whose charged key already exists is skipped; its holds end all the same. Returns
// how many were charged.
const chargeLua = dropLua + `
local k, charged = 1, 0
for i = 4, #ARGV, 4 do
  local n = tonumber(ARGV[i])
  local new = redis.call('SET', KEYS[k], '1', 'NX', 'EX', ARGV[1])
  if new then
    charged = charged + 1
  end
  for j = 0, n - 1 do
    local base = k + 1 + 4 * j
    if new then
      for w = 0, 1 do
        local key = KEYS[base + w]
        redis.call('HINCRBY', key, 'tokens', ARGV[i + 1])
        redis.call('HINCRBY', key, 'cost', ARGV[i + 2])
        redis.call('HINCRBY', key, 'requests', 1)
        redis.call('EXPIRE', key, ARGV[2 + w])
      end
    end
    dropHold(KEYS[base + 2], KEYS[base + 3], ARGV[i + 3])
  end
  k = k + 1 + 4 * n
end
return charged
`

// reserveLua is Reserve: fit, for every budgeted scope, then the holds, in one atomic call.
//
//	ARGV[1] request id  ARGV[2] TTL, ms  ARGV[3], ARGV[4] least tokens and cost
//	ARGV[5], ARGV[6] most tokens and cost
//	then per scope, narrowest first, its four limits in budgetsOf's order (0: none)
//	KEYS[1] the request's charged key; then per scope its day and month window, held and
//	held:until
//
// Returns {1} when the request holds (or held already, or was charged), else {0, scope,
// budget, spent, held}: the 1-based scope and budget that refuse it, and their figures.
const reserveLua = dropLua + `
local id = ARGV[1]
local least = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local most = {tonumber(ARGV[5]), tonumber(ARGV[6])}
local now = nowMillis()
local n = (#KEYS - 1) / 4
for s = 0, n - 1 do
  local held, lapses = KEYS[4 + 4 * s], KEYS[5 + 4 * s]
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', lapses, '-inf', now)) do
    dropHold(held, lapses, gone)
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {1}
end
for s = 0, n - 1 do
  if redis.call('HEXISTS', KEYS[4 + 4 * s], 'r:' .. id) == 1 then
    return {1}
  end
end
local holds = {}
for s = 0, n - 1 do
  local windows = {redis.call('HMGET', KEYS[2 + 4 * s], 'tokens', 'cost'), redis.call('HMGET', KEYS[3 + 4 * s], 'tokens', 'cost')}
  local h = redis.call('HMGET', KEYS[4 + 4 * s], 'tokens', 'cost', 'tail')
  local held = {tonumber(h[1]) or 0, tonumber(h[2]) or 0}
  local room = {-1, -1}
  local short
  for b = 1, 4 do
    local limit = tonumber(ARGV[6 + 4 * s + b])
    if limit > 0 then
      local u = 2 - b % 2
      local spent = tonumber(windows[math.floor((b + 1) / 2)][u]) or 0
      local r = limit - spent - held[u]
      if r <= 0 or r < least[u] then
        return {0, s + 1, b, spent, held[u]}
      end
      if room[u] < 0 or r < room[u] then
        room[u] = r
      end
      if not short and r < most[u] then
        short = {0, s + 1, b, spent, held[u]}
      end
    end
  end
  local hold = {most[1], most[2], false}
  if short then
    if h[3] then
      return short
    end
    for u = 1, 2 do
      if room[u] >= 0 and room[u] < hold[u] then
        hold[u] = room[u]
      end
    end
    hold[3] = true
  end
  holds[s + 1] = hold
end
local ttl = tonumber(ARGV[2])
for s = 0, n - 1 do
  local held, lapses, hold = KEYS[4 + 4 * s], KEYS[5 + 4 * s], holds[s + 1]
  redis.call('HSET', held, 'r:' .. id, string.format('%d %d', hold[1], hold[2]))
  redis.call('HINCRBY', held, 'tokens', hold[1])
  redis.call('HINCRBY', held, 'cost', hold[2])
  if hold[3] then
    redis.call('HSET', held, 'tail', id)
  end
  redis.call('ZADD', lapses, now + ttl, id)
  for _, key in ipairs({held, lapses}) do
    if redis.call('PTTL', key) < ttl then
      redis.call('PEXPIRE', key, ttl)
    end
  end
end
return {1}
`

// releaseLua is Release.
//
//	ARGV[1] request id  ARGV[2] after, ms (0: now)  ARGV[3], ARGV[4] the tokens and cost it
//	used, -1 when unknown
//	KEYS    per scope its held and held:until
const releaseLua = dropLua + `
local id, after = ARGV[1], tonumber(ARGV[2])
local used = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local lapse = nowMillis() + after
for i = 1, #KEYS, 2 do
  local held, lapses = KEYS[i], KEYS[i + 1]
  if after <= 0 then
    dropHold(held, lapses, id)
  else
    local at = redis.call('ZSCORE', lapses, id)
    if at and tonumber(at) > lapse then
      redis.call('ZADD', lapses, lapse, id)
    end
    local v = redis.call('HGET', held, 'r:' .. id)
    if v and used[1] >= 0 then
      local tokens, cost = string.match(v, '^(%d+) (%d+)$')
      local hold = {tonumber(tokens), tonumber(cost)}
      local kept = {math.min(hold[1], used[1]), math.min(hold[2], used[2])}
      redis.call('HSET', held, 'r:' .. id, string.format('%d %d', kept[1], kept[2]))
      redis.call('HINCRBY', held, 'tokens', kept[1] - hold[1])
      redis.call('HINCRBY', held, 'cost', kept[2] - hold[2])
      if redis.call('HGET', held, 'tail') == id then
        redis.call('HDEL', held, 'tail')
      end
    end
  end
end
return 0
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
	keys := make([]string, 0, len(charges)*9)
	args := make([]any, 0, 3+4*len(charges))
	args = append(args, int64(DedupeWindow/time.Second), int64(dayRetention/time.Second), int64(monthRetention/time.Second))
	for _, c := range charges {
		at := c.at(now)
		keys = append(keys, r.tag+":charged:"+c.RequestID)
		for _, s := range c.Scopes {
			d, m := r.windowKeys(s, at)
			held, until := r.heldKeys(s)
			keys = append(keys, d, m, held, until)
		}
		args = append(args, len(c.Scopes), c.Tokens, int64(c.Cost), c.RequestID)
	}
	n, err := r.charge.Run(ctx, r.client, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("spend: charging %d requests: %w", len(charges), err)
	}
	return n, nil
}

// Reserve runs fit and holds in one script call, atomically against every gateway's.
func (r *Redis) Reserve(ctx context.Context, res Reservation, at time.Time) error {
	if err := res.validate(); err != nil {
		return err
	}
	scopes, policies := res.budgeted()
	if len(scopes) == 0 {
		return nil
	}
	at = at.UTC()
	keys := make([]string, 0, 1+4*len(scopes))
	keys = append(keys, r.tag+":charged:"+res.RequestID)
	args := make([]any, 0, 6+4*len(scopes))
	args = append(args, res.RequestID, res.TTL.Milliseconds(), res.Least.Tokens, int64(res.Least.Cost), res.Most.Tokens, int64(res.Most.Cost))
	for i, s := range scopes {
		d, m := r.windowKeys(s, at)
		held, until := r.heldKeys(s)
		keys = append(keys, d, m, held, until)
		for _, l := range limits(policies[i]) {
			args = append(args, l)
		}
	}
	v, err := r.reserve.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("spend: reserving for request %s: %w", res.RequestID, err)
	}
	switch {
	case len(v) == 1 && v[0] == 1:
		return nil
	case len(v) != 5 || v[1] < 1 || int(v[1]) > len(scopes) || v[2] < 1 || v[2] > 4:
		return fmt.Errorf("spend: reserving for request %s: unexpected answer %v", res.RequestID, v)
	}
	i := int(v[1]) - 1
	b := budgetsOf(policies[i], Spend{}, Held{}, res.Least, res.Most, at)[v[2]-1]
	b.spent, b.held = v[3], v[4]
	return b.refusal(scopes[i])
}

// Release ends, shortens or shrinks the request's holds in one script call.
func (r *Redis) Release(ctx context.Context, requestID string, scopes []tenant.Scope, l Lapse) error {
	if len(scopes) == 0 {
		return nil
	}
	keys := make([]string, 0, 2*len(scopes))
	for _, s := range scopes {
		held, until := r.heldKeys(s)
		keys = append(keys, held, until)
	}
	used := Held{Tokens: -1, Cost: -1}
	if l.Used != nil {
		used = Held{Tokens: max(l.Used.Tokens, 0), Cost: max(l.Used.Cost, 0)}
	}
	err := r.release.Run(ctx, r.client, keys, requestID, max(l.After, 0).Milliseconds(), used.Tokens, int64(used.Cost)).Err()
	if err != nil {
		return fmt.Errorf("spend: releasing request %s: %w", requestID, err)
	}
	return nil
}

// Spent reads every window in one pipeline of HMGETs.
func (r *Redis) Spent(ctx context.Context, scopes []tenant.Scope, at time.Time) ([]Spend, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	at = at.UTC()
	cmds := make([]*redis.SliceCmd, 0, 3*len(scopes))
	pipe := r.client.Pipeline()
	for _, s := range scopes {
		d, m := r.windowKeys(s, at)
		held, _ := r.heldKeys(s)
		cmds = append(cmds, pipe.HMGet(ctx, d, "tokens", "cost", "requests"), pipe.HMGet(ctx, m, "tokens", "cost", "requests"),
			pipe.HMGet(ctx, held, "tokens", "cost"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("spend: reading spend: %w", err)
	}
	out := make([]Spend, len(scopes))
	for i, s := range scopes {
		out[i] = emptySpend(s, at)
		for j, w := range []*Window{&out[i].Day, &out[i].Month} {
			if err := parseWindow(cmds[3*i+j].Val(), w); err != nil {
				return nil, fmt.Errorf("spend: reading spend of %s: %w", s, err)
			}
		}
		var held Window
		if err := parseWindow(cmds[3*i+2].Val(), &held); err != nil {
			return nil, fmt.Errorf("spend: reading the holds of %s: %w", s, err)
		}
		out[i].Held = Held{Tokens: held.Tokens, Cost: held.Cost}
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
