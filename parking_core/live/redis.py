"""Live state in Redis: small hashes per lot, the rules run as Lua so workers can share it.

Keys (all under the prefix): `lot:{id}` hash of counters (free, inside, known -- berths known, or
0/1 for lots without sensors --, nb berths with a sensor, cnt 1 once a lot without sensors was
counted, upd, seen, cts), `lb:{id}` hash berth -> packed
record, `due` and `seen` sorted sets for settling and silence, `pv:{lot}:{day}` passage ids,
`lots` the set of lot ids, `ready` the marker whose absence means the data was lost.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
import redis

from parking_core.clock import local
from parking_core.events import BerthReported, CountsReported, DeviceEvent, HeartbeatReported, PassageReported
from parking_core.live.base import BerthView, LiveLot, LiveState, LiveStateLost, Outcome, to_dt
from parking_core.lots import LotInfo

_HERE = Path(__file__).parent
_CODES = {"A": Outcome.APPLIED, "P": Outcome.PENDING, "U": Outcome.UNCHANGED, "D": Outcome.DUPLICATE, "S": Outcome.STALE}
_EMPTY_BERTH = "||-1|0||0|0"
_STATUS = {"F": "free", "O": "occupied"}
_LOT_FIELDS = ("free", "total", "known", "upd", "seen", "nb")


def _encode(ev: DeviceEvent) -> list:
    ts = round(ev.ts.timestamp(), 3)
    if isinstance(ev, BerthReported):
        return ["b", ev.lot_id, ev.berth_id, 1 if ev.occupied else 0, ev.seq, ts]
    if isinstance(ev, PassageReported):
        return ["p", ev.lot_id, ev.event_id, 1 if ev.direction == "in" else 0, local(ev.ts).strftime("%Y%m%d"), ts]
    if isinstance(ev, CountsReported):
        return ["c", ev.lot_id, ev.free, ev.total, ts]
    if isinstance(ev, HeartbeatReported):
        return ["h", ev.lot_id, ev.device_id, ts]
    raise TypeError(type(ev))


class RedisLiveState(LiveState):
    def __init__(self, client: redis.Redis, *, prefix: str = "parking:") -> None:
        self.r = client
        self.p = prefix
        self._apply = client.register_script((_HERE / "apply.lua").read_text())
        self._maintain = client.register_script((_HERE / "maintain.lua").read_text())

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "parking:") -> "RedisLiveState":
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix=prefix)

    def configure(self, lots: Iterable[LotInfo], *, ready: bool = True) -> None:
        lots = list(lots)
        p = self.p
        pipe = self.r.pipeline(transaction=False)
        for info in lots:
            pipe.hkeys(f"{p}lb:{info.id}")
        existing = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for info, have in zip(lots, existing):
            L = f"{p}lot:{info.id}"
            pipe.hset(L, mapping={"total": info.total, "sensors": 1 if info.has_sensors else 0, "nb": len(info.berths)})
            for k in ("free", "inside", "known", "upd", "seen", "cts", "cnt"):
                pipe.hsetnx(L, k, 0)
            gone = set(have) - set(info.berths)
            if gone:
                pipe.hdel(f"{p}lb:{info.id}", *gone)
                pipe.zrem(f"{p}seen", *[f"{info.id}\x1f{b}" for b in gone])
            for b in info.berths:
                pipe.hsetnx(f"{p}lb:{info.id}", b, _EMPTY_BERTH)
            pipe.sadd(f"{p}lots", info.id)
        pipe.execute()
        self._recount([i for i in lots if i.has_sensors], [i for i in lots if not i.has_sensors])
        if ready:
            self.mark_ready()

    def mark_ready(self) -> None:
        self.r.set(f"{self.p}ready", 1)

    def rebuild_lock(self):
        return self.r.lock(f"{self.p}rebuild-lock", timeout=600, blocking_timeout=900)

    def _recount(self, sensor_lots: list[LotInfo], other_lots: list[LotInfo]) -> None:
        p = self.p
        pipe = self.r.pipeline(transaction=False)
        for info in sensor_lots:
            pipe.hvals(f"{p}lb:{info.id}")
        for info, vals in zip(sensor_lots, pipe.execute()):
            free = known = 0
            for v in vals:
                state, _, _, stale = v.split("|")[:4]
                if state and stale != "1":
                    known += 1
                    free += state == "F"
            self.r.hset(f"{p}lot:{info.id}", mapping={"free": free, "known": known})
        pipe = self.r.pipeline(transaction=False)
        for info in other_lots:
            pipe.hmget(f"{p}lot:{info.id}", "inside", "total")
        for info, (inside, total) in zip(other_lots, pipe.execute()):
            self.r.hset(f"{p}lot:{info.id}", "free", max(0, int(total or 0) - int(inside or 0)))

    def apply(self, events: Sequence[DeviceEvent], *, settle_s: float, now: float, rebuilding: bool = False) -> list[tuple[Outcome, bool]]:
        if not events:
            return []
        payload = orjson.dumps([_encode(e) for e in events]).decode()
        flat = self._apply(args=[self.p, settle_s, round(now, 3), payload, 1 if rebuilding else 0])
        if flat == ["LOST"]:
            raise LiveStateLost("Redis lost the live state")
        return [(_CODES[flat[i]], bool(int(flat[i + 1]))) for i in range(0, len(flat), 2)]

    def _run_maintain(self, mode: str, t: float) -> set[str]:
        out = self._maintain(args=[self.p, mode, round(t, 3)])
        if out == ["LOST"]:
            raise LiveStateLost("Redis lost the live state")
        return set(out)

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
        return self._view(self.r.hmget(f"{self.p}lot:{lot_id}", *_LOT_FIELDS))

    def lots(self, lot_ids: Sequence[str]) -> dict[str, LiveLot]:
        pipe = self.r.pipeline(transaction=False)
        for i in lot_ids:
            pipe.hmget(f"{self.p}lot:{i}", *_LOT_FIELDS)
        out = {}
        for i, vals in zip(lot_ids, pipe.execute()):
            v = self._view(vals)
            if v is not None:
                out[i] = v
        return out

    def berths(self, lot_id: str) -> list[BerthView]:
        out = []
        for k, v in sorted(self.r.hgetall(f"{self.p}lb:{lot_id}").items()):
            state, since, _, stale = v.split("|")[:4]
            status = "unknown" if stale == "1" or not state else _STATUS[state]
            out.append(BerthView(id=k, status=status, since=to_dt(float(since) if since else None)))
        return out

    def is_configured(self) -> bool:
        return bool(self.r.exists(f"{self.p}ready"))

    def clear(self) -> None:
        cursor = 0
        while True:
            cursor, keys = self.r.scan(cursor, match=f"{self.p}*", count=1000)
            keys = [k for k in keys if k != f"{self.p}rebuild-lock"]  # held by whoever is clearing
            if keys:
                self.r.delete(*keys)
            if cursor == 0:
                break

    def ping(self) -> bool:
        return bool(self.r.ping())

    def close(self) -> None:
        self.r.close()
