"""End to end over a real broker: devices publish, the platform applies, retains, dead-letters,
and nothing is lost across a stop or a killed worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, func, select, text

from gateways.bootstrap import Platform
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.models import OccupancyEvent
from parking_core.settings import load_settings
from sensors.broker import free_port
from sensors.mqtt import MqttTarget, connect, make_client
from tests.factories import berth_msg, city_registry, feature, passage_msg, registry


def wait_for(pred, timeout=15.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(every)
    return pred()


class Listener:
    """A subscriber that records what the platform publishes."""

    def __init__(self, target: MqttTarget, topics: list[str]):
        self.got: dict[str, list] = {}
        self.client = make_client(target)
        self.client.on_message = lambda c, u, m: self.got.setdefault(m.topic, []).append(orjson.loads(m.payload))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        connect(self.client, target)
        self.client.loop_start()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def publisher(target: MqttTarget):
    client = make_client(target, f"dev-{uuid.uuid4().hex[:6]}")
    connect(client, target)
    client.loop_start()
    return client


@pytest.fixture(params=["embedded", "mosquitto"])
def running(request, tmp_path, topic_prefix):
    """A platform with its MQTT ingest running, on the embedded broker or on Mosquitto."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}", "PARKING_TOPIC_PREFIX": topic_prefix, "PARKING_MQTT_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}"}
    if request.param == "mosquitto":
        env["MQTT_URL"] = request.getfixturevalue("mqtt_url")
    platforms = []

    def start():
        p = Platform(load_settings(**env))
        upgrade(p.engine)
        import_registry(p, city_registry())
        p.start()
        assert p.ingest.subscribed.wait(10)
        time.sleep(0.3)
        platforms.append(p)
        return p

    yield start, env
    for p in platforms:
        p.stop()


def test_messages_flow_to_live_state_retained_availability_and_dead_letters(running):
    start, env = running
    p = start()
    prefix = env["PARKING_TOPIC_PREFIX"]
    listener = Listener(p.mqtt_target, [f"{prefix}/lots/+/availability", f"{prefix}/rejected/#"])
    dev = publisher(p.mqtt_target)
    now = datetime.now(timezone.utc)
    for topic, payload in [berth_msg("S1", "b1", False, 1, now, prefix), berth_msg("S1", "b2", False, 1, now, prefix), berth_msg("S1", "b2", False, 1, now, prefix),
                           (f"{prefix}/lots/S1/berths/b3/state", b'{"occupied": true}'), berth_msg("XX", "b1", True, 1, now, prefix)]:
        dev.publish(topic, payload, qos=1)
    assert wait_for(lambda: p.live.lot("S1").free == 2 and p.pipeline.stats.rejected == 2)
    assert wait_for(lambda: len(listener.got.get(f"{prefix}/rejected/S1", [])) == 1 and f"{prefix}/rejected/_" in listener.got)
    assert listener.got[f"{prefix}/rejected/S1"][0]["reason"] == "field 'ts' is required; field 'seq' is required"
    assert listener.got[f"{prefix}/rejected/_"][0]["reason"] == "unknown lot 'XX'"
    assert p.pipeline.stats.as_dict()["duplicates"] == 1
    listener.close()
    # a late subscriber gets the retained availability
    late = Listener(p.mqtt_target, [f"{prefix}/lots/S1/availability"])
    assert wait_for(lambda: late.got.get(f"{prefix}/lots/S1/availability"))
    assert late.got[f"{prefix}/lots/S1/availability"][-1]["free"] == 2
    late.close()
    dev.disconnect()


def test_messages_sent_while_the_platform_is_stopped_are_applied_at_start(running):
    start, env = running
    p = start()
    target = p.mqtt_target
    if p.broker is not None:
        pytest.skip("the embedded broker lives and dies with the platform")
    p.stop()
    prefix = env["PARKING_TOPIC_PREFIX"]
    dev = publisher(target)
    now = datetime.now(timezone.utc)
    infos = [dev.publish(*passage_msg("G1", "g1", f"off-{i}", "in", f"苏E0000{i}", now + timedelta(seconds=i), prefix), qos=1) for i in range(3)]
    for i in infos:
        i.wait_for_publish(5)
    dev.disconnect()
    p2 = start()
    assert wait_for(lambda: p2.live.lot("G1").free == 0)
    with p2.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OccupancyEvent)) == 3


# -- a killed worker loses nothing -------------------------------------------------------------


def _city(n_lots=10, berths=10) -> dict:
    feats = [feature(f"K{i}", kind="on_street", total=berths, berths=[f"b{j}" for j in range(berths)], lat=31.3 + i * 0.001) for i in range(n_lots)]
    feats += [feature(f"P{i}", total=10_000, lat=31.31 + i * 0.001) for i in range(3)]
    return registry(*feats)


def _serve(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gateways.cli.main", "serve", "--port", str(port), "--dev"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.timeout(180)
def test_killing_the_worker_mid_stream_loses_and_doubles_nothing(pg_url, redis_url, redis_prefix, shipped_mosquitto, topic_prefix):
    mqtt_url = shipped_mosquitto
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix, "MQTT_URL": mqtt_url,
           "PARKING_TOPIC_PREFIX": topic_prefix, "PARKING_MQTT_CLIENT_ID": f"kill-{uuid.uuid4().hex[:8]}",
           "PARKING_HEARTBEAT_TIMEOUT_S": "7200"}
    setup = Platform(load_settings(**env), with_ingest=False)
    upgrade(setup.engine)
    import_registry(setup, _city())
    setup.stop()
    port = free_port()
    proc = _serve(env, port)
    assert wait_for(lambda: _up(port), 30), proc.stderr.read1().decode() if proc.poll() is not None else "not up"
    dev = publisher(MqttTarget.from_url(mqtt_url))
    base = datetime.now(timezone.utc) - timedelta(minutes=30)
    sent = []
    seq: dict[tuple[str, str], int] = {}
    expected_state: dict[tuple[str, str], bool] = {}
    inside = {f"P{i}": 0 for i in range(3)}
    for n in range(2400):
        at = base + timedelta(milliseconds=500 * n)
        if n % 4 == 3:
            lot = f"P{n % 3}"
            direction = "in" if (n // 4) % 3 else "out"
            msg = passage_msg(lot, "g1", f"ev-{n}", direction, f"苏E{n:05d}", at, topic_prefix)
            inside[lot] = max(0, inside[lot] + (1 if direction == "in" else -1))
        else:
            key = (f"K{n % 10}", f"b{(n // 10) % 10}")
            seq[key] = seq.get(key, 0) + 1
            occ = (n // 7) % 2 == 0
            msg = berth_msg(key[0], key[1], occ, seq[key], at, topic_prefix)
            expected_state[key] = occ
        sent.append(msg)
    killed_at = len(sent) // 3
    for i, (topic, payload) in enumerate(sent):
        dev.publish(topic, payload, qos=1)
        if i % 50 == 0:
            time.sleep(0.01)
        if i == killed_at:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        if i == 2 * len(sent) // 3:
            # re-send a slice, as a device would after a lost ack
            for t, p in sent[killed_at - 100:killed_at]:
                dev.publish(t, p, qos=1)
            proc = _serve(env, port)
    engine = create_engine(pg_url)
    try:
        def count() -> int:
            with engine.connect() as conn:
                return conn.execute(text("select count(*) from occupancy_events")).scalar()

        assert wait_for(lambda: count() == len(sent), 90, 0.5), f"logged {count()} of {len(sent)}"
        assert wait_for(lambda: _up(port), 30)
        for lot in ("K0", "K5", "K9"):
            berths = httpx.get(f"http://127.0.0.1:{port}/v1/lots/{lot}/berths").json()["berths"]
            want = {b: ("occupied" if expected_state[(lot, b)] else "free") for (l, b) in expected_state if l == lot}
            assert {x["id"]: x["status"] for x in berths if x["id"] in want} == want
        for lot, n_inside in inside.items():
            assert wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/v1/lots/{lot}").json()["free"] == 10_000 - n_inside, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.dispose()
        dev.disconnect()


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
