-- Time-driven changes for the lots of one hash slot: settle due berth changes (mode "due") or mark
-- silent devices unknown (mode "sweep"). KEYS: per lot, its lot hash, berth hash, due and seen zsets.
-- ARGV: mode, time, layout version, then the lot ids in KEYS order. Returns the ids of lots that changed.
local mode, t, version = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local nlots = #ARGV - 3
if not lots_ready(nlots, version) then return {"LOST"} end
local out = {}
local upto = t
if mode == "sweep" then upto = "(" .. ARGV[2] end -- silent since before the cutoff, as in memory.py
for k = 1, nlots do
  local L, B = KEYS[4 * k - 3], KEYS[4 * k - 2]
  local zkey = KEYS[4 * k - 1]
  if mode == "sweep" then zkey = KEYS[4 * k] end
  local changed = false
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
  if mode == "sweep" then
    local v = redis.call("HMGET", L, "sensors", "known", "seen")
    if v[1] == "0" and v[2] == "1" and tonumber(v[3]) < t then
      redis.call("HSET", L, "known", 0)
      changed = true
    end
  end
  if changed then out[#out + 1] = ARGV[3 + k] end
end
return out
