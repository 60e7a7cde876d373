"""Contract section 2 payloads: strict validation, specific reasons, never an exception."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking_core.events import BerthReported, CountsReported, HeartbeatReported, PassageReported
from sensors.messages import Rejection, parse_message
from tests.factories import PREFIX, berth_msg, counts_msg, heartbeat_msg, passage_msg

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
AT = NOW - timedelta(minutes=1)


def parse(topic_payload):
    return parse_message(*topic_payload, PREFIX, now=NOW)


def test_berth_state_becomes_an_event():
    ev = parse(berth_msg("L1", "b7", True, 42, AT, battery_mv=3600, rssi=-90, plate="苏e·12345", extra="ignored"))
    assert ev == BerthReported(lot_id="L1", berth_id="b7", occupied=True, seq=42, ts=AT, battery_mv=3600, rssi=-90, plate="苏E12345")


def test_passage_plate_is_normalised():
    ev = parse(passage_msg("L1", "g1", "e-1", "in", " 苏e-a 12.34 ", AT, plate_color="blue", confidence=0.93))
    assert isinstance(ev, PassageReported)
    assert (ev.plate, ev.direction, ev.plate_color, ev.confidence) == ("苏EA1234", "in", "blue", 0.93)


def test_counts_and_heartbeat():
    assert parse(counts_msg("L1", 3, 10, AT)) == CountsReported(lot_id="L1", free=3, total=10, ts=AT)
    assert parse(heartbeat_msg("L1", "cam-1", AT)) == HeartbeatReported(lot_id="L1", device_id="cam-1", ts=AT)


def test_timestamps_keep_their_offset_as_the_same_instant():
    topic, _ = berth_msg("L1", "b1", True, 1, AT)
    ev = parse((topic, b'{"occupied": true, "seq": 1, "ts": "2026-11-23T17:59:00+08:00"}'))
    assert ev.ts == AT


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"seq": 1, "ts": AT.isoformat()}, "field 'occupied' is required"),
        ({"occupied": "yes", "seq": 1, "ts": AT.isoformat()}, "field 'occupied'"),
        ({"occupied": 1, "seq": 1, "ts": AT.isoformat()}, "field 'occupied'"),
        ({"occupied": True, "seq": "1", "ts": AT.isoformat()}, "field 'seq'"),
        ({"occupied": True, "seq": 1.5, "ts": AT.isoformat()}, "field 'seq'"),
        ({"occupied": True, "seq": -1, "ts": AT.isoformat()}, "field 'seq'"),
        ({"occupied": True, "seq": 1, "ts": "2026-11-23T10:00:00"}, "field 'ts'"),
        ({"occupied": True, "seq": 1, "ts": "yesterday"}, "field 'ts'"),
        ({"occupied": True, "seq": 1, "ts": (NOW + timedelta(hours=2)).isoformat()}, "in the future"),
        ({"occupied": True, "seq": 1, "ts": AT.isoformat(), "battery_mv": -3}, "field 'battery_mv'"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_berth_payloads_name_the_field(payload, reason):
    topic, _ = berth_msg("L1", "b1", True, 1, AT)
    got = parse((topic, orjson.dumps(payload)))
    assert isinstance(got, Rejection)
    assert reason in got.reason
    assert got.lot_id == "L1"


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        (f"{PREFIX}/lots/L1/gates/g1/passages", {"event_id": "e", "direction": "sideways", "plate": "苏E1", "ts": AT.isoformat()}, "field 'direction'"),
        (f"{PREFIX}/lots/L1/gates/g1/passages", {"event_id": "e", "direction": "in", "plate": "--", "ts": AT.isoformat()}, "field 'plate'"),
        (f"{PREFIX}/lots/L1/gates/g1/passages", {"event_id": "e", "direction": "in", "plate": "苏E1", "ts": AT.isoformat(), "confidence": 1.5}, "field 'confidence'"),
        (f"{PREFIX}/lots/L1/gates/g1/passages", {"event_id": "e", "direction": "in", "plate": "苏E1", "ts": AT.isoformat(), "plate_color": "red"}, "field 'plate_color'"),
        (f"{PREFIX}/lots/L1/counts", {"free": 11, "total": 10, "ts": AT.isoformat()}, "field 'free'"),
        (f"{PREFIX}/lots/L1/counts", {"free": 1, "ts": AT.isoformat()}, "field 'total' is required"),
        (f"{PREFIX}/lots/L1/berths/b1/status", {}, "not a device topic"),
        ("other/lots/L1/counts", {}, "is not under parking/v1/lots"),
    ],
)
def test_other_bad_messages_name_what_was_wrong(topic, payload, reason):
    got = parse((topic, orjson.dumps(payload)))
    assert isinstance(got, Rejection) and reason in got.reason, got


def test_not_json_and_too_large():
    topic, _ = counts_msg("L1", 1, 2, AT)
    assert "not valid JSON" in parse((topic, b"{oops")).reason
    assert "not valid JSON" in parse((topic, b"\xff\xfe\x00")).reason
    assert "byte limit" in parse((topic, b" " * 70_000)).reason


@settings(max_examples=300, deadline=None)
@given(topic=st.text(max_size=80), payload=st.binary(max_size=300))
def test_arbitrary_input_never_raises(topic, payload):
    got = parse_message(topic, payload, PREFIX, now=NOW)
    assert isinstance(got, (Rejection, BerthReported, PassageReported, CountsReported, HeartbeatReported))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.sampled_from(["occupied", "seq", "ts", "battery_mv", "rssi", "plate", "x"]), json_values, max_size=6))
def test_structured_junk_is_rejected_or_fully_valid(payload):
    topic, _ = berth_msg("L1", "b1", True, 1, AT)
    got = parse((topic, json.dumps(payload).encode()))
    if isinstance(got, BerthReported):
        assert isinstance(payload["occupied"], bool) and isinstance(payload["seq"], int) and payload["seq"] >= 0
    else:
        assert got.reason and ("field" in got.reason or "JSON" in got.reason)


@settings(max_examples=200, deadline=None)
@given(occupied=st.booleans(), seq=st.integers(0, 2**53), minutes=st.integers(0, 60 * 24 * 365), offset_h=st.integers(-12, 14))
def test_valid_berth_messages_round_trip(occupied, seq, minutes, offset_h):
    at = (NOW - timedelta(minutes=minutes)).astimezone(timezone(timedelta(hours=offset_h)))
    ev = parse(berth_msg("L1", "b1", occupied, seq, at))
    assert isinstance(ev, BerthReported)
    assert (ev.occupied, ev.seq, ev.ts) == (occupied, seq, at)
