"""Dependencies going away mid-stream lose no accepted event: Redis restarting empty, the
database refusing connections. The platform runs in-process over real servers."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from gateways.bootstrap import Platform
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.domain_events import AvailabilityChanged
from parking_core.messagebus import HandlerMap
from parking_core.settings import load_settings
from sensors.mqtt import connect, make_client
from tests.factories import berth_msg, feature, passage_msg, registry
from tests.sensors.test_mqtt_e2e import wait_for


def _platform(env: dict, **parts) -> Platform:
    p = Platform(load_settings(**env), **parts)
    upgrade(p.engine)
    import_registry(p, registry(
        *[feature(f"K{i}", kind="on_street", total=5, berths=[f"b{j}" for j in range(5)], lat=31.3 + i * 0.001) for i in range(4)],
        feature("P0", total=1000, lat=31.32),
    ))
    p.start()
    assert p.ingest.subscribed.wait(10)
    time.sleep(0.3)
    return p


def _stream(n: int, prefix: str):
    """n messages whose final state is known: berth states and gate entries."""
    base = datetime.now(timezone.utc) - timedelta(minutes=5)
    msgs, final, seq, entries = [], {}, {}, 0
    for i in range(n):
        at = base + timedelta(milliseconds=100 * i)
        if i % 5 == 4:
            msgs.append(passage_msg("P0", "g", f"ev-{i}", "in", f"苏E{i:05d}", at, prefix))
            entries += 1
        else:
            key = (f"K{i % 4}", f"b{(i // 4) % 5}")
            seq[key] = seq.get(key, 0) + 1
            final[key] = (i // 3) % 2 == 0
            msgs.append(berth_msg(*key, final[key], seq[key], at, prefix))
    return msgs, final, entries


def _publish_slowly(target, msgs, during=None, at_index=None):
    dev = make_client(target, f"dev-{uuid.uuid4().hex[:6]}")
    connect(dev, target)
    dev.loop_start()
    infos = []
    for i, (t, p) in enumerate(msgs):
        infos.append(dev.publish(t, p, qos=1))
        if i == at_index and during:
            during()
        if i % 20 == 0:
            time.sleep(0.01)
    for info in infos:  # the broker has every message before we hang up
        info.wait_for_publish(10)
    dev.disconnect()
    dev.loop_stop()


def _check(p: Platform, engine, msgs, final, entries):
    def count():
        try:
            with engine.connect() as c:
                return c.execute(text("select count(*) from occupancy_events")).scalar()
        except OperationalError:  # the outage may still be on
            return -1

    assert wait_for(lambda: count() == len(msgs), 60, 0.2), f"logged {count()} of {len(msgs)}"
    assert wait_for(lambda: p.live.lot("P0") is not None and p.live.lot("P0").free == 1000 - entries, 30)
    for (lot, berth), occ in final.items():
        status = {b.id: b.status for b in p.live.berths(lot)}[berth]
        assert status == ("occupied" if occ else "free"), (lot, berth)


def test_redis_restarting_empty_mid_stream_loses_nothing(tmp_path, own_redis, shipped_mosquitto, topic_prefix):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}", "REDIS_URL": own_redis.url, "MQTT_URL": shipped_mosquitto,
           "PARKING_TOPIC_PREFIX": topic_prefix, "PARKING_MQTT_CLIENT_ID": f"o-{uuid.uuid4().hex[:6]}"}
    p = _platform(env)
    msgs, final, entries = _stream(1500, topic_prefix)

    def restart():
        own_redis.stop()
        time.sleep(1.0)
        own_redis.start()

    try:
        _publish_slowly(p.mqtt_target, msgs, restart, 600)
        engine = create_engine(p.settings.resolved_database_url())
        _check(p, engine, msgs, final, entries)
        assert p.pipeline.stats.retries > 0  # it did notice the outage
    finally:
        p.stop()


def test_database_refusing_connections_mid_stream_loses_nothing(pg_url, redis_url, redis_prefix, shipped_mosquitto, topic_prefix):
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix, "MQTT_URL": shipped_mosquitto,
           "PARKING_TOPIC_PREFIX": topic_prefix, "PARKING_MQTT_CLIENT_ID": f"o-{uuid.uuid4().hex[:6]}"}
    p = _platform(env)
    dbname = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    msgs, final, entries = _stream(1500, topic_prefix)

    def outage():
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false'))
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname})

        def restore():
            time.sleep(3)
            with admin.connect() as c:
                c.execute(text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true'))

        threading.Thread(target=restore, daemon=True).start()

    try:
        _publish_slowly(p.mqtt_target, msgs, outage, 600)
        engine = create_engine(pg_url)
        _check(p, engine, msgs, final, entries)
        assert p.pipeline.stats.retries > 0
        engine.dispose()
    finally:
        p.stop()
        admin.dispose()


def test_two_workers_split_the_load_and_agree(pg_url, redis_url, redis_prefix, shipped_mosquitto, topic_prefix):
    base = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix, "MQTT_URL": shipped_mosquitto,
            "PARKING_TOPIC_PREFIX": topic_prefix}
    heard = {}
    hear = HandlerMap(after_commit={AvailabilityChanged: [lambda e: heard.__setitem__(e.lot_id, e.availability.free)]})
    first = _platform({**base, "PARKING_MQTT_CLIENT_ID": "w-1"}, more_handlers=hear)
    second = Platform(load_settings(**base, PARKING_MQTT_CLIENT_ID="w-2")).start()  # joins: no rebuild, no reset
    assert second.ingest.subscribed.wait(10)
    first.follow_availability()  # the HTTP process hears what the other worker ingests
    time.sleep(0.3)
    msgs, final, entries = _stream(1200, topic_prefix)
    try:
        _publish_slowly(first.mqtt_target, msgs)
        engine = create_engine(pg_url)
        _check(first, engine, msgs, final, entries)
        a, b = first.pipeline.stats.received, second.pipeline.stats.received
        assert a > 100 and b > 100 and a + b == len(msgs)
        assert second.live.lot("P0").free == first.live.lot("P0").free == 1000 - entries
        assert wait_for(lambda: heard.get("P0") == 1000 - entries, 10)
        engine.dispose()
    finally:
        second.stop()
        first.stop()
