"""Builders for test data: registries, device messages, a platform on any backend."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson

from parking_core.settings import load_settings
from sensors.topics import topics_of

PREFIX = "parking/v1"


def feature(id="L1", *, lon=120.6, lat=31.3, **props) -> dict:
    p = {"id": id, "name": f"Lot {id}", "kind": "off_street", "operator": "op1", "district": "gusu", "total": 10}
    p.update(props)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": p}


def registry(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def city_registry() -> dict:
    """The small city of tests.conftest.small_city as a registry file."""
    return registry(
        feature("S1", name="Renmin Rd", kind="on_street", operator="op1", total=4, berths=["b1", "b2", "b3", "b4"], lat=31.300, lon=120.600),
        feature("G1", name="Mall car park", operator="op2", total=3, lat=31.305, lon=120.605, tariff="suzhou-offstreet"),
        feature("C1", name="Gov centre", operator="op2", district="sip", total=110, lat=31.320, lon=120.700, shared_hours="18:00-08:00"),
    )


def ts(dt: datetime) -> str:
    return dt.isoformat()


def berth_msg(lot, berth, occupied, seq, at: datetime, prefix=PREFIX, **extra) -> tuple[str, bytes]:
    return topics_of(prefix).berth_state(lot, berth), orjson.dumps({"occupied": occupied, "seq": seq, "ts": ts(at), **extra})


def passage_msg(lot, gate, event_id, direction, plate, at: datetime, prefix=PREFIX, **extra) -> tuple[str, bytes]:
    return topics_of(prefix).passages(lot, gate), orjson.dumps({"event_id": event_id, "direction": direction, "plate": plate, "ts": ts(at), **extra})


def counts_msg(lot, free, total, at: datetime, prefix=PREFIX) -> tuple[str, bytes]:
    return topics_of(prefix).counts(lot), orjson.dumps({"free": free, "total": total, "ts": ts(at)})


def heartbeat_msg(lot, device, at: datetime, prefix=PREFIX) -> tuple[str, bytes]:
    return topics_of(prefix).heartbeat(lot, device), orjson.dumps({"ts": ts(at)})


def settings_for(tmp_path, **env):
    """Settings for a test: SQLite in tmp_path unless DATABASE_URL is given."""
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    return load_settings(**env)


class FrozenClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**kw)


UTC = timezone.utc
