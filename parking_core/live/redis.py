"""Live state in Redis: small hashes per lot, the rules run as Lua so workers can share it.

Keys (all under the prefix), laid out for Redis Cluster: every key of one car park carries its hash
tag, `{lot id}` (braces and `%` in an id percent-encoded), so it lives in one slot and a script call
touching one slot's lots can be routed; scripts name every key they touch in KEYS. Per lot:
`lot:{id}` hash of counters (free, inside, known -- berths known, or 0/1 for lots without sensors --,
nb berths with a sensor, cnt 1 once a lot without sensors was counted, upd, seen, cts, and rdy, the
layout version once the lot is ready), `lb:{id}` hash berth -> packed record, `due:{id}` and
`seen:{id}` sorted sets of berths for settling and silence, `pv:{id}:{day}` passage ids. Global,
read and written by Python only: `lots` the set of lot ids, `ready` the layout version once the
store is complete (its absence, or another layout's value, means rebuild), `rebuild-lock`.

A batch is applied with one script call per hash slot its lots fall in, sent in one pipeline.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from parking_core.clock import local
from parking_core.events import BerthReported, CountsReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.live.base import BerthView, LiveLot, LiveState, LiveStateLost, Outcome, to_dt
from parking_core.lots import LotInfo

_HERE = Path(__file__).parent
_CODES = {"A": Outcome.APPLIED, "P": Outcome.PENDING, "U": Outcome.UNCHANGED, "D": Outcome.DUPLICATE, "S": Outcome.STALE}
_EMPTY_BERTH = "||-1|0||0|0"
_STATUS = {"F": "free", "O": "occupied"}
_LOT_FIELDS = ("free", "total", "known", "upd", "seen", "nb")
LAYOUT = "2"  # 1: one global `due`/`seen`/`ready` and untagged lot keys (before Redis Cluster); data of another layout is rebuilt


def _script(name: str) -> str:
    """A script with the shared helpers in front (lib.lua), so neither repeats them. The `#!lua` line
    makes Redis 7 in cluster mode refuse any key outside the slot of the declared ones."""
    return "#!lua\n" + (_HERE / "lib.lua").read_text() + "\n" + (_HERE / name).read_text()


def _tag(lot_id: str) -> str:
    """The lot id as a hash tag body: no braces inside, so every key of the lot hashes alike."""
    return lot_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


class _LotKeys:
    """One lot's keys and hash slot."""

    __slots__ = ("lb", "lot", "quad", "slot", "tagged")

    def __init__(self, prefix: str, lot_id: str) -> None:
        t = "{" + _tag(lot_id) + "}"
        self.tagged = t
        self.lot, self.lb = f"{prefix}lot:{t}", f"{prefix}lb:{t}"
        self.quad = (self.lot, self.lb, f"{prefix}due:{t}", f"{prefix}seen:{t}")
        self.slot = key_slot(self.lot.encode())


class RedisLiveState(LiveState):
    def __init__(self, client: redis.Redis, *, prefix: str = "parking:") -> None:
        self.r = client
        self.p = prefix
        self._src = {"apply": _script("apply.lua"), "maintain": _script("maintain.lua")}
        self._sha: dict[str, str] = {}
        self._keys: dict[str, _LotKeys] = {}
        self._cluster = isinstance(client, RedisCluster)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "parking:") -> "RedisLiveState":
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix=prefix)

    def keys_of(self, lot_id: str) -> _LotKeys:
        k = self._keys.get(lot_id)
        if k is None:
            k = self._keys[lot_id] = _LotKeys(self.p, lot_id)
        return k

    def configure(self, lots: Iterable[LotInfo], *, ready: bool = True) -> None:
        lots = list(lots)
        p = self.p
        pipe = self.r.pipeline(transaction=False)
        for info in lots:
            pipe.hkeys(self.keys_of(info.id).lb)
        existing = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for info, have in zip(lots, existing):
            L, B, due, seen = self.keys_of(info.id).quad
            pipe.hset(L, mapping={"total": info.total, "sensors": 1 if info.has_sensors else 0, "nb": len(info.berths)})
            for k in ("free", "inside", "known", "upd", "seen", "cts", "cnt"):
                pipe.hsetnx(L, k, 0)
            gone = set(have) - set(info.berths)
            if gone:
                pipe.hdel(B, *gone)
                pipe.zrem(seen, *gone)
                pipe.zrem(due, *gone)
            for b in info.berths:
                pipe.hsetnx(B, b, _EMPTY_BERTH)
            pipe.sadd(f"{p}lots", info.id)
        pipe.execute()
        self._recount([i for i in lots if i.has_sensors], [i for i in lots if not i.has_sensors])
        if ready:
            self.mark_ready()

    def mark_ready(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        for lot_id in self.r.smembers(f"{self.p}lots"):
            pipe.hset(self.keys_of(lot_id).lot, "rdy", LAYOUT)
        pipe.execute()
        self.r.set(f"{self.p}ready", LAYOUT)

    def rebuild_lock(self):
        return self.r.lock(f"{self.p}rebuild-lock", timeout=600, blocking_timeout=900)

    def _recount(self, sensor_lots: list[LotInfo], other_lots: list[LotInfo]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for info in sensor_lots:
            pipe.hvals(self.keys_of(info.id).lb)
        counted = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for info, vals in zip(sensor_lots, counted):
            free = known = 0
            for v in vals:
                state, _, _, stale = v.split("|")[:4]
                if state and stale != "1":
                    known += 1
                    free += state == "F"
            pipe.hset(self.keys_of(info.id).lot, mapping={"free": free, "known": known})
        for info in other_lots:
            pipe.hmget(self.keys_of(info.id).lot, "inside", "total")
        got = pipe.execute()[len(sensor_lots):]
        pipe = self.r.pipeline(transaction=False)
        for info, (inside, total) in zip(other_lots, got):
            pipe.hset(self.keys_of(info.id).lot, "free", max(0, int(total or 0) - int(inside or 0)))
        pipe.execute()

    # -- scripts: one call per hash slot, all in one pipeline ---------------------------
    def _run(self, name: str, calls: list[tuple[list[str], list]]) -> list:
        """Run a script once per (keys, args), pipelined; (re)load it where the server forgot it."""
        for attempt in (0, 1):
            sha = self._sha.get(name)
            if sha is None or attempt:
                sha = self._sha[name] = self.r.script_load(self._src[name])
            try:
                if self._cluster:  # redis-py's cluster pipeline refuses scripts: each call goes to its slot's node
                    out = [self.r.evalsha(sha, len(keys), *keys, *args) for keys, args in calls]
                else:
                    pipe = self.r.pipeline(transaction=False)
                    for keys, args in calls:
                        pipe.evalsha(sha, len(keys), *keys, *args)
                    out = pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                continue
            if any(r == ["LOST"] for r in out):
                raise LiveStateLost("Redis lost the live state")
            return out
        raise AssertionError("unreachable")

    def _by_slot(self, lot_ids: Iterable[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = defaultdict(list)
        for lot_id in dict.fromkeys(lot_ids):
            groups[self.keys_of(lot_id).slot].append(lot_id)
        return groups

    def apply(self, events: Sequence[DeviceEvent], *, settle_s: float, now: float, rebuilding: bool = False) -> list[tuple[Outcome, bool]]:
        if not events:
            return []
        groups: dict[int, list[int]] = defaultdict(list)  # slot -> indexes of its events, in order
        for i, ev in enumerate(events):
            groups[self.keys_of(ev.lot_id).slot].append(i)
        calls, order = [], []
        for idxs in groups.values():
            place: dict[str, int] = {}
            keys: list[str] = []
            for i in idxs:
                lot_id = events[i].lot_id
                if lot_id not in place:
                    place[lot_id] = len(place) + 1
                    keys.extend(self.keys_of(lot_id).quad)
            extra: dict[str, int] = {}
            encoded = [self._encode(events[i], place[events[i].lot_id], keys, extra) for i in idxs]
            args = [settle_s, round(now, 3), orjson.dumps(encoded).decode(), 1 if rebuilding else 0, LAYOUT, len(place)]
            calls.append((keys, args))
            order.append(idxs)
        results: list[tuple[Outcome, bool]] = [None] * len(events)  # type: ignore[list-item]
        for idxs, flat in zip(order, self._run("apply", calls)):
            for n, i in enumerate(idxs):
                results[i] = (_CODES[flat[2 * n]], bool(int(flat[2 * n + 1])))
        return results

    def _encode(self, ev: DeviceEvent, k: int, keys: list[str], extra: dict[str, int]) -> list:
        """An event for apply.lua: kind, its lot's place k in KEYS, the fields, the time last."""
        ts = round(ev.ts.timestamp(), 3)
        if isinstance(ev, BerthReported):
            return ["b", k, ev.berth_id, 1 if ev.occupied else 0, ev.seq, ts]
        if isinstance(ev, PassageReported):
            day_key = f"{self.p}pv:{self.keys_of(ev.lot_id).tagged}:{local(ev.ts).strftime('%Y%m%d')}"
            if day_key not in extra:
                keys.append(day_key)
                extra[day_key] = len(keys)
            return ["p", k, ev.event_id, 1 if ev.direction == "in" else 0, extra[day_key], ts]
        if isinstance(ev, CountsReported):
            return ["c", k, ev.free, ev.total, ts]
        if isinstance(ev, HeartbeatReported):
            return ["h", k, ev.device_id, ts]
        raise TypeError(type(ev))

    def _run_maintain(self, mode: str, t: float) -> set[str]:
        calls = []
        for ids in self._by_slot(sorted(self.r.smembers(f"{self.p}lots"))).values():
            keys = [k for lot_id in ids for k in self.keys_of(lot_id).quad]
            calls.append((keys, [mode, round(t, 3), LAYOUT, *ids]))
        if not calls:
            if not self.is_configured():
                raise LiveStateLost("Redis lost the live state")
            return set()
        return {lot for out in self._run("maintain", calls) for lot in out}

    def promote_due(self, now: float) -> set[str]:
        return self._run_maintain("due", now)

    def sweep_silent(self, cutoff: float) -> set[str]:
        return self._run_maintain("sweep", cutoff)

    @staticmethod
    def _view(vals: list) -> LiveLot | None:
        free, total, known, upd, seen, nb = vals
        if total is None:
            return None
        berths = int(nb or 0)
        return LiveLot(
            free=int(free), total=int(total), known=int(known) > 0, updated_at=to_dt(float(upd)), last_seen=to_dt(float(seen)),
            known_berths=int(known) if berths else 0, berths=berths,
        )

    def lot(self, lot_id: str) -> LiveLot | None:
        return self._view(self.r.hmget(self.keys_of(lot_id).lot, *_LOT_FIELDS))

    def lots(self, lot_ids: Sequence[str]) -> dict[str, LiveLot]:
        pipe = self.r.pipeline(transaction=False)
        for i in lot_ids:
            pipe.hmget(self.keys_of(i).lot, *_LOT_FIELDS)
        out = {}
        for i, vals in zip(lot_ids, pipe.execute()):
            v = self._view(vals)
            if v is not None:
                out[i] = v
        return out

    def berths(self, lot_id: str) -> list[BerthView]:
        out = []
        for k, v in sorted(self.r.hgetall(self.keys_of(lot_id).lb).items()):
            state, since, _, stale = v.split("|")[:4]
            status = "unknown" if stale == "1" or not state else _STATUS[state]
            out.append(BerthView(id=k, status=status, since=to_dt(float(since) if since else None)))
        return out

    def is_configured(self) -> bool:
        return self.r.get(f"{self.p}ready") == LAYOUT

    def clear(self) -> None:
        """Every key under the prefix, of this layout or an older one, but the rebuild lock (held by whoever is clearing)."""
        lock = f"{self.p}rebuild-lock"
        batch: list[str] = []
        for key in self.r.scan_iter(match=f"{self.p}*", count=1000):
            if key != lock:
                batch.append(key)
            if len(batch) >= 1000:
                self._delete(batch)
                batch = []
        self._delete(batch)

    def _delete(self, keys: list[str]) -> None:
        pipe = self.r.pipeline(transaction=False)  # one key a command: keys of many slots
        for key in keys:
            pipe.unlink(key)
        pipe.execute()

    def ping(self) -> bool:
        return bool(self.r.ping())

    def close(self) -> None:
        self.r.close()
