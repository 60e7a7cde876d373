-- The requested fields (ARGV) of every lot hash in KEYS, in order: one script call for a page of lots
-- instead of one HMGET each, so a nearby answer costs one command to pack and one reply to parse.
-- Read only; the keys of one call share a hash slot wherever the client is a cluster's.
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call("HMGET", key, unpack(ARGV))
end
return out
