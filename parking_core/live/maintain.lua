-- Time-driven changes for a group of lots (one hash slot's on Redis Cluster): settle due berth changes
-- (mode "due") or mark silent devices unknown (mode "sweep"). KEYS: per lot, its lot hash, berth hash,
-- due and seen zsets. ARGV: mode, time, layout version, then per lot its id and 1 if it has berth
-- sensors. Returns the ids of lots that changed.
local mode, t, version = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local nlots = (#ARGV - 3) / 2
-- a lost store loses every lot: the first one tells (apply checks each lot it writes)
if nlots > 0 and not ready(KEYS[1], version) then return {"LOST"} end
local out = {}
local upto = t
if mode == "sweep" then upto = "(" .. ARGV[2] end -- silent since before the cutoff, as in memory.py
for k = 1, nlots do
  local L, B = KEYS[4 * k - 3], KEYS[4 * k - 2]
  local changed = false
  if ARGV[3 + 2 * k] == "1" then
    local zkey = KEYS[4 * k - 1]
    if mode == "sweep" then zkey = KEYS[4 * k] end
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
  elseif mode == "sweep" then
    local v = redis.call("HMGET", L, "known", "seen")
    if v[1] == "1" and tonumber(v[2]) < t then
      redis.call("HSET", L, "known", 0)
      changed = true
    end
  end
  if changed then out[#out + 1] = ARGV[2 + 2 * k] end
end
return out
