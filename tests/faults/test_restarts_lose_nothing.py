"""Faults with real traffic running, each checked against what was sent and the money recorded:
the broker restarting mid-stream, PostgreSQL stopped for 30 seconds. Zero events lost, zero
counted twice, one stay per car and one order per exit, never two. (Redis restarting empty and
a worker killed mid-stream: tests/sensors/test_outages.py and test_mqtt_e2e.py.)"""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from gateways.bootstrap import Platform
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.settings import load_settings
from sensors.mqtt import MqttTarget, connect, make_client
from tests.factories import berth_msg, feature, passage_msg, registry

pytestmark = pytest.mark.timeout(300)
CARS = 120


def traffic(prefix: str):
    """Berth reports on two streets and CARS cars entering and leaving car park P0, interleaved:
    (messages, berth reports, cars)."""
    base = datetime.now(timezone.utc) - timedelta(hours=2)
    msgs, berth_reports, seq = [], 0, {}
    for i in range(CARS):
        plate = f"苏E{i:05d}"
        msgs.append(passage_msg("P0", "g1", f"in-{i}", "in", plate, base + timedelta(seconds=10 * i), prefix))
        for j in range(4):
            key = (f"K{j % 2}", f"b{(i + j) % 5}")
            seq[key] = seq.get(key, 0) + 1
            msgs.append(berth_msg(*key, seq[key] % 2 == 1, seq[key], base + timedelta(seconds=10 * i + j), prefix))
            berth_reports += 1
    for i in range(CARS):
        msgs.append(passage_msg("P0", "g1", f"out-{i}", "out", f"苏E{i:05d}", base + timedelta(minutes=30, seconds=10 * i), prefix))
    return msgs


def start_platform(env: dict) -> Platform:
    p = Platform(load_settings(**env))
    upgrade(p.engine)
    import_registry(p, registry(
        feature("K0", kind="on_street", total=5, berths=[f"b{j}" for j in range(5)], lat=31.301),
        feature("K1", kind="on_street", total=5, berths=[f"b{j}" for j in range(5)], lat=31.302),
        feature("P0", total=1000, lat=31.32),
    ))
    p.start()
    assert p.ingest.subscribed.wait(10)
    return p


def publish(url: str, msgs, *, pause_at: int | None = None, during=None) -> None:
    """Publish QoS 1 like a device with a persistent session: what the broker did not
    acknowledge is sent again after reconnecting."""
    target = MqttTarget.from_url(url)
    dev = make_client(target, f"dev-{uuid.uuid4().hex[:8]}")
    connect(dev, target)
    dev.loop_start()
    try:
        infos = []
        for i, (topic, payload) in enumerate(msgs):
            if i == pause_at and during is not None:
                for info in infos:
                    info.wait_for_publish(30)
                during()
                deadline = time.monotonic() + 30
                while not dev.is_connected() and time.monotonic() < deadline:
                    time.sleep(0.1)
            infos.append(dev.publish(topic, payload, qos=1))
            if i % 25 == 0:
                time.sleep(0.01)
        for info in infos:
            info.wait_for_publish(60)
    finally:
        dev.disconnect()
        dev.loop_stop()


def books(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            q = lambda sql: c.execute(text(sql)).scalar()  # noqa: E731
            return {
                "events": q("select count(*) from occupancy_events where kind <> 'heartbeat'"),
                "stays": q("select count(*) from parking_sessions where lot_id = 'P0'"),
                "closed": q("select count(*) from parking_sessions where lot_id = 'P0' and exited_at is not null"),
                "orders": q("select count(*) from orders"),
                "orders_per_stay_max": q("select coalesce(max(n), 0) from (select count(*) n from orders group by session_id) t"),
            }
    except OperationalError:
        return {}
    finally:
        engine.dispose()


def wait_books(url: str, msgs, timeout: float) -> dict:
    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        seen = books(url)
        if seen.get("events") == len(msgs) and seen.get("closed") == CARS and seen.get("orders") == CARS:
            break
        time.sleep(0.5)
    return seen


def assert_nothing_lost_or_doubled(seen: dict, msgs) -> None:
    assert seen == {"events": len(msgs), "stays": CARS, "closed": CARS, "orders": CARS, "orders_per_stay_max": 1}, seen


def test_the_broker_restarting_mid_stream_loses_and_doubles_nothing(tmp_path, own_mosquitto, redis_url, redis_prefix, topic_prefix):
    db = f"sqlite:///{tmp_path / 'f.db'}"
    p = start_platform({"DATABASE_URL": db, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix,
                        "MQTT_URL": own_mosquitto.url, "PARKING_TOPIC_PREFIX": topic_prefix,
                        "PARKING_MQTT_CLIENT_ID": f"f-{uuid.uuid4().hex[:6]}", "PARKING_DATA_DIR": str(tmp_path)})
    msgs = traffic(topic_prefix)
    try:
        publish(own_mosquitto.url, msgs, pause_at=len(msgs) // 2, during=lambda: own_mosquitto.restart(down_s=2.0))
        seen = wait_books(db, msgs, 120)
        assert_nothing_lost_or_doubled(seen, msgs)
        assert p.ingest.connected.is_set()  # it came back by itself
        assert p.live.lot("P0").free == 1000  # every car that entered has left
    finally:
        p.stop()


def test_postgresql_stopped_for_30_seconds_mid_stream_loses_and_doubles_nothing(tmp_path, own_postgres, redis_url, redis_prefix,
                                                                              mqtt_url, topic_prefix):
    p = start_platform({"DATABASE_URL": own_postgres.url, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix,
                        "MQTT_URL": mqtt_url, "PARKING_TOPIC_PREFIX": topic_prefix,
                        "PARKING_MQTT_CLIENT_ID": f"f-{uuid.uuid4().hex[:6]}", "PARKING_DATA_DIR": str(tmp_path)})
    msgs = traffic(topic_prefix)
    stopped_at: list[float] = []

    def outage() -> None:
        own_postgres.stop()
        stopped_at.append(time.monotonic())

        def back() -> None:
            time.sleep(30)
            own_postgres.start()

        threading.Thread(target=back, daemon=True).start()

    try:
        publish(mqtt_url, msgs, pause_at=len(msgs) // 3, during=outage)  # the rest is published while the database is down
        time.sleep(5)
        assert books(own_postgres.url) == {}  # still down: the events wait in the broker, unacknowledged
        seen = wait_books(own_postgres.url, msgs, 180)
        assert_nothing_lost_or_doubled(seen, msgs)
        assert p.pipeline.stats.retries > 0
    finally:
        p.stop()
