-- serverpush's change log in a Redis stream (./index.ts): one script for every operation, so that
-- each sees the epoch and the stream at one instant. It first
-- makes sure the epoch exists and the stream with it; a missing stream under an existing epoch means
-- the stream was lost (deleted, evicted), so a new epoch starts. The epoch key holds
-- `<epoch>.<id>`: the epoch and the stream id it starts after. Each entry holds its epoch (`e`), the
-- id before it (`p`, so that a gap before the first kept entry or in a read is seen) and the change
-- (`c`); the first entry of each append also holds the append's id (`b`), so that an append tried
-- again after its answer was lost finds the entries of the first try instead of writing them twice.
if redis.replicate_commands then redis.replicate_commands() end
local stream, epochKey, op, fresh = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local function info()
  local raw, fields = redis.call('XINFO', 'STREAM', stream), {}
  for i = 1, #raw, 2 do fields[raw[i]] = raw[i + 1] end
  return fields
end
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
end
local function rotate()
  local start = '0-0'
  if redis.call('EXISTS', stream) == 1 then start = info()['last-generated-id'] else
    redis.call('XGROUP', 'CREATE', stream, 'serverpush', '$', 'MKSTREAM')
    redis.call('XGROUP', 'DESTROY', stream, 'serverpush')
  end
  local value = fresh .. '.' .. start
  redis.call('SET', epochKey, value)
  return value
end
local value = redis.call('GET', epochKey)
if not value or not string.match(value, '^[a-z0-9]+%.%d+%-%d+$') or redis.call('EXISTS', stream) == 0 then value = rotate() end
local epoch, start = string.match(value, '^([a-z0-9]+)%.(.+)$')
if op == 'epoch' then return value end
if op == 'verify' then
  local id = ARGV[4]
  if epoch == ARGV[3] and id ~= start and #redis.call('XRANGE', stream, id, id) == 0 then
    local first = info()['first-entry']
    if not first or not less(id, first[1]) then value = rotate() end
  end
  return value
end
if op == 'rotate' then
  -- Changes were given up: start a new epoch, unless Redis started one since (ARGV[3] is the old one).
  if epoch == ARGV[3] then value = rotate() end
  return value
end
-- The first entry after `from` whose append id is `batch`; false when there is none up to the end of
-- the stream; nil when `limit` entries were looked at without reaching the end.
local function find(batch, from, limit)
  local seen = 0
  while seen < limit do
    local entries, last = redis.call('XRANGE', stream, from, '+', 'COUNT', 101), from
    for i = 1, #entries do
      local id = entries[i][1]
      if id ~= from then
        if field(entries[i][2], 'b') == batch then return id end
        seen = seen + 1
      end
      last = id
    end
    if #entries < 101 then return false end
    from = last
  end
  return nil
end
if op == 'append' then
  -- ARGV: maxLength, the append's id, 'first' or 'retry', the epoch and id of the newest entry the
  -- process knew of before the first try, then the changes.
  local batch, retry, count = ARGV[4], ARGV[5] == 'retry', #ARGV - 7
  local from = ARGV[7]
  if ARGV[6] ~= epoch or less(from, start) then from = start end
  -- A first try looks too: ioredis may send a command again after a reconnect.
  local found = find(batch, from, retry and 10000 or 1000)
  if found then
    local entries = redis.call('XRANGE', stream, found, '+', 'COUNT', count)
    if #entries ~= count then return {value, 'unsure'} end
    local reply = {value, 'ok', field(entries[1][2], 'e')}
    for i = 1, count do reply[#reply + 1] = entries[i][1] end
    return reply
  end
  if found == nil and retry then return {value, 'unsure'} end
  local reply, previous = {value, 'ok', epoch}, info()['last-generated-id']
  for i = 8, #ARGV do
    if i == 8 then
      previous = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'e', epoch, 'p', previous, 'b', batch, 'c', ARGV[i])
    else
      previous = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'e', epoch, 'p', previous, 'c', ARGV[i])
    end
    reply[#reply + 1] = previous
  end
  return reply
end
local s = info()
if op == 'head' then return {value, s['last-generated-id']} end
local id = ARGV[4]
if epoch ~= ARGV[3] or less(id, start) or less(s['last-generated-id'], id) then return {value, 'epoch'} end
local deleted, first = s['max-deleted-entry-id'], s['first-entry']
if (deleted and less(id, deleted)) or (first and less(id, field(first[2], 'p') or first[1])) then return {value, 'history'} end
return {value, 'ok', redis.call('XRANGE', stream, ARGV[5], '+')}
