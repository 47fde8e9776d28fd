package limiter

// Times in the scripts are microseconds on Redis's clock (TIME), so gateways with skewed
// clocks agree; they stay below 2^53 and so are exact in Lua's doubles, and Redis passes Lua
// numbers to commands with full precision. One argument of each script overrides "now"
// for tests; production passes "".

// acquireLua checks and takes, atomically, one in-flight slot and one unit of rate.
//
//	KEYS[1]  in-flight sorted set: member = lease id, score = lease expiry
//	KEYS[2]  rate: the GCRA theoretical arrival time (TAT)
//	ARGV[1]  max in flight (0 = unlimited)     ARGV[2] lease id     ARGV[3] lease TTL
//	ARGV[4]  interval per request (0 = no rate limit)   ARGV[5] burst   ARGV[6] now or ""
//
// It drops the leases whose expiry is at or before now and refuses if max are left; it
// refuses if the TAT pushed one interval on is more than burst intervals ahead of now. Only
// when both allow does it add the lease (expiry now+TTL) and store the new TAT.
// Returns {1, "", 0} admitted, {0, "in_flight", held}, or {0, "rate", wait}.
const acquireLua = `
redis.replicate_commands()
local now
if ARGV[6] ~= '' then
  now = tonumber(ARGV[6])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local max = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local held = redis.call('ZCARD', KEYS[1])
  if held >= max then
    return {0, 'in_flight', held}
  end
end
local interval = tonumber(ARGV[4])
local tat
if interval > 0 then
  tat = tonumber(redis.call('GET', KEYS[2])) or now
  if tat < now then
    tat = now
  end
  tat = tat + interval
  local wait = tat - now - interval * tonumber(ARGV[5])
  if wait > 0 then
    return {0, 'rate', wait}
  end
end
if max > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000) + 1000)
end
if interval > 0 then
  redis.call('SET', KEYS[2], tat, 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return {1, '', 0}
`

// renewLua pushes the expiry of this gateway's leases to now+TTL in one call.
//
//	KEYS[1]  in-flight sorted set
//	ARGV[1]  lease TTL     ARGV[2] now or ""     ARGV[3..] the lease ids this gateway holds
//
// It drops the leases whose expiry is at or before now, as acquire does, then renews each
// held lease still present (ZADD XX never brings back a lease that is gone) and returns the
// ids that were gone: lost leases, whose slots others may already have taken.
const renewLua = `
redis.replicate_commands()
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lost = {}
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
if #lost < #ARGV - 2 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000) + 1000)
end
return lost
`
