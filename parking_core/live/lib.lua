-- Helpers shared by apply.lua and maintain.lua: parking_core/live/redis.py puts this file in front of
-- each script when it loads them, so a berth record is read, written and counted the same way in both.
-- Every key a call touches is declared in KEYS and carries its lot's hash tag, so Redis Cluster can
-- route the call.

-- A berth record: state|since|seq|stale|pending|pending ts|due
local function parse(rec)
  local s, since, seq, stale, pend, pts, due = string.match(rec, "^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$")
  return {s = s, since = since, seq = tonumber(seq), stale = stale, pend = pend, pts = tonumber(pts) or 0, due = tonumber(due) or 0}
end

local function store(B, berth, r)
  redis.call("HSET", B, berth, r.s .. "|" .. r.since .. "|" .. string.format("%.0f", r.seq) .. "|" .. r.stale .. "|" .. r.pend .. "|" .. string.format("%.3f", r.pts) .. "|" .. string.format("%.3f", r.due))
end

-- what a berth counts as: F free, O occupied, U unknown (never reported, or silent)
local function eff(state, stale)
  if stale == "1" or state == "" then return "U" end
  return state
end

-- move a lot's free and known counters from one berth state to another; 1 when the lot changed
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

-- a lot's hash tag, as the ticker's indexes name the lot: the body of the braces ending its key
local function lot_tag(L)
  return string.match(L, "{([^{}]*)}$")
end

-- the lot hash carries the layout version once the store is ready; none means the data was lost
-- (or written by another layout): the caller rebuilds
local function ready(L, version)
  return redis.call("HGET", L, "rdy") == version
end
