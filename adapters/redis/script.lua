-- serverpush's change log in a Redis stream (./index.ts): one script for every operation, so that
-- each sees the epoch and the stream at one instant. It first
-- makes sure the epoch exists and the stream with it; a missing stream under an existing epoch means
-- the stream was lost (deleted, evicted), so a new epoch starts. The epoch key holds
-- `<epoch>.<id>`: the epoch and the stream id it starts after. Each entry holds its epoch (`e`), the
-- id before it (`p`, so that a gap before the first kept entry or in a read is seen) and the change (`c`).
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
if op == 'append' then
  local reply, previous = {value}, info()['last-generated-id']
  for i = 4, #ARGV do
    previous = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'e', epoch, 'p', previous, 'c', ARGV[i])
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
