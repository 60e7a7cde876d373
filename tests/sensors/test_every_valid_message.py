"""Every contract-valid message is handled, through the whole chain (live state, event log,
stays, orders), on both backends; every invalid one is rejected with a reason; none stops the ingest."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

PREFIX = "parking/v1"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # make_platform's frozen clock
COLOURS = ("blue", "green", "yellow", "white", "black")
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_counter = itertools.count(1)

offsets = st.sampled_from(["+08:00", "Z", "+00:00", "-05:00", "+05:45"])
when = st.integers(min_value=0, max_value=36 * 3600).map(lambda s: NOW - timedelta(seconds=s))


def stamp(at: datetime, offset: str) -> str:
    if offset == "Z":
        return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    return at.astimezone(timezone(sign * timedelta(hours=hours, minutes=minutes))).isoformat()


plates = st.builds(
    lambda p, letter, rest, sep: f"{p}{sep}{letter}{rest}",
    st.sampled_from(PROVINCES), st.sampled_from("ABCDEFGHJK"), st.text("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=5, max_size=6),
    st.sampled_from(["", " ", "·", "-", "."]),
)


def optional(strategy):
    return st.one_of(st.just(None), strategy)


@st.composite
def berth_message(draw):
    body = {"occupied": draw(st.booleans()), "ts": stamp(draw(when), draw(offsets)), "seq": draw(st.integers(0, 2**40))}
    for key, value in (("battery_mv", optional(st.integers(0, 100_000))), ("rssi", optional(st.integers(-200, 50))),
                       ("plate", optional(plates)), ("firmware", optional(st.text(max_size=8)))):
        v = draw(value)
        if v is not None:
            body[key] = v
    berth = draw(st.sampled_from(["b1", "b2", "b3", "b4"]))
    return f"{PREFIX}/lots/S1/berths/{berth}/state", orjson.dumps(body)


@st.composite
def passage_message(draw):
    body = {"event_id": f"ev-{next(_counter)}" if draw(st.booleans()) else draw(st.sampled_from(["ev-a", "ev-b"])),
            "direction": draw(st.sampled_from(["in", "out"])), "plate": draw(plates), "ts": stamp(draw(when), draw(offsets))}
    colour = draw(optional(st.sampled_from(COLOURS)))
    if colour is not None:
        body["plate_color"] = colour
    confidence = draw(optional(st.floats(0, 1)))
    if confidence is not None:
        body["confidence"] = confidence
    lot = draw(st.sampled_from(["G1", "C1"]))
    return f"{PREFIX}/lots/{lot}/gates/{draw(st.sampled_from(['g1', 'east']))}/passages", orjson.dumps(body)


@st.composite
def counts_message(draw):
    total = draw(st.integers(0, 100_000))
    body = {"free": draw(st.integers(0, total)), "total": total, "ts": stamp(draw(when), draw(offsets))}
    return f"{PREFIX}/lots/{draw(st.sampled_from(['C1', 'G1']))}/counts", orjson.dumps(body)


@st.composite
def heartbeat_message(draw):
    body = {"ts": stamp(draw(when), draw(offsets))}
    battery = draw(optional(st.integers(0, 100_000)))
    if battery is not None:
        body["battery_mv"] = battery
    lot = draw(st.sampled_from(["S1", "G1", "C1"]))
    return f"{PREFIX}/lots/{lot}/devices/{draw(st.sampled_from(['b1', 'cam-1', 'gw']))}/heartbeat", orjson.dumps(body)


valid = st.one_of(berth_message(), passage_message(), counts_message(), heartbeat_message())


@st.composite
def invalid_message(draw):
    """Each kind of mistake: a missing or ill-typed required field, a bad value, bad JSON, a bad topic."""
    topic, payload = draw(valid)
    body = orjson.loads(payload)
    how = draw(st.sampled_from(["drop", "retype", "garbage", "not_object", "bad_topic", "unknown_lot", "naive_ts"]))
    if how == "drop":
        required = ("occupied", "seq", "ts") if "/berths/" in topic else ("ts", "event_id", "direction", "plate", "free", "total")
        body.pop(draw(st.sampled_from(sorted(k for k in body if k in required))))  # a berth's plate is optional: not a mistake
    elif how == "retype":
        key = draw(st.sampled_from(sorted(k for k in body if k != "firmware")))
        body[key] = draw(st.sampled_from([[1], {"x": 1}, "twelve" if not isinstance(body[key], str) else 12]))
    elif how == "garbage":
        return topic, draw(st.binary(max_size=40).filter(lambda b: not _is_json_object(b)))
    elif how == "not_object":
        return topic, orjson.dumps(draw(st.sampled_from([[], 1, "x", None])))
    elif how == "bad_topic":
        return topic.replace("/lots/", "/lot/"), payload
    elif how == "unknown_lot":
        return topic.replace("/lots/", "/lots/NOPE").replace("/lots/NOPE", "/lots/NOPE-", 1), payload
    elif how == "naive_ts":
        body["ts"] = "2026-11-23T01:00:00"
    return topic, orjson.dumps(body)


def _is_json_object(b: bytes) -> bool:
    try:
        return isinstance(orjson.loads(b), dict)
    except orjson.JSONDecodeError:
        return False


def _internal_errors(platform) -> list[str]:
    return [orjson.loads(p)["reason"] for t, p, _ in platform.published if "/rejected/" in t and b"internal error" in p]


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_every_valid_message_is_handled_through_stays_and_orders(make_platform):
    platform = make_platform()
    from sqlalchemy import func, select

    camera_then_unread = [  # the contract's optional plate: a camera berth that read none the second time
        (f"{PREFIX}/lots/S1/berths/b1/state", orjson.dumps({"occupied": True, "seq": 10, "ts": "2026-11-23T09:00:00+08:00", "plate": "苏E12345"})),
        (f"{PREFIX}/lots/S1/berths/b1/state", orjson.dumps({"occupied": True, "seq": 11, "ts": "2026-11-23T09:01:00+08:00"})),
    ]

    @SETTINGS
    @given(st.lists(valid, min_size=1, max_size=25))
    @example(camera_then_unread)
    def run(batch):
        before = platform.pipeline.stats.received
        platform.pipeline.process(batch)
        assert platform.pipeline.stats.received == before + len(batch)
        assert _internal_errors(platform) == []
        assert [t for t, _, _ in platform.published if "/rejected/" in t] == []  # valid is never rejected

    run()
    from parking_core.session_models import ParkingSession

    with platform.uow() as uow:  # the chain really ran: gate passages became stays
        assert uow.session.scalar(select(func.count()).select_from(ParkingSession)) > 0


def test_invalid_messages_are_rejected_with_a_reason_and_never_stop_the_ingest(make_platform):
    platform = make_platform()

    @SETTINGS
    @given(st.lists(st.one_of(valid.map(lambda m: (True, m)), invalid_message().map(lambda m: (False, m))), min_size=1, max_size=25))
    def run(mixed):
        platform.published.clear()
        received = platform.pipeline.stats.received
        platform.pipeline.process([m for _, m in mixed])
        reasons = [orjson.loads(p)["reason"] for t, p, _ in platform.published if "/rejected/" in t]
        assert len(reasons) == sum(1 for ok, _ in mixed if not ok)  # each bad one, and only those
        assert all(r and "internal error" not in r for r in reasons)
        assert platform.pipeline.stats.received == received + len(mixed)

    run()
    assert platform.pipeline.stats.rejected > 0
