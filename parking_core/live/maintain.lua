-- Time-driven changes: settle due berth changes (mode "due") or mark silent devices unknown
-- (mode "sweep"). ARGV: prefix, mode, time. Returns the ids of lots that changed.
local P, mode, t = ARGV[1], ARGV[2], tonumber(ARGV[3])
local SEP = "\31"
local changed = {}
if redis.call("EXISTS", P .. "ready") == 0 then return {"LOST"} end

local function eff(state, stale)
  if stale == "1" or state == "" then return "U" end
  return state
end

local function account(L, before, after, at)
  if before == after then return 0 end
  local df, dk = 0, 0
  if after == "F" then df = df + 1 end
  if before == "F" then df = df - 1 end
  if after ~= "U" then dk = dk + 1 end
  if before ~= "U" then dk = dk - 1 end
  if df ~= 0 then redis.call("HINCRBY", L, "free", df) end
  if dk ~= 0 then redis.call("HINCRBY", L, "known", dk) end
  local upd = tonumber(redis.call("HGET", L, "upd") or "0")
  if at > upd then redis.call("HSET", L, "upd", at) end
  return 1
end

local zkey = P .. "due"
if mode == "sweep" then zkey = P .. "seen" end
local upto = t
if mode == "sweep" then upto = "(" .. ARGV[3] end -- silent since before the cutoff, as in memory.py
local members = redis.call("ZRANGEBYSCORE", zkey, "-inf", upto, "LIMIT", 0, 20000)
for _, m in ipairs(members) do
  redis.call("ZREM", zkey, m)
  local lot, berth = string.match(m, "^(.-)" .. SEP .. "(.*)$")
  local B, L = P .. "lb:" .. lot, P .. "lot:" .. lot
  local rec = redis.call("HGET", B, berth)
  if rec then
    local s, since, seq, stale, pend, pts, due = string.match(rec, "^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$")
    local before = eff(s, stale)
    local at = t
    if mode == "due" then
      if pend ~= "" and tonumber(due) <= t then
        s, since, pend, at = pend, pts, "", tonumber(pts)
      end
    elseif stale ~= "1" then
      stale = "1"
    end
    redis.call("HSET", B, berth, s .. "|" .. since .. "|" .. seq .. "|" .. stale .. "|" .. pend .. "|" .. pts .. "|" .. due)
    if account(L, before, eff(s, stale), at) == 1 then changed[lot] = true end
  end
end
if mode == "sweep" then
  for _, lot in ipairs(redis.call("SMEMBERS", P .. "lots")) do
    local L = P .. "lot:" .. lot
    local v = redis.call("HMGET", L, "sensors", "known", "seen")
    if v[1] == "0" and v[2] == "1" and tonumber(v[3]) < t then
      redis.call("HSET", L, "known", 0)
      changed[lot] = true
    end
  end
end
local out = {}
for lot, _ in pairs(changed) do out[#out + 1] = lot end
return out
