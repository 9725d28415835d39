-- patch-data.lua: merges a top-level patch into the data of an active session, on the JSON text.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id; ARGV[6] the most bytes the merged data
-- may have; ARGV[7] n, the number of keys set; ARGV[8 .. 7 + 2n] pairs of a key as JSON text
-- (JSON.stringify(key)) and its new value as JSON text; the remaining ARGV the keys to delete, as
-- JSON text.
-- Returns the updated record ({id, field, value, ...}); false when the session is not active at
-- now; or, when the merged data is over the limit, its size in bytes (an integer). The last two
-- write nothing.
-- Side effects: field d only; activity, deadline and TTL are unchanged.
-- Why text, not cjson: cjson decodes [] and {} alike and re-encodes numbers with 14 significant
-- digits, so a decode/encode round trip would change values the script does not even touch.
-- The stored text is the engine's (JSON.stringify, or this script's output), so a key's text is
-- canonical and keys compare as text. Stored keys keep their order; new keys follow.
local key, id = KEYS[8], ARGV[5]
local max_bytes = tonumber(ARGV[6])
local set_count = tonumber(ARGV[7])
if not load_active(key) then return false end
local text = redis.call('HGET', key, 'd')

-- Index just past the string token that opens at `i` (a '"').
local function string_end(s, i)
  local j = i + 1
  while true do
    local k = string.find(s, '["\\]', j)
    if not k then error('patch-data: unterminated string in stored data') end
    if string.byte(s, k) == 34 then return k + 1 end
    j = k + 2 -- a backslash escapes the next byte (\uXXXX needs no more: its digits are plain)
  end
end

-- Index just past the value that starts at `i`.
local function value_end(s, i)
  local c = string.byte(s, i)
  if c == 34 then return string_end(s, i) end
  if c == 123 or c == 91 then
    local depth, j = 0, i
    while true do
      local k = string.find(s, '[][{}"]', j)
      if not k then error('patch-data: unbalanced stored data') end
      local b = string.byte(s, k)
      if b == 34 then
        j = string_end(s, k)
      else
        if b == 123 or b == 91 then depth = depth + 1 else depth = depth - 1 end
        j = k + 1
        if depth == 0 then return j end
      end
    end
  end
  -- A number, true, false or null: up to the next delimiter.
  local k = string.find(s, '[,}%]%s]', i)
  return k or (#s + 1)
end

local function skip_space(s, i)
  return string.find(s, '[^%s]', i) or (#s + 1)
end

-- The stored object's members in order: {key text, value text}.
local members = {}
local i = skip_space(text, 1)
if string.byte(text, i) ~= 123 then error('patch-data: stored data is not a JSON object') end
i = skip_space(text, i + 1)
if string.byte(text, i) ~= 125 then
  while true do
    local key_end = string_end(text, i)
    local name = string.sub(text, i, key_end - 1)
    i = skip_space(text, key_end)
    i = skip_space(text, i + 1) -- past the ':'
    local v_end = value_end(text, i)
    members[#members + 1] = { name, string.sub(text, i, v_end - 1) }
    i = skip_space(text, v_end)
    if string.byte(text, i) ~= 44 then break end -- ','
    i = skip_space(text, i + 1)
  end
end

local set, order = {}, {}
for k = 0, set_count - 1 do
  local name = ARGV[8 + 2 * k]
  if set[name] == nil then order[#order + 1] = name end
  set[name] = ARGV[9 + 2 * k]
end
local removed = {}
for k = 8 + 2 * set_count, #ARGV do removed[ARGV[k]] = true end

local parts = {}
for _, m in ipairs(members) do
  local name = m[1]
  if not removed[name] then
    local value = set[name]
    if value ~= nil then
      set[name] = nil
    else
      value = m[2]
    end
    parts[#parts + 1] = name .. ':' .. value
  end
end
for _, name in ipairs(order) do
  if set[name] ~= nil then parts[#parts + 1] = name .. ':' .. set[name] end
end
local merged = '{' .. table.concat(parts, ',') .. '}'
if #merged > max_bytes then return #merged end
redis.call('HSET', key, 'd', merged)
return record_reply(id)
