package redisstore

import "github.com/redis/go-redis/v9"

// markScript sets a site's marker when it is missing and raises the floor
// to Redis's own clock plus the allowance for a clock ahead (ARGV[1], ms,
// LossSkew): an instance whose clock runs ahead issued tokens "in the
// future". KEYS: marker, floor.
var markScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], '1')
  redis.call('SET', KEYS[2], string.format('%d', math.floor((t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])) / 1000)))
end
return 1`)

// secretScript stores ARGV[1] at KEYS[1] unless a secret is there, and
// returns the secret there.
var secretScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`)

// spendScript spends one use of a token. KEYS: record, marker, floor.
// ARGV: limit, issued (unix s), expires (unix ms), clock-skew allowance
// (ms, ClockSkew), allowance for a clock ahead after a loss (ms,
// LossSkew). Times are the instances' and checked on Redis's own clock,
// which may differ by up to the allowance: a record is kept that long past
// its token's expiry, and a token expired longer ago on Redis's clock is
// refused (its record may be gone). A missing marker means Redis lost the
// site's records: the floor rises to Redis's now plus LossSkew, and an
// unknown token issued at or before the floor is refused.
var spendScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local keep = tonumber(ARGV[3]) + tonumber(ARGV[4])
if now >= keep then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], '1')
  redis.call('SET', KEYS[3], string.format('%d', math.floor((now + tonumber(ARGV[5])) / 1000)))
end
local n = redis.call('GET', KEYS[1])
if not n then
  local floor = redis.call('GET', KEYS[3])
  if floor and tonumber(ARGV[2]) <= tonumber(floor) then return 0 end
  n = 0
else
  n = tonumber(n)
end
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], n + 1, 'PXAT', string.format('%d', keep))
return 1`)

// stashLua defines the stash scripts' bookkeeping over the site's keys
// (the locals all, bytes, index, owners, sizes, prefix, perEntry and
// perByte, set before it):
//
//   - refresh(o, d) adds d to the bytes owner o holds (in the sizes hash)
//     and ranks o in the owners set, so that its first member is the owner
//     whose oldest submission goes when the stash is full: the one holding
//     the largest share of either bound, entries or bytes, and between
//     owners holding as much, the one whose oldest submission is oldest (the
//     sooner expiring; then by name). The score is minus the weight,
//     max(entries × perEntry, bytes × perByte): entries/MaxEntries against
//     bytes/MaxBytes cross-multiplied, an integer, exact in a double while
//     2 × MaxEntries × MaxBytes stays under 2^53 (about 2^38 by default). The
//     tie-break is in the member, "<oldest expiry, 15 digits> <owner>",
//     which Redis orders by bytes between equal scores: exact too, where a
//     fraction of the score would lose it to the weight's magnitude. The
//     sizes hash keeps "<bytes> <expiry in the member>" for each owner, so
//     that its member can be found again;
//   - forget(m) removes the submission m from the all set, its owner's
//     set, the byte counts and the index of sizes and owners. The index
//     outlives the submission's own hash, so that one gone by expiry is
//     accounted too.
const stashLua = `
local function refresh(o, d)
  local b = d
  local v = redis.call('HGET', sizes, o)
  if v then
    local sp = string.find(v, ' ', 1, true)
    b = b + tonumber(string.sub(v, 1, sp - 1))
    redis.call('ZREM', owners, string.sub(v, sp + 1) .. ' ' .. o)
  end
  local head = redis.call('ZRANGE', prefix .. o, 0, 0, 'WITHSCORES')
  if not head[2] then
    redis.call('HDEL', sizes, o)
    return
  end
  -- Submissions put before the sizes were kept were never counted in.
  if b < 0 then b = 0 end
  local h = string.format('%015d', tonumber(head[2]))
  local w = math.max(redis.call('ZCARD', prefix .. o) * perEntry, b * perByte)
  redis.call('ZADD', owners, string.format('%.17g', -w), h .. ' ' .. o)
  redis.call('HSET', sizes, o, string.format('%d', b) .. ' ' .. h)
end
local function forget(m)
  local i = redis.call('HGET', index, m)
  if i then
    local sp = string.find(i, ' ', 1, true)
    local n, o = tonumber(string.sub(i, 1, sp - 1)), string.sub(i, sp + 1)
    redis.call('DECRBY', bytes, n)
    redis.call('ZREM', prefix .. o, m)
    redis.call('HDEL', index, m)
    refresh(o, -n)
  end
  redis.call('ZREM', all, m)
  redis.call('DEL', m)
end
`

// stashPutScript holds a submission. KEYS: entry, owner set, all set,
// byte count, index, owners set, sizes hash. ARGV: client, owner, data,
// expires (unix ms), now (unix ms), per owner, max entries, owner set
// prefix, size, max bytes, weight of an entry, weight of a byte (see
// shareWeights). Submissions expired at now are forgotten first; then over
// its share the owner's oldest go, and over the site's bounds (entries or
// bytes) the oldest of the owner holding the largest share of either, as
// in challenge.Stash, so that no flood, of entries or of bytes, pushes out
// the submission of an owner holding less. The new submission never goes:
// when it is the top owner's oldest, that owner's next oldest goes, or,
// when it holds nothing else, the next owner's oldest. Returns 0 when the
// id is taken, else 1 plus the number of submissions pushed out.
var stashPutScript = redis.NewScript(`
local all, bytes, index, owners, sizes, prefix = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[8]
local perEntry, perByte = tonumber(ARGV[11]), tonumber(ARGV[12])` + stashLua + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', all, '-inf', ARGV[5])) do forget(m) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'o', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1])
redis.call('ZADD', all, ARGV[4], KEYS[1])
redis.call('HSET', index, KEYS[1], ARGV[9] .. ' ' .. ARGV[2])
redis.call('INCRBY', bytes, ARGV[9])
refresh(ARGV[2], tonumber(ARGV[9]))
local ttl = tonumber(ARGV[4]) - tonumber(ARGV[5])
for i = 2, 7 do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
local evicted = 0
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[6]) do
  local m = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if m == KEYS[1] then m = redis.call('ZRANGE', KEYS[2], 1, 1)[1] end
  redis.call('ZREM', KEYS[2], m)
  forget(m)
  refresh(ARGV[2], 0)
  evicted = evicted + 1
end
while redis.call('ZCARD', all) > tonumber(ARGV[7]) or tonumber(redis.call('GET', bytes) or '0') > tonumber(ARGV[10]) do
  local m
  for r = 0, 1 do
    local top = redis.call('ZRANGE', owners, r, r)[1]
    if not top then break end
    local o = string.sub(top, string.find(top, ' ', 1, true) + 1)
    m = redis.call('ZRANGE', prefix .. o, 0, 0)[1]
    if m == KEYS[1] then m = redis.call('ZRANGE', prefix .. o, 1, 1)[1] end
    if m then break end
  end
  -- Submissions put before owners were kept: the site's oldest.
  if not m then m = redis.call('ZRANGE', all, 0, 0)[1] end
  if m == KEYS[1] then m = redis.call('ZRANGE', all, 1, 1)[1] end
  if not m then break end
  local o = redis.call('HGET', m, 'o')
  if o then redis.call('ZREM', prefix .. o, m) end
  forget(m)
  evicted = evicted + 1
end
return 1 + evicted`)

// stashTakeScript releases a submission to its client. KEYS: entry, all
// set, byte count, index, owners set, sizes hash. ARGV: client, owner set
// prefix, weight of an entry, weight of a byte. Returns the data, or nil.
var stashTakeScript = redis.NewScript(`
local all, bytes, index, owners, sizes, prefix = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[2]
local perEntry, perByte = tonumber(ARGV[3]), tonumber(ARGV[4])` + stashLua + `
local v = redis.call('HMGET', KEYS[1], 'c', 'o', 'd')
if not v[1] or v[1] ~= ARGV[1] then return false end
redis.call('ZREM', prefix .. v[2], KEYS[1])
forget(KEYS[1])
return v[3]`)

// stashPeekScript returns a submission's data if it belongs to the client.
// KEYS: entry. ARGV: client.
var stashPeekScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'c', 'd')
if not v[1] or v[1] ~= ARGV[1] then return false end
return v[2]`)

// budgetLua counts one event against the counters KEYS[1..n], all or
// none, with ARGV[2i] and ARGV[2i+1] the limit and period (ms) of KEYS[i]
// and now (unix ms) in local now. When one is exhausted it returns {index
// (from 0) of the exhausted counter whose window ends last, end of that
// window (unix ms)}; otherwise it goes on.
const budgetLua = `
local worst, worstReset = -1, -1
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[2 * i]) then
    local reset = now + math.max(redis.call('PTTL', KEYS[i]), 0)
    if reset > worstReset then worst, worstReset = i - 1, reset end
  end
end
if worst >= 0 then return {worst, worstReset} end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1]) end
end
`

// budgetScript counts one event against every counter, all or none.
// KEYS: counters. ARGV: now (unix ms), then per counter its limit and
// period (ms). Returns {-1, 0} when counted, else {index (from 0) of the
// exhausted counter whose window ends last, end of that window (unix ms)}.
var budgetScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = #KEYS` + budgetLua + `
return {-1, 0}`)

// budgetPeekScript returns a counter's count and milliseconds left.
var budgetPeekScript = redis.NewScript(`
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}`)

// pressureLua adds one event to the estimate at key pkey, decayed to now
// as budget.Pressure does, with halfLife (ms), perEvent (what one event
// adds) and expiry (ms); s is the new estimate (events per minute) as a
// string.
const pressureLua = `
local v = redis.call('HMGET', pkey, 'r', 't')
local rate, at = 0, now
if v[1] then
  rate, at = tonumber(v[1]), tonumber(v[2])
  if now > at then
    rate = rate * math.pow(2, (at - now) / halfLife)
    at = now
  end
end
rate = rate + perEvent
local s = string.format('%.17g', rate)
redis.call('HSET', pkey, 'r', s, 't', string.format('%d', at))
redis.call('PEXPIRE', pkey, expiry)
`

// pressureScript adds one event to a network's rate estimate, decayed to
// now as budget.Pressure does, and returns the new estimate (events per
// minute) as a string. KEYS: estimate. ARGV: now (unix ms), half-life
// (ms), what one event adds, expiry (ms).
var pressureScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local pkey, halfLife, perEvent, expiry = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]` + pressureLua + `
return s`)

// budgetPressureScript is budgetScript then, when the event is counted,
// pressureScript, in one round trip: a challenge refused by a budget adds
// nothing to its network's rate. KEYS: counters, then the estimate. ARGV:
// budgetScript's, then pressureScript's after now. Returns budgetScript's
// answer, with the new estimate third when counted.
var budgetPressureScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = #KEYS - 1
local pkey, halfLife, perEvent, expiry = KEYS[n + 1], tonumber(ARGV[2 * n + 2]), tonumber(ARGV[2 * n + 3]), ARGV[2 * n + 4]` + budgetLua + pressureLua + `
return {-1, 0, s}`)
