"""Against a real Mosquitto with the shipped dynamic-security config: a device's credential lets it
publish its own car park's topics only (the broker refuses another lot's, PUBACK 0x87), its own
messages are ingested, and a revoked credential is disconnected and refused at once."""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from parking_core.audit import AuditRecord
from parking_core.commissioning_models import DeviceCredential
from sensors.dynsec import DynsecAdmin
from sensors.mqtt import MqttTarget
from tests.joining.conftest import (
    NOT_AUTHORIZED,
    Device,
    as_,
    joining_feature,
    state,
    topic,
    wait_for,
)


def test_a_device_publishes_only_its_own_car_parks_topics_until_revoked(platform_on_broker, dynsec_broker):
    platform, client = platform_on_broker
    prefix = dynsec_broker.prefix
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    r = client.post("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("op1"))
    assert r.status_code == 201, r.text
    cred = r.json()
    assert cred["username"] == "J1/s-b1" and topic(prefix, "J1", "+") in cred["publish"]
    with platform.uow() as uow:
        row = uow.session.scalars(select(DeviceCredential)).one()
        assert row.password_hash == hashlib.sha256(cred["password"].encode()).hexdigest() != cred["password"]
    device = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:  # Mosquitto 2.0 answers a refused publish with PUBACK 0x87, then closes the connection
        assert device.connack_rc == 0
        assert device.publish(topic(prefix, "J1", "b1"), state(1)) == 0
        assert device.publish(topic(prefix, "S1", "b1"), state(1)) == NOT_AUTHORIZED  # another operator's street
    finally:
        device.close()
    device = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:
        assert device.publish(f"{prefix}/lots/S1/counts", {"free": 0, "total": 4, "ts": state(1)["ts"]}) == NOT_AUTHORIZED
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
    _platform, client = platform_on_broker
    prefix = dynsec_broker.prefix
    feature = joining_feature(berths=["b1"], gates=[], devices=[{"id": "gw", "kind": "gateway"}])
    assert client.post("/v1/operator/lots", json=feature, headers=as_("op1")).status_code == 201
    admin = DynsecAdmin(MqttTarget.from_url(dynsec_broker.url("admin", dynsec_broker.admin_password)))
    admin.run({"command": "createClient", "username": "J1/gw", "password": "left-by-a-failed-issuance"})  # the broker knows it, we do not
    first = client.post("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).json()
    stale = Device(dynsec_broker.port, "J1/gw", "left-by-a-failed-issuance")
    try:
        assert stale.connack_rc == NOT_AUTHORIZED  # replaced, not kept beside the issued one
    finally:
        stale.close()
    assert client.post("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).status_code == 409  # one at a time
    assert client.delete("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).status_code == 200
    second = client.post("/v1/operator/lots/J1/devices/gw/credentials", headers=as_("op1")).json()
    assert second["password"] != first["password"]
    listed = client.get("/v1/operator/lots/J1/credentials", headers=as_("op1")).json()["credentials"]
    assert [c["active"] for c in listed] == [True, False] and all("password" not in str(c) for c in listed)
    device = Device(dynsec_broker.port, second["username"], second["password"])
    try:
        assert device.publish(f"{prefix}/lots/J1/devices/gw/heartbeat", {"ts": state(1)["ts"]}) == 0
        wait_for(lambda: client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json()["state"] == "live",
                 what="the car park to go live")
    finally:
        device.close()
    assert client.get("/v1/lots/J1").json()["status"] != "closed"


def _devices(client) -> dict:
    body = client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json()
    return {d["id"]: d["heard_at"] for d in body["devices"]}


def test_a_wrong_admin_password_issues_nothing_and_says_which_setting(platform_on_broker, monkeypatch):
    platform, client = platform_on_broker
    monkeypatch.setenv("PARKING_MQTT_ADMIN_PASSWORD", "not-the-admin-password")  # read at the first issuance
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    r = client.post("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("op1"))
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (503, "dependency_unavailable", "PARKING_MQTT_ADMIN_USER")
    assert "not authori" in r.json()["message"].lower() and "not-the-admin-password" not in r.text
    with platform.uow() as uow:
        assert uow.session.scalars(select(DeviceCredential)).all() == []
        assert uow.session.scalars(select(AuditRecord).where(AuditRecord.action.like("device.%"))).all() == []
