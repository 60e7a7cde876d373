-- Time-driven changes for a group of lots (one hash slot's on Redis Cluster): settle due berth changes
-- (mode "due") or mark silent devices unknown (mode "sweep"). ARGV: mode, time, layout version, then
-- per lot its id and 1 if it has berth sensors. KEYS, lot after lot: a sensor lot's lot hash, berth
-- hash and due (mode "due") or seen (mode "sweep") zset; another lot's lot hash alone.
-- Returns the ids of lots that changed.
local mode, t, version = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- a lost store loses every lot: the first one tells (apply checks the lots it writes the same way)
if #KEYS > 0 and not ready(KEYS[1], version) then return {"LOST"} end
local out = {}
local upto = t
if mode == "sweep" then upto = "(" .. ARGV[2] end -- silent since before the cutoff, as in memory.py
local at_key = 1
for a = 4, #ARGV, 2 do
  local L = KEYS[at_key]
  local changed = false
  if ARGV[a + 1] == "1" then
    local B, zkey = KEYS[at_key + 1], KEYS[at_key + 2]
    at_key = at_key + 3
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
  else
    at_key = at_key + 1
    if mode == "sweep" then
      local v = redis.call("HMGET", L, "known", "seen")
      if v[1] == "1" and tonumber(v[2]) < t then
        redis.call("HSET", L, "known", 0)
        changed = true
      end
    end
  end
  if changed then out[#out + 1] = ARGV[a] end
end
return out
