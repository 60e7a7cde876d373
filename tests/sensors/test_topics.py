"""Every topic is built and parsed by sensors/topics.py: what is built parses back, anything else is refused with a reason."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.topics import Topic, TopicRefused, Topics, shared

PREFIXES = st.sampled_from(["parking/v1", "city/a/b", "p"])
IDS = st.text(st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs",)), min_size=1, max_size=20)
LOT_BUILDERS = {"counts": "counts", "availability": "availability", "arrears": "arrears"}
ITEM_BUILDERS = {"berth_state": "berth_state", "passage": "passages", "heartbeat": "heartbeat"}


@settings(max_examples=300, deadline=None)
@given(prefix=PREFIXES, lot=IDS, item=IDS, kind=st.sampled_from(sorted(ITEM_BUILDERS)))
def test_item_topics_round_trip(prefix, lot, item, kind):
    t = Topics(prefix)
    topic = getattr(t, ITEM_BUILDERS[kind])(lot, item)
    assert t.parse(topic) == Topic(kind, lot, item)
    assert t.lot_of(topic) == lot


@settings(max_examples=200, deadline=None)
@given(prefix=PREFIXES, lot=IDS, kind=st.sampled_from(sorted(LOT_BUILDERS)))
def test_lot_topics_round_trip(prefix, lot, kind):
    t = Topics(prefix)
    topic = getattr(t, LOT_BUILDERS[kind])(lot)
    assert t.parse(topic) == Topic(kind, lot)
    assert (t.parse_availability(topic) == lot) is (kind == "availability")


@settings(max_examples=100, deadline=None)
@given(prefix=PREFIXES, lot=IDS, sign=IDS)
def test_platform_topics_round_trip(prefix, lot, sign):
    t = Topics(prefix)
    assert t.parse(t.rejected(lot)) == Topic("rejected", None if lot == "_" else lot)
    assert t.parse(t.rejected(None)) == Topic("rejected", None)
    assert t.parse(t.sign(sign)) == Topic("sign", None, sign)


def test_the_contracts_topics_are_spelled_as_written():
    t = Topics("parking/v1")
    assert t.berth_state("L1", "b7") == "parking/v1/lots/L1/berths/b7/state"
    assert t.passages("L1", "g1") == "parking/v1/lots/L1/gates/g1/passages"
    assert t.counts("L1") == "parking/v1/lots/L1/counts"
    assert t.heartbeat("L1", "cam") == "parking/v1/lots/L1/devices/cam/heartbeat"
    assert t.availability("L1") == "parking/v1/lots/L1/availability"
    assert t.rejected(None) == "parking/v1/rejected/_"
    assert t.device_filters("parking") == [
        "$share/parking/parking/v1/lots/+/counts", "$share/parking/parking/v1/lots/+/+/+", "$share/parking/parking/v1/lots/+/+/+/+",
    ]
    assert t.availability_filter() == "parking/v1/lots/+/availability"


@pytest.mark.parametrize(
    "topic, reason",
    [
        ("other/v1/lots/L1/counts", "is not under parking/v1/lots/{lot_id}/"),
        ("parking/v1/lots//counts", "is not under"),
        ("parking/v1/lots/L+/counts", "is not under"),
        ("parking/v1/lots/L1/berths/b1/status", "not a device topic"),
        ("parking/v1/lots/L1/berths//state", "not a device topic"),
        ("parking/v1/lots/L1/berths/b1/state/extra", "not a device topic"),
        ("parking/v1/lots/L1/gates/g1", "not a device topic"),
        ("parking/v1/lots/L1", "not a device topic"),
        ("parking/v1/signs/a/b", "is not under"),
        ("parking/v1", "is not under"),
    ],
)
def test_foreign_and_malformed_topics_are_refused_with_a_reason(topic, reason):
    got = Topics("parking/v1").parse(topic)
    assert isinstance(got, TopicRefused) and reason in got.reason and topic in got.reason


@settings(max_examples=300, deadline=None)
@given(prefix=PREFIXES, levels=st.lists(st.text(max_size=8), min_size=0, max_size=7))
def test_anything_else_is_refused_never_misread(prefix, levels):
    t = Topics(prefix)
    topic = "/".join(levels)
    got = t.parse(topic)
    if isinstance(got, TopicRefused):
        assert got.reason
        return
    # whatever parses must be rebuilt to the very same topic
    rebuilt = {
        "berth_state": lambda: t.berth_state(got.lot_id, got.item_id), "passage": lambda: t.passages(got.lot_id, got.item_id),
        "heartbeat": lambda: t.heartbeat(got.lot_id, got.item_id), "counts": lambda: t.counts(got.lot_id),
        "availability": lambda: t.availability(got.lot_id), "arrears": lambda: t.arrears(got.lot_id),
        "rejected": lambda: t.rejected(got.lot_id), "sign": lambda: t.sign(got.item_id),
    }[got.kind]()
    assert rebuilt == topic


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "x\x00"])
def test_ids_that_would_make_another_topic_are_refused_naming_them(bad):
    with pytest.raises(ValueError, match="lot id"):
        Topics("parking/v1").counts(bad)
    with pytest.raises(ValueError, match="berth id"):
        Topics("parking/v1").berth_state("L1", bad)


def test_shared_subscription_needs_a_clean_group():
    assert shared("a/b", None) == "a/b"
    with pytest.raises(ValueError, match="shared group"):
        shared("a/b", "g/h")


def test_a_car_parks_devices_are_confined_to_its_own_topics():
    """The broker's ACL for one lot: its device topics match what its devices send, never another lot's."""
    from paho.mqtt.client import topic_matches_sub

    t = Topics("parking/v1")
    mine = t.device_filters_of("L1")
    assert any(topic_matches_sub(f, t.berth_state("L1", "b9")) for f in mine)
    assert any(topic_matches_sub(f, t.heartbeat("L1", "cam")) for f in mine)
    assert not any(topic_matches_sub(f, t.berth_state("L2", "b9")) for f in mine)
    assert not any(topic_matches_sub(f, t.availability("L1")) for f in mine)  # the platform's output, not a device's
    assert t.replies_of("L1") == ["parking/v1/lots/L1/arrears", "parking/v1/lots/L1/availability"]
