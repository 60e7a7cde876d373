-- Applies a batch of device events atomically; the rules mirror parking_core/live/memory.py.
-- ARGV: prefix, settle_s, now, events JSON, rebuilding (1: skip the ready check). Returns a flat list: outcome code, changed flag.
local P, settle, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local SEP = "\31"
if ARGV[5] ~= "1" and redis.call("EXISTS", P .. "ready") == 0 then return {"LOST"} end
local events = cjson.decode(ARGV[4])

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

local function parse(rec)
  local s, since, seq, stale, pend, pts, due = string.match(rec, "^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$")
  return {s = s, since = since, seq = tonumber(seq), stale = stale, pend = pend, pts = tonumber(pts) or 0, due = tonumber(due) or 0}
end

local function store(B, berth, r)
  redis.call("HSET", B, berth, r.s .. "|" .. r.since .. "|" .. string.format("%.0f", r.seq) .. "|" .. r.stale .. "|" .. r.pend .. "|" .. string.format("%.3f", r.pts) .. "|" .. string.format("%.3f", r.due))
end

local function touch(lot, berth, r, ts)
  local member = lot .. SEP .. berth
  local last = tonumber(redis.call("ZSCORE", P .. "seen", member) or "-1")
  if ts >= last then redis.call("ZADD", P .. "seen", ts, member) end
  r.stale = "0"
end

-- a lot without sensors is known again once heard, but only after a passage or counts set its count
local function revive_lot(L)
  if redis.call("HGET", L, "sensors") == "1" then return 0 end
  if redis.call("HGET", L, "known") ~= "0" then return 0 end
  if redis.call("HGET", L, "cnt") ~= "1" then return 0 end
  redis.call("HSET", L, "known", 1)
  return 1
end

local out = {}
for i, e in ipairs(events) do
  local kind, lot = e[1], e[2]
  local L = P .. "lot:" .. lot
  local ts = tonumber(e[#e])
  if ts > now then ts = now end
  local seen = tonumber(redis.call("HGET", L, "seen") or "0")
  if ts > seen then redis.call("HSET", L, "seen", ts) end
  local code, changed = "U", 0
  if kind == "b" then
    local B, berth, occ, seq = P .. "lb:" .. lot, e[3], e[4], tonumber(e[5])
    local r = parse(redis.call("HGET", B, berth))
    if seq <= r.seq then
      code = "D"
    else
      r.seq = seq
      local before = eff(r.s, r.stale)
      touch(lot, berth, r, ts)
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
          redis.call("ZADD", P .. "due", r.due, lot .. SEP .. berth)
        end
        code = "P"
      end
      store(B, berth, r)
    end
  elseif kind == "p" then
    local key = P .. "pv:" .. lot .. ":" .. e[5]
    if redis.call("SADD", key, e[3]) == 0 then
      code = "D"
    else
      redis.call("EXPIRE", key, 259200)
      redis.call("HSET", L, "cnt", 1)
      local revived = revive_lot(L)
      local delta = -1
      if e[4] == 1 then delta = 1 end
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
    local B, dev = P .. "lb:" .. lot, e[3]
    local rec = redis.call("HGET", B, dev)
    if rec then
      local r = parse(rec)
      local before = eff(r.s, r.stale)
      touch(lot, dev, r, ts)
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
