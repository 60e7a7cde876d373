"""Live state in Redis: small hashes per lot, the rules run as Lua so workers can share it.

Keys (all under the prefix), laid out for Redis Cluster: every key of one car park carries its hash
tag, `{lot id}` (braces and `%` in an id percent-encoded), so it lives in one slot and a script call
touching one slot's lots can be routed; scripts name every key they touch in KEYS. Per lot:
`lot:{id}` hash of counters (free, inside, known -- berths known, or 0/1 for lots without sensors --,
nb berths with a sensor, cnt 1 once a lot without sensors was counted, upd, seen, cts, and rdy, the
layout version once the lot is ready), `lb:{id}` hash berth -> packed record, `due:{id}` and
`seen:{id}` sorted sets of berths for settling and silence, `pv:{id}:{day}` passage ids. Global,
read and written by Python only: `lots` the set of lot ids, `sensor-lots` those with berth sensors,
`ready` the layout version once the store is complete (its absence, or another layout's value, means
rebuild), `rebuild-lock`.

The ticker's index, so a tick visits only the lots with something to do, not all of them: per group
of lots a script call may span (module text below), `due-lots:{r}` lot tag -> earliest time one of
its berth changes may settle, and `seen-lots:{r}` lot tag -> earliest time one of its berths (or the
lot itself, for a counted lot without sensors) may fall silent. apply.lua lowers a lot's score
whenever it adds to the lot's due/seen set (ZADD LT: a score is never later than the truth);
maintain.lua visits the lots whose score has come, settles them and re-scores each from its own sets
(or drops it). `{r}` is the tag of the group's smallest lot id, so the index lives in the group's
slot, as every key but the global ones carries a car park's tag. When a car park with a smaller id
joins, a process notices when it configures it or within VIEW_S (it rereads `lots`) and moves to the
new index: it folds the old one into it at once, keeps reading the old one for RETIRE_S (a worker
that has not noticed yet still writes there), then folds it again and drops it. A lot too many in an
index costs a visit; one missing would never be settled, so every step errs on the early side.

Script calls are grouped by what one call may span: on Redis Cluster, one hash slot (a call per
slot, sent to the node that holds it); on one Redis, which holds every slot, the whole batch in few
calls, since a call per slot there costs half the apply throughput (bench/bench_live_apply.py
`--per-slot`). Either way a round trip carries at most APPLY_TRIP events: a script blocks every
other client while it runs, and the API's reads should not wait behind a drain's whole batch. The
scripts and keys are the same either way; every process on one store groups alike (the grouping
follows the client: a cluster client groups by slot).
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote

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
# 1: one global `due`/`seen`/`ready` and untagged lot keys (before Redis Cluster); 2: no ticker index (a tick visited every
# lot). Data of another layout is rebuilt, never misread.
LAYOUT = "3"
VIEW_S = 1.0  # how old this process's copy of the lot set (and so of the index keys) may grow
RETIRE_S = 60.0  # how long an index left for a new one is still read, for workers that have not moved yet
# events a round trip to Redis carries: Redis runs a script to its end while every other client waits, so a
# drain's batches go in pieces of ~0.4 ms and an API read waits behind one piece, not behind a 500-event batch
# (~6-8 ms, which made the API's p99 2.6x slower during a drain; bench/bench_serve.py)
APPLY_TRIP = 32


def _script(name: str) -> str:
    """A script with the shared helpers in front (lib.lua), so neither repeats them. The `#!lua` line
    makes Redis 7 in cluster mode refuse any key outside the slot of the declared ones."""
    return "#!lua\n" + (_HERE / "lib.lua").read_text() + "\n" + (_HERE / name).read_text()


def _tag(lot_id: str) -> str:
    """The lot id as a hash tag body: no braces inside, so every key of the lot hashes alike."""
    return lot_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


class _LotKeys:
    """One lot's keys and hash slot."""

    __slots__ = ("lb", "lot", "quad", "slot", "tag", "tagged")

    def __init__(self, prefix: str, lot_id: str) -> None:
        self.tag = _tag(lot_id)
        t = "{" + self.tag + "}"
        self.tagged = t
        self.lot, self.lb = f"{prefix}lot:{t}", f"{prefix}lb:{t}"
        self.quad = (self.lot, self.lb, f"{prefix}due:{t}", f"{prefix}seen:{t}")
        self.slot = key_slot(self.lot.encode())


class RedisLiveState(LiveState):
    def __init__(self, client: redis.Redis | RedisCluster, *, prefix: str = "parking:", per_slot: bool | None = None) -> None:
        self.r = client
        self.p = prefix
        self._src = {"apply": _script("apply.lua"), "maintain": _script("maintain.lua"), "read": _script("read.lua")}
        self._sha: dict[str, str] = {}
        self._keys: dict[str, _LotKeys] = {}
        self._cluster = isinstance(client, RedisCluster)
        self._per_slot = self._cluster if per_slot is None else per_slot  # a cluster needs it; one Redis may
        # this process's copy of `lots`, grouped: group -> the tag naming its index keys
        self._seen_ids: frozenset[str] | None = None
        self._heads: dict[int, str] = {}
        self._retired: dict[int, dict[str, float]] = {}  # group -> earlier head tags still read, since (monotonic)
        self._view_at = float("-inf")
        self._view_lock = threading.RLock()  # the ticker's thread and an operator's configure may look at once
        self.view_s, self.retire_s = VIEW_S, RETIRE_S
        self.last_visited: set[str] = set()  # the lots the last promote_due/sweep_silent looked at (tests, figures)

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
        self._refresh_view(force=True)  # the lots before these: a new car park may move its group's index (see below)
        existing = self._each([i.id for i in lots], lambda pipe, k: pipe.hkeys(k.lb))
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
            (pipe.sadd if info.has_sensors else pipe.srem)(f"{p}sensor-lots", info.id)
        pipe.execute()
        self._recount([i for i in lots if i.has_sensors], [i for i in lots if not i.has_sensors])
        self._refresh_view(force=True)
        if ready:
            self.mark_ready()

    def _each(self, lot_ids: Sequence[str], command: Callable[[redis.client.Pipeline, _LotKeys], object]) -> list:
        """One command a lot, pipelined; the answers in the lots' order."""
        pipe = self.r.pipeline(transaction=False)
        for lot_id in lot_ids:
            command(pipe, self.keys_of(lot_id))
        return pipe.execute()

    def mark_ready(self) -> None:
        self._each(list(self.r.smembers(f"{self.p}lots")), lambda pipe, k: pipe.hset(k.lot, "rdy", LAYOUT))
        self.r.set(f"{self.p}ready", LAYOUT)

    def rebuild_lock(self):
        return self.r.lock(f"{self.p}rebuild-lock", timeout=600, blocking_timeout=900)

    def _recount(self, sensor_lots: list[LotInfo], other_lots: list[LotInfo]) -> None:
        counted = self._each([i.id for i in sensor_lots], lambda pipe, k: pipe.hvals(k.lb))
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

    # -- scripts: one call per group of lots (a hash slot on a cluster), pipelined ------
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

    def _group(self, lot_id: str) -> int:
        """Which script call a lot goes in: its hash slot where calls must keep to one, else the one call."""
        return self.keys_of(lot_id).slot if self._per_slot else 0

    def _by_group(self, lot_ids: Iterable[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = defaultdict(list)
        for lot_id in dict.fromkeys(lot_ids):
            groups[self._group(lot_id)].append(lot_id)
        return groups

    def apply(self, events: Sequence[DeviceEvent], *, settle_s: float, now: float, rebuilding: bool = False) -> list[tuple[Outcome, bool]]:
        if not events:
            return []
        if self._per_slot:
            by_group: dict[int, list[int]] = defaultdict(list)  # group -> indexes of its events, in order
            for i, ev in enumerate(events):
                by_group[self._group(ev.lot_id)].append(i)
            groups: list[Sequence[int]] = list(by_group.values())
        else:
            groups = [range(len(events))]
        self._refresh_view()
        results: list[tuple[Outcome, bool]] = [None] * len(events)  # type: ignore[list-item]
        trips: list[list[Sequence[int]]] = [[]]  # round trips of calls, each carrying at most APPLY_TRIP events
        carried = 0
        for group in groups:
            for start in range(0, len(group), APPLY_TRIP):
                idxs = group[start:start + APPLY_TRIP]
                if carried + len(idxs) > APPLY_TRIP and trips[-1]:
                    trips.append([])
                    carried = 0
                trips[-1].append(idxs)
                carried += len(idxs)
        for trip in trips:
            calls = []
            for idxs in trip:
                keys, encoded = self._encode([events[i] for i in idxs], self._index_keys(self._group(events[idxs[0]].lot_id), events[idxs[0]].lot_id))
                calls.append((keys, [settle_s, round(now, 3), orjson.dumps(encoded).decode(), 1 if rebuilding else 0, LAYOUT]))
            for idxs, flat in zip(trip, self._run("apply", calls)):
                for n, i in enumerate(idxs):
                    results[i] = (_CODES[flat[2 * n]], bool(int(flat[2 * n + 1])))
        return results

    def _encode(self, events: list[DeviceEvent], index: tuple[str, str]) -> tuple[list[str], list[list]]:
        """Events for apply.lua: kind, the places in KEYS of the keys it touches, the fields, the time last;
        and KEYS: the group's two index keys, then each key the events touch once (a lot's berth keys only
        where a berth or device reports)."""
        keys: dict[str, int] = {index[0]: 1, index[1]: 2}
        places: dict[str, tuple[int, ...]] = {}  # lot id -> places of its lot hash (and berth hash, due, seen)
        out = []
        for ev in events:
            cls = type(ev)
            berthy = cls is BerthReported or cls is HeartbeatReported
            ix = places.get(ev.lot_id)
            if ix is None or (berthy and len(ix) == 1):
                k = self.keys_of(ev.lot_id)
                ix = places[ev.lot_id] = tuple([keys.setdefault(key, len(keys) + 1) for key in (k.quad if berthy else k.quad[:1])])
            ts = round(ev.ts.timestamp(), 3)
            if cls is BerthReported:
                out.append(["b", ix[0], ix[1], ix[2], ix[3], ev.berth_id, 1 if ev.occupied else 0, ev.seq, ts])
            elif cls is PassageReported:
                day = f"{self.p}pv:{self.keys_of(ev.lot_id).tagged}:{local(ev.ts).strftime('%Y%m%d')}"
                out.append(["p", ix[0], keys.setdefault(day, len(keys) + 1), ev.event_id, 1 if ev.direction == "in" else 0, ts])
            elif cls is CountsReported:
                out.append(["c", ix[0], ev.free, ev.total, ts])
            elif cls is HeartbeatReported:
                out.append(["h", ix[0], ix[1], ix[3], ev.device_id, ts])
            else:
                raise TypeError(cls)
        return list(keys), out

    # -- the ticker's index ------------------------------------------------------------
    def _index_keys(self, group: int, lot_id: str | None = None, head: str | None = None) -> tuple[str, str]:
        """A group's (due, seen) index keys: named after its smallest lot, so they share its slot."""
        if head is None:
            head = self._heads.get(group)
            if head is None:  # a lot this process has not seen in `lots` yet: look again once
                self._refresh_view(force=True)
                head = self._heads.get(group) or self.keys_of(lot_id).tag
        return f"{self.p}due-lots:{{{head}}}", f"{self.p}seen-lots:{{{head}}}"

    def _refresh_view(self, *, force: bool = False) -> None:
        """Reread `lots` (at most every view_s). When a car park with a smaller id has moved a group's index,
        what the old index holds is folded into the new one at once, and again after retire_s, when the old
        one is dropped; until then it is read along, for workers that have not moved yet and still write it."""
        with self._view_lock:
            self._look(force)

    def _look(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._view_at < self.view_s:
            return
        ids = frozenset(self.r.smembers(f"{self.p}lots"))
        self._view_at = now
        if ids != self._seen_ids:
            self._seen_ids = ids
            heads = {g: self.keys_of(members[0]).tag for g, members in self._by_group(sorted(ids)).items()}
            for g, old in self._heads.items():
                if heads.get(g, old) != old:
                    self._fold(g, heads[g], old, drop=False)
                    self._retired.setdefault(g, {})[old] = now
            for g, head in heads.items():
                self._retired.get(g, {}).pop(head, None)
            self._heads = heads
        for g, olds in list(self._retired.items()):
            for old, since in list(olds.items()):
                if now - since >= self.retire_s:
                    if g in self._heads:
                        self._fold(g, self._heads[g], old, drop=True)
                    del olds[old]
            if not olds:
                del self._retired[g]

    def _fold(self, group: int, head: str, old: str, *, drop: bool) -> None:
        """Move what a group's old index keys hold into its current ones (the earlier time wins); both share a slot."""
        for new_key, old_key in zip(self._index_keys(group, head=head), self._index_keys(group, head=old)):
            self.r.zunionstore(new_key, [new_key, old_key], aggregate="MIN")
            if drop:
                self.r.unlink(old_key)

    def _run_maintain(self, mode: str, t: float) -> set[str]:
        """Read each group's index (and the indexes it is leaving) for lots whose time has come; visit those alone."""
        z = 0 if mode == "due" else 1
        when = round(t, 3)
        upto = repr(when) if mode == "due" else f"({when!r}"  # silent since before the cutoff, as in memory.py
        with self._view_lock:
            self._look(False)
            reads = [(g, [self._index_keys(g, head=head)[z]] + [self._index_keys(g, head=old)[z] for old in self._retired.get(g, ())])
                     for g, head in self._heads.items()]
        pipe = self.r.pipeline(transaction=False)
        pipe.get(f"{self.p}ready")
        for _, index_keys in reads:
            for key in index_keys:
                pipe.zrangebyscore(key, "-inf", upto)
        got = pipe.execute()
        if got[0] != LAYOUT:
            raise LiveStateLost("Redis lost the live state")
        calls, at = [], 1
        for _, index_keys in reads:
            tags = list(dict.fromkeys(tag for found in got[at:at + len(index_keys)] for tag in found))
            at += len(index_keys)
            if tags:
                keys = list(index_keys)
                for tag in tags:
                    k = self.keys_of(unquote(tag))
                    keys += (k.lot, k.lb, k.quad[2 + z])
                calls.append((keys, [mode, when, LAYOUT, len(index_keys) - 1, *tags]))
        self.last_visited = {unquote(tag) for _, args in calls for tag in args[4:]}
        if not calls:
            return set()
        return {unquote(tag) for out in self._run("maintain", calls) for tag in out}

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
        """Every lot's fields through one `read.lua` call per group (one call on one Redis): the hot read path."""
        groups = list(self._by_group(lot_ids).values())
        if not groups:
            return {}
        answers = self._run("read", [([self.keys_of(i).lot for i in ids], list(_LOT_FIELDS)) for ids in groups])
        out = {}
        for ids, rows in zip(groups, answers):
            for i, vals in zip(ids, rows):
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
        with self._view_lock:
            self._seen_ids, self._heads, self._retired, self._view_at = None, {}, {}, float("-inf")
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
