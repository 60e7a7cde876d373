"""A car park joins through the operator API: validated like the registry import, closed to citizens
while commissioning, live by itself once every registered device has been heard (audited)."""
from __future__ import annotations

from sqlalchemy import select

from parking_core.audit import AuditRecord
from parking_core.commissioning_models import LotCommissioning, RegisteredDevice
from tests.factories import berth_msg, heartbeat_msg, passage_msg
from tests.joining.conftest import as_, issue_key, joining_feature, wait_for


def test_a_registered_car_park_is_commissioning_and_closed_to_citizens(joining_api):
    _platform, client = joining_api()
    r = client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["state"], body["operator"], body["live_at"]) == ("commissioning", "op1", None)
    assert body["waiting_for"] == ["cam-g1", "s-b1", "s-b2"]
    citizen = client.get("/v1/lots/J1").json()
    assert (citizen["status"], citizen["free"]) == ("closed", 0)
    assert client.get("/v1/lots/J1/berths").json()["berths"][0]["status"] == "closed"
    assert client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json()["state"] == "commissioning"


def test_the_same_registration_again_changes_nothing_and_another_with_the_id_is_refused(joining_api):
    platform, client = joining_api()
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    again = client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1"))
    assert again.status_code == 200 and again.json()["state"] == "commissioning"
    other = client.post("/v1/operator/lots", json=joining_feature(total=41), headers=as_("op1"))
    assert other.status_code == 409 and other.json()["field"] == "properties.id"
    taken = client.post("/v1/operator/lots", json=joining_feature("S1"), headers=as_("op1"))  # imported from the registry file
    assert taken.status_code == 409 and taken.json()["value"] == "S1"
    with platform.uow() as uow:
        assert len(uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "lot.register")).all()) == 1


def test_bad_registrations_name_the_field_and_write_nothing(joining_api):
    platform, client = joining_api()
    bad_device = joining_feature(devices=[{"id": "s-b1", "kind": "berth_sensor", "berth": "b1"},
                                          {"id": "s-b9", "kind": "berth_sensor", "berth": "b9"}])
    r = client.post("/v1/operator/lots", json=bad_device, headers=as_("op1"))
    assert (r.status_code, r.json()["field"], r.json()["value"]) == (422, "properties.devices[1].berth", "b9")
    r = client.post("/v1/operator/lots", json=joining_feature(total=1), headers=as_("op1"))  # as the import: fewer than its berths
    assert r.status_code == 422 and r.json()["field"] == "properties"
    r = client.post("/v1/operator/lots", json=joining_feature(tariff="no-such-tariff"), headers=as_("op1"))
    assert (r.status_code, r.json()["field"]) == (422, "properties.tariff")
    r = client.post("/v1/operator/lots", json=joining_feature(devices=[{"id": "cam", "kind": "gate_camera"}]), headers=as_("op1"))
    assert r.status_code == 422 and r.json()["field"] == "properties.devices.0"
    r = client.post("/v1/operator/lots", json=joining_feature(devices=[]), headers=as_("op1"))
    assert (r.status_code, r.json()["field"]) == (422, "properties.devices")
    assert client.get("/v1/lots/J1").status_code == 404
    with platform.uow() as uow:
        assert uow.session.scalars(select(LotCommissioning)).all() == [] and uow.session.scalars(select(RegisteredDevice)).all() == []


def test_only_its_operator_or_the_city_registers_a_car_park(joining_api):
    platform, client = joining_api()
    assert client.post("/v1/operator/lots", json=joining_feature(operator="op1"), headers=as_("op2")).status_code == 403  # for another operator
    district = issue_key(platform, org_kind="district", org_id="gusu", role="admin")
    assert client.post("/v1/operator/lots", json=joining_feature(operator="op1"), headers=district).status_code == 403
    viewer = issue_key(platform, org_kind="city", org_id="city", role="viewer")
    assert client.post("/v1/operator/lots", json=joining_feature(operator="op1"), headers=viewer).status_code == 403
    assert client.post("/v1/operator/lots", json=joining_feature(operator="op1")).status_code == 401
    assert client.get("/v1/lots/J1").status_code == 404
    r = client.post("/v1/operator/lots", json=joining_feature("J2", operator="op9"), headers=as_("city"))  # a new operator
    assert r.status_code == 201 and r.json()["operator"] == "op9"
    assert client.get("/v1/operator/lots/J2/commissioning", headers=as_("op2")).status_code == 404


def test_the_car_park_goes_live_once_every_device_is_heard(joining_api):
    platform, client = joining_api()
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    now = platform.clock()
    platform.pipeline.process([berth_msg("J1", "b1", True, 1, now), heartbeat_msg("J1", "cam-g1", now)])
    heard = wait_for(lambda: (b := client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json())["waiting_for"] == ["s-b2"] and b,
                     what="two devices heard")
    assert platform.commissioning_watch.check() == []  # the sweep, now: one device is still silent
    assert client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json()["state"] == "commissioning"
    assert heard["state"] == "commissioning" and client.get("/v1/lots/J1").json()["status"] == "closed"
    platform.pipeline.process([berth_msg("J1", "b2", False, 1, now), passage_msg("J1", "g1", "e1", "in", "苏E12345", now)])
    live = wait_for(lambda: (b := client.get("/v1/operator/lots/J1/commissioning", headers=as_("op1")).json())["state"] == "live" and b,
                    what="the car park to go live")
    assert live["live_at"] is not None and live["waiting_for"] == []
    assert client.get("/v1/lots/J1").json()["status"] != "closed"
    with platform.uow() as uow:
        [row] = uow.session.scalars(select(AuditRecord).where(AuditRecord.action == "lot.live")).all()
        assert (row.subject, row.operator_id, row.actor_kind, row.before) == ("lot:J1", "op1", "system", {"state": "commissioning"})
        assert sorted(row.after["heard"]) == ["cam-g1", "s-b1", "s-b2"]


def test_devices_added_later_join_the_wait_and_imported_car_parks_get_devices(joining_api):
    _, client = joining_api()
    sensor = {"id": "s-b1", "kind": "berth_sensor", "berth": "b1"}
    r = client.post("/v1/operator/lots/S1/devices", json=sensor, headers=as_("op1"))  # imported from the registry file: live
    assert r.status_code == 201 and r.json()["state"] == "live" and [d["id"] for d in r.json()["devices"]] == []
    assert client.post("/v1/operator/lots/S1/devices", json=sensor, headers=as_("op1")).status_code == 200
    assert client.post("/v1/operator/lots/S1/devices", json={**sensor, "berth": "b2"}, headers=as_("op1")).status_code == 409
    r = client.post("/v1/operator/lots/S1/devices", json={**sensor, "id": "s-x", "berth": "b9"}, headers=as_("op1"))
    assert (r.status_code, r.json()["field"], r.json()["value"]) == (422, "berth", "b9")
    r = client.post("/v1/operator/lots/S1/devices", json={"id": "c", "kind": "counter", "gate": "g1"}, headers=as_("op1"))
    assert r.status_code == 422 and "has no gate" in r.json()["message"]
    assert client.post("/v1/operator/lots/S1/devices", json={**sensor, "id": "s-b2"}, headers=as_("op2")).status_code == 403
    assert client.get("/v1/lots/S1").json()["status"] != "closed"  # a live car park stays live
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    r = client.post("/v1/operator/lots/J1/devices", json={"id": "gw", "kind": "gateway"}, headers=as_("op1"))
    assert r.status_code == 201 and r.json()["waiting_for"] == ["cam-g1", "gw", "s-b1", "s-b2"]
