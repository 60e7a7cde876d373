-- Time-driven changes for the lots of one group (one hash slot's on Redis Cluster) whose time in the
-- ticker's index has come (redis.py reads the index, then calls this with those lots alone): settle
-- due berth changes (mode "due") or mark silent devices unknown (mode "sweep"), then give each lot
-- its next time in the index (the earliest entry left in its set) or take it out.
-- KEYS: the group's index for the mode (due-lots or seen-lots), then the n indexes the group is
-- leaving (read until every worker has moved), then per lot its lot hash, berth hash and due (mode
-- "due") or seen (mode "sweep") zset. ARGV: mode, time, layout version, n, then per lot its tag (its
-- member in the index). Returns the tags of the lots that changed.
local mode, t, version, leaving = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local IX, first = KEYS[1], 2 + leaving
-- a lost store loses every lot: the first one tells (apply checks the lots it writes the same way)
if #KEYS >= first and not ready(KEYS[first], version) then return {"LOST"} end
local out = {}
local upto = t
if mode == "sweep" then upto = "(" .. ARGV[2] end -- silent since before the cutoff, as in memory.py
for a = 5, #ARGV do
  local tag, at_key = ARGV[a], first + (a - 5) * 3
  local L, B, zkey = KEYS[at_key], KEYS[at_key + 1], KEYS[at_key + 2]
  for k = 2, first - 1 do redis.call("ZREM", KEYS[k], tag) end
  local changed, next_at = false, nil
  if redis.call("HGET", L, "sensors") == "1" then
    for _, berth in ipairs(redis.call("ZRANGEBYSCORE", zkey, "-inf", upto, "LIMIT", 0, 20000)) do
      redis.call("ZREM", zkey, berth)
      local rec = redis.call("HGET", B, berth)
      if rec then
        local r = parse(rec)
        local before = eff(r.s, r.stale)
        local at = t
        if mode == "due" then
          if r.pend ~= "" and r.due <= t then
            r.s, r.since, r.pend, at = r.pend, string.format("%.3f", r.pts), "", r.pts
          end
        else
          r.stale = "1"
        end
        store(B, berth, r)
        if account(L, before, eff(r.s, r.stale), at) == 1 then changed = true end
      end
    end
    next_at = redis.call("ZRANGE", zkey, 0, 0, "WITHSCORES")[2]
  elseif mode == "sweep" then
    local v = redis.call("HMGET", L, "known", "seen")
    if v[1] == "1" then
      if tonumber(v[2]) < t then
        redis.call("HSET", L, "known", 0)
        changed = true
      else
        next_at = v[2]
      end
    end
  end
  if next_at then redis.call("ZADD", IX, next_at, tag) else redis.call("ZREM", IX, tag) end
  if changed then out[#out + 1] = tag end
end
return out
