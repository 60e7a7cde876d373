"""Every message the simulator makes is one the platform accepts, unless it was made to be bad."""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import orjson
import pytest

from parking_core.clock import SHANGHAI
from parking_core.events import BerthReported, PassageReported
from parking_core.plates import plate_distance
from parking_core.registry import parse_registry
from sensors.messages import Rejection, parse_message
from sensors.simulator import Simulator, generate_city, target_occupancy

PREFIX = "parking/v1"


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-23T{hhmm}:00").replace(tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def city():
    return generate_city(300, seed=3)


@pytest.fixture(scope="module")
def lots(city):
    return {lot.id: lot for lot in parse_registry(city)}


def run(city, start: datetime, n: int = 20_000, rate: float | None = 2_000, **kw):
    out: list[tuple[str, bytes]] = []
    sim = Simulator(city, lambda t, p: out.append((t, p)), clock=lambda: start, **kw)
    if rate:
        sim.tune(rate)
    sim.emit(n)
    end = datetime.fromtimestamp(sim.t, tz=SHANGHAI) + timedelta(seconds=10)
    return sim, out, end


def accepted(city, lots, msgs, now):
    events, rejected = [], 0
    for topic, payload in msgs:
        ev = parse_message(topic, payload, PREFIX, now=now)
        if isinstance(ev, Rejection) or ev.lot_id not in lots or (isinstance(ev, BerthReported) and ev.berth_id not in lots[ev.lot_id].berths):
            rejected += 1
        else:
            events.append(ev)
    return events, rejected


def test_every_message_is_accepted_and_names_a_real_lot_and_berth(city, lots):
    sim, msgs, end = run(city, at("10:00"))
    assert len(msgs) >= 20_000
    events, rejected = accepted(city, lots, msgs, end)
    assert rejected == 0
    kinds = Counter(e.kind for e in events)
    assert set(kinds) == {"berth", "heartbeat", "passage", "counts"}
    for e in events:
        assert e.ts.utcoffset() == timedelta(hours=8) and at("10:00") <= e.ts <= end


def test_bad_messages_are_rejected_and_only_they(city, lots):
    sim, msgs, end = run(city, at("10:00"), n=10_000, bad_fraction=0.2)
    _, rejected = accepted(city, lots, msgs, end)
    assert 1_500 < sim.counts["bad"] < 2_500
    assert rejected == sim.counts["bad"]


def test_seq_increases_per_berth_apart_from_duplicates(city):
    sim, msgs, _ = run(city, at("10:00"), late_rate=0.0, dup_rate=0.02)
    last: dict[str, tuple[int, bytes]] = {}
    repeats = 0
    for topic, payload in msgs:
        if not topic.endswith("/state"):
            continue
        seq = orjson.loads(payload)["seq"]
        if topic in last and seq <= last[topic][0]:
            assert payload == last[topic][1], "only an exact repeat may reuse a seq"
            repeats += 1
        last[topic] = (seq, payload)
    assert 0 < repeats <= sim.counts["duplicate"]


def test_late_messages_arrive_out_of_order_but_few(city):
    sim, msgs, _ = run(city, at("10:00"), late_rate=0.02, dup_rate=0.0)
    last: dict[str, int] = {}
    backwards = 0
    for topic, payload in msgs:
        if topic.endswith("/state"):
            seq = orjson.loads(payload)["seq"]
            backwards += topic in last and seq < last[topic]
            last[topic] = max(seq, last.get(topic, 0))
    assert sim.counts["late"] > 100
    assert backwards <= sim.counts["late"]


def test_flapping_berths_report_occupied_free_occupied_within_seconds(city):
    sim, msgs, _ = run(city, at("10:00"), flap_rate=0.5)
    assert sim.counts["flaps"] > 100
    by_topic = defaultdict(list)
    for topic, payload in msgs:
        if topic.endswith("/state"):
            m = orjson.loads(payload)
            by_topic[topic].append((m["occupied"], datetime.fromisoformat(m["ts"])))
    flaps = 0
    for seq in by_topic.values():
        for a, b, c in zip(seq, seq[1:], seq[2:]):
            if (a[0], b[0], c[0]) == (True, False, True) and (c[1] - a[1]).total_seconds() <= 5:
                flaps += 1
    assert flaps >= sim.counts["flaps"] * 0.9


def test_passages_out_only_for_plates_that_came_in(city, lots):
    small = [f for f in city["features"] if f["properties"]["kind"] == "off_street" and f["properties"]["total"] <= 80]
    gated = {"type": "FeatureCollection", "features": [f for f in small if "reports" not in f["properties"]][:20]}
    sim, msgs, end = run(gated, at("12:00"), n=30_000, rate=5_000)
    events, rejected = accepted(gated, lots, msgs, end)
    assert rejected == 0
    inside: dict[str, Counter] = defaultdict(Counter)
    ids: dict[str, set] = defaultdict(set)
    outs = misread = 0
    for e in events:
        if not isinstance(e, PassageReported):
            continue
        if e.event_id in ids[e.lot_id]:
            continue  # a deliberate duplicate
        ids[e.lot_id].add(e.event_id)
        if e.direction == "in":
            inside[e.lot_id][e.plate] += 1
        else:
            plate = e.plate
            if inside[e.lot_id][plate] <= 0:  # a misread exit: one character off a car inside
                near = [p for p, n in inside[e.lot_id].items() if n > 0 and plate_distance(p, plate) == 1]
                assert near, f"{e.plate} left {e.lot_id} without entering"
                plate, misread = near[0], misread + 1
            inside[e.lot_id][plate] -= 1
            outs += 1
    assert outs > 50
    assert 0 < misread <= sim.counts["misreads"]


def test_plates_look_like_plates(city, lots):
    _, msgs, end = run(city, at("10:00"), n=10_000, rate=5_000)
    colours = Counter()
    for topic, payload in msgs:
        if topic.endswith("/passages"):
            m = orjson.loads(payload)
            colours[m["plate_color"]] += 1
            assert m["plate"][0] in "苏沪浙皖京" and len(m["plate"]) == (8 if m["plate_color"] == "green" else 7)
            assert 0 <= m["confidence"] <= 1
    assert 0.1 < colours["green"] / sum(colours.values()) < 0.3


def _share_occupied(city, start: datetime, usage: str) -> float:
    """Occupied share of a kind of street berth after ten simulated minutes at natural rates."""
    usage_of = {f["properties"]["id"]: f["properties"]["usage"] for f in city["features"]}
    out: list[tuple[str, bytes]] = []
    sim = Simulator(city, lambda t, p: out.append((t, p)), clock=lambda: start)
    sim.advance(600)
    state = {}
    for topic, payload in out:
        if topic.endswith("/state") and usage_of[topic.split("/")[3]] == usage:
            state[topic] = orjson.loads(payload)["occupied"]
    return sum(state.values()) / len(state)


def test_commercial_streets_are_empty_at_night_and_busy_mid_morning(city):
    night, morning = _share_occupied(city, at("03:00"), "commercial"), _share_occupied(city, at("10:00"), "commercial")
    assert night < 0.2 < 0.6 < morning
    assert _share_occupied(city, at("03:00"), "residential") > 0.8


def test_rhythm_has_two_peaks_for_shops_and_one_dip_for_homes():
    def p(usage, hhmm):
        return target_occupancy(usage, at(hhmm).timestamp())

    assert p("commercial", "03:00") < p("commercial", "11:00") and p("commercial", "14:30") < p("commercial", "19:30")
    assert p("residential", "11:00") < p("residential", "22:00")
    assert p("office", "10:00") > 0.8 > 0.2 > p("office", "22:00")


def test_heartbeats_every_few_minutes_and_gates_every_30_s(city):
    out: list[tuple[str, bytes]] = []
    sim = Simulator(city, lambda t, p: out.append((t, p)), clock=lambda: at("10:00"), dup_rate=0, late_rate=0)
    sim.advance(900)
    per_device = Counter(t for t, _ in out if t.endswith("/heartbeat") or "/berths/" in t)
    gate = [n for t, n in per_device.items() if "/devices/G" in t]
    berth = [per_device[t.replace("/berths/", "/devices/").replace("/state", "/heartbeat")] + n for t, n in per_device.items() if t.endswith("/state")]
    assert min(gate) >= 28 and max(gate) <= 32  # 900 s / 30 s
    assert 2 <= sorted(berth)[len(berth) // 2] <= 5  # 900 s / 300 s, plus changes


def test_thinning_below_the_natural_rate_drops_heartbeats_first(city):
    sim = Simulator(city, lambda t, p: None, clock=lambda: at("10:00"))
    nat = sim.natural_rate
    beats = sim.natural["berth_heartbeat"] + sim.natural["gate_heartbeat"]
    sim.tune(nat - beats * 0.2)
    assert sim.scale["state"] == 1.0 and sim.scale["berth_heartbeat"] == pytest.approx(0.8)
    for want in (nat * 0.3, nat * 0.05, nat * 4):
        sim.tune(want)
        assert sim.rate() == pytest.approx(want)
    sim.tune(beats * 0.5 + (nat - beats) * 0.5)
    assert sim.scale["state"] == pytest.approx(0.5)
    assert sim.scale["berth_heartbeat"] * 600 >= sim.heartbeat_s - 1e-9  # every berth still heard every 10 minutes


def test_same_seed_same_traffic(city):
    assert run(city, at("10:00"), n=3_000)[1] == run(city, at("10:00"), n=3_000)[1]
    assert run(city, at("10:00"), n=3_000)[1] != run(city, at("10:00"), n=3_000, seed=2)[1]


def test_generating_is_fast():
    import time

    big = generate_city(3300)
    sim = Simulator(big, lambda t, p: None, clock=lambda: at("10:00"))
    sim.tune(5_000)
    t = time.perf_counter()
    n = sim.emit(100_000)
    rate = n / (time.perf_counter() - t)
    assert rate > 25_000, f"{rate:.0f} messages/s"  # >50k on an idle core; slack for a busy CI machine


def test_run_simulation_publishes_over_mqtt_at_the_rate(city):
    import paho.mqtt.client as mqtt

    from sensors.broker import EmbeddedBroker
    from sensors.mqtt import MqttTarget
    from sensors.simulator import run_simulation

    broker = EmbeddedBroker().start()
    try:
        target = MqttTarget.from_url(broker.url, v5=False)
        got, ready = Counter(), threading.Event()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sim-test-sub", protocol=mqtt.MQTTv311)
        sub.username_pw_set(broker.USER, broker.password)
        sub.on_connect = lambda c, *a: c.subscribe(f"{PREFIX}/#", qos=1)
        sub.on_subscribe = lambda *a: ready.set()
        sub.on_message = lambda c, u, m: got.update([m.topic.split("/")[-1]])
        sub.connect(broker.host, broker.port)
        sub.loop_start()
        assert ready.wait(10)
        counts = run_simulation(target, city, rate=400, duration_s=2.0, prefix=PREFIX, seed=1, progress=False)
        assert 600 <= counts["published"] <= 1000 and counts["acked"] == counts["published"]
        deadline = datetime.now() + timedelta(seconds=10)
        while sum(got.values()) < counts["published"] and datetime.now() < deadline:
            threading.Event().wait(0.05)
        assert sum(got.values()) == counts["published"]
        sub.disconnect()
        sub.loop_stop()
    finally:
        broker.stop()
