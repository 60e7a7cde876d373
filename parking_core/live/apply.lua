-- Applies a batch of device events of a group of lots (one hash slot's on Redis Cluster) atomically;
-- the rules mirror parking_core/live/memory.py. KEYS: the group's due and seen indexes (the ticker's,
-- see redis.py), then each key the events touch, once, the first being a lot hash; each event names its
-- keys by their places in KEYS (lot hash, berth hash, due and seen zsets, passage-id set, as its kind
-- needs). ARGV: settle_s, now, events JSON, rebuilding (1: skip the ready check), layout version.
-- Returns a flat list: outcome code, changed flag.
local settle, now, version = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[5]
local DUE_IX, SEEN_IX = KEYS[1], KEYS[2]
-- a lost store (or one of another layout) has no ready lot at all: the first lot tells
if ARGV[4] ~= "1" and #KEYS > 2 and redis.call("HGET", KEYS[3], "rdy") ~= version then return {"LOST"} end
local events = cjson.decode(ARGV[3])

-- a lot is never later in an index than the earliest entry of its set: ZADD LT keeps the earliest;
-- `low` remembers what this call already wrote, so a batch adds a lot once, not once an event
local low = {[DUE_IX] = {}, [SEEN_IX] = {}}
local function index(IX, L, at)
  local tag = lot_tag(L)
  local was = low[IX][tag]
  if was == nil or at < was then
    redis.call("ZADD", IX, "LT", at, tag)
    low[IX][tag] = at
  end
end

local function touch(L, SEEN, berth, r, ts)
  local last = tonumber(redis.call("ZSCORE", SEEN, berth) or "-1")
  if ts >= last then
    redis.call("ZADD", SEEN, ts, berth)
    index(SEEN_IX, L, ts)
  end
  r.stale = "0"
end

-- a lot without sensors is known again once heard, but only after a passage or counts set its count
local function revive_lot(L)
  if redis.call("HGET", L, "sensors") == "1" then return 0 end
  if redis.call("HGET", L, "known") ~= "0" then return 0 end
  if redis.call("HGET", L, "cnt") ~= "1" then return 0 end
  redis.call("HSET", L, "known", 1)
  index(SEEN_IX, L, tonumber(redis.call("HGET", L, "seen")))
  return 1
end

local out = {}
for i, e in ipairs(events) do
  local kind, L = e[1], KEYS[e[2]]
  local ts = tonumber(e[#e])
  if ts > now then ts = now end
  local seen = tonumber(redis.call("HGET", L, "seen") or "0")
  if ts > seen then redis.call("HSET", L, "seen", ts) end
  local code, changed = "U", 0
  if kind == "b" then
    local B, DUE, SEEN, berth, occ, seq = KEYS[e[3]], KEYS[e[4]], KEYS[e[5]], e[6], e[7], tonumber(e[8])
    local r = parse(redis.call("HGET", B, berth))
    if seq <= r.seq then
      code = "D"
    else
      r.seq = seq
      local before = eff(r.s, r.stale)
      touch(L, SEEN, berth, r, ts)
      changed = account(L, before, eff(r.s, r.stale), ts)
      local new = "F"
      if occ == 1 then new = "O" end
      if settle > 0 and r.pend ~= "" and ts >= r.pts + settle then
        local b2 = eff(r.s, r.stale)
        r.s, r.since, r.pend = r.pend, string.format("%.3f", r.pts), ""
        if account(L, b2, eff(r.s, r.stale), r.pts) == 1 then changed = 1 end
      end
      if settle <= 0 or r.s == "" then
        r.pend = ""
        if new == r.s then
          if changed == 1 then code = "A" end
        else
          local b2 = eff(r.s, r.stale)
          r.s, r.since = new, string.format("%.3f", ts)
          account(L, b2, eff(r.s, r.stale), ts)
          code, changed = "A", 1
        end
      elseif new == r.s then
        r.pend = ""
        if changed == 1 then code = "A" end
      else
        if new ~= r.pend then
          r.pend, r.pts = new, ts
          local base = ts
          if now < base then base = now end
          r.due = base + settle
          redis.call("ZADD", DUE, r.due, berth)
          index(DUE_IX, L, r.due)
        end
        code = "P"
      end
      store(B, berth, r)
    end
  elseif kind == "p" then
    local key = KEYS[e[3]]
    if redis.call("SADD", key, e[4]) == 0 then
      code = "D"
    else
      redis.call("EXPIRE", key, 259200)
      redis.call("HSET", L, "cnt", 1)
      local revived = revive_lot(L)
      local delta = -1
      if e[5] == 1 then delta = 1 end
      local inside = tonumber(redis.call("HGET", L, "inside")) + delta
      if inside < 0 then inside = 0 end
      redis.call("HSET", L, "inside", inside)
      code, changed = "A", revived
      if redis.call("HGET", L, "sensors") == "0" then
        local free = tonumber(redis.call("HGET", L, "total")) - inside
        if free < 0 then free = 0 end
        if free ~= tonumber(redis.call("HGET", L, "free")) then changed = 1 end
        redis.call("HSET", L, "free", free)
        if changed == 1 and ts > tonumber(redis.call("HGET", L, "upd")) then redis.call("HSET", L, "upd", ts) end
      end
    end
  elseif kind == "c" then
    if redis.call("HGET", L, "sensors") == "1" then
      code = "U"
    elseif ts <= tonumber(redis.call("HGET", L, "cts")) or ts < tonumber(redis.call("HGET", L, "upd")) then
      code = "S"
    else
      local free, total = tonumber(e[3]), tonumber(e[4])
      redis.call("HSET", L, "cnt", 1)
      local revived = revive_lot(L)
      local inside = total - free
      if inside < 0 then inside = 0 end
      changed = revived
      if free ~= tonumber(redis.call("HGET", L, "free")) or total ~= tonumber(redis.call("HGET", L, "total")) then changed = 1 end
      redis.call("HSET", L, "cts", ts, "inside", inside, "free", free, "total", total, "upd", ts)
      code = "A"
    end
  elseif kind == "h" then
    local B, SEEN, dev = KEYS[e[3]], KEYS[e[4]], e[5]
    local rec = redis.call("HGET", B, dev)
    if rec then
      local r = parse(rec)
      local before = eff(r.s, r.stale)
      touch(L, SEEN, dev, r, ts)
      store(B, dev, r)
      changed = account(L, before, eff(r.s, r.stale), ts)
      if changed == 1 then code = "A" end
    else
      changed = revive_lot(L)
    end
  end
  out[#out + 1] = code
  out[#out + 1] = changed
end
return out
