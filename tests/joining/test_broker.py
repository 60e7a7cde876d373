"""Against a real Mosquitto with the shipped dynamic-security config: a device's credential lets it
publish its own car park's topics only (the broker refuses another lot's, PUBACK 0x87), its own
messages are ingested, and a revoked credential is disconnected and refused at once."""
from __future__ import annotations

import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from parking_core.audit import AuditRecord
from parking_core.commissioning_models import DeviceCredential
from tests.joining.conftest import as_, joining_feature, wait_for

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87


class Device:
    """A device as a vendor would build it: paho, MQTT 5, QoS 1, its own user name and password."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.acks: dict[int, int] = {}
        self.connack = threading.Event()
        self.connack_rc: int | None = None
        self.disconnected = threading.Event()
        self.suback: list[int] = []
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_publish = lambda client, userdata, mid, rc, props: self.acks.__setitem__(mid, rc.value)
        c.on_disconnect = lambda client, userdata, flags, rc, props: self.disconnected.set()
        c.on_subscribe = lambda client, userdata, mid, rcs, props: self.suback.extend(rc.value for rc in rcs)
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert self.connack.wait(5), "no CONNACK"

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        self.connack_rc = rc.value
        self.connack.set()

    def publish(self, topic: str, body: dict) -> int:
        """The broker's PUBACK reason code for a QoS 1 publish."""
        info = self.client.publish(topic, orjson.dumps(body), qos=1)
        wait_for(lambda: info.mid in self.acks, 5, "PUBACK")
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def platform_on_broker(dynsec_broker, tmp_path, monkeypatch):
    """A platform ingesting from the dynamic-security broker as its `platform` user, with the admin set."""
    from fastapi.testclient import TestClient

    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from gateways.operator.registry_import import import_registry
    from gateways.schema import upgrade
    from parking_core.settings import load_settings
    from tests.factories import city_registry
    from tests.joining.conftest import KEYS

    monkeypatch.setenv("PARKING_OPERATOR_KEYS", ",".join(f"{k}:{v}" for k, v in KEYS.items()))
    monkeypatch.setenv("PARKING_MQTT_ADMIN_USER", "admin")
    monkeypatch.setenv("PARKING_MQTT_ADMIN_PASSWORD", dynsec_broker.admin_password)
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", MQTT_URL=dynsec_broker.url(),
                             PARKING_TOPIC_PREFIX=dynsec_broker.prefix, PARKING_MQTT_CLIENT_ID=f"ingest-{uuid.uuid4().hex[:6]}")
    platform = Platform(settings, with_ingest=True)
    upgrade(platform.engine)
    import_registry(platform, city_registry())
    platform.start()
    try:
        yield platform, TestClient(create_app(platform))
    finally:
        platform.stop()


def _topic(prefix: str, lot: str, berth: str) -> str:
    return f"{prefix}/lots/{lot}/berths/{berth}/state"


def _state(seq: int) -> dict:
    from datetime import datetime, timezone

    return {"occupied": True, "seq": seq, "ts": datetime.now(timezone.utc).isoformat()}


def test_a_device_publishes_only_its_own_car_parks_topics_until_revoked(platform_on_broker, dynsec_broker):
    platform, client = platform_on_broker
    prefix = dynsec_broker.prefix
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    r = client.post("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("op1"))
    assert r.status_code == 201, r.text
    cred = r.json()
    assert cred["username"] == "J1/s-b1" and _topic(prefix, "J1", "+") in cred["publish"]
    with platform.uow() as uow:
        row = uow.session.scalars(select(DeviceCredential)).one()
        assert row.password_hash != cred["password"] and PasswordHasher().verify(row.password_hash, cred["password"])
    device = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:  # Mosquitto 2.0 answers a refused publish with PUBACK 0x87, then closes the connection
        assert device.connack_rc == 0
        assert device.publish(_topic(prefix, "J1", "b1"), _state(1)) == 0
        assert device.publish(_topic(prefix, "S1", "b1"), _state(1)) == NOT_AUTHORIZED  # another operator's street
    finally:
        device.close()
    device = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:
        assert device.publish(f"{prefix}/lots/S1/counts", {"free": 0, "total": 4, "ts": _state(1)["ts"]}) == NOT_AUTHORIZED
    finally:
        device.close()
    device = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:
        device.client.subscribe([(f"{prefix}/lots/J1/arrears", 1), (f"{prefix}/lots/G1/arrears", 1)])
        wait_for(lambda: len(device.suback) == 2, 5, "SUBACK")
        assert device.suback == [1, NOT_AUTHORIZED]
        heard = wait_for(lambda: (d := _devices(client))["s-b1"] and d, what="the device's own message ingested")
        assert heard["s-b2"] is None and heard["cam-g1"] is None
        assert [b["status"] for b in client.get("/v1/lots/S1/berths").json()["berths"]] == ["unknown"] * 4  # nothing got through

        r = client.delete("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("op1"))
        assert r.status_code == 200 and r.json()["active"] is False and r.json()["revoked_at"]
        assert device.disconnected.wait(5), "the broker kept a revoked device connected"
    finally:
        device.close()
    again = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:
        assert again.connack_rc == NOT_AUTHORIZED
    finally:
        again.close()
    repeat = client.delete("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("op1"))
    assert repeat.status_code == 200 and repeat.json()["revoked_at"] == r.json()["revoked_at"]  # revoking twice changes nothing
    with platform.uow() as uow:
        actions = [(a.action, a.actor_org, a.subject) for a in uow.session.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert actions[-2:] == [("device.credential.issue", "op1", "device:J1/s-b1"), ("device.credential.revoke", "op1", "device:J1/s-b1")]


def test_a_device_with_a_fresh_credential_brings_its_car_park_live(platform_on_broker, dynsec_broker):
    platform, client = platform_on_broker
    prefix = dynsec_broker.prefix
    feature = joining_feature(berths=["b1"], gates=[], devices=[{"id": "gw", "kind": "gateway"}])
    assert client.post("/v1/operator/lots", json=feature, headers=as_("op1")).status_code == 201
    first = client.post("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).json()
    assert client.post("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).status_code == 409  # one at a time
    assert client.delete("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).status_code == 200
    second = client.post("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).json()
    assert second["password"] != first["password"]
    listed = client.get("/v1/operator/lots/J1/credentials", headers=as_("op1")).json()["credentials"]
    assert [c["active"] for c in listed] == [True, False] and all("password" not in str(c) for c in listed)
    device = Device(dynsec_broker.port, second["username"], second["password"])
    try:
        assert device.publish(f"{prefix}/lots/J1/devices/gw/heartbeat", {"ts": _state(1)["ts"]}) == 0
        wait_for(lambda: client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json()["state"] == "live",
                 what="the car park to go live")
    finally:
        device.close()
    assert client.get("/v1/lots/J1").json()["status"] != "closed"


def _devices(client) -> dict:  # noqa: ANN001
    body = client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json()
    return {d["id"]: d["heard_at"] for d in body["devices"]}
