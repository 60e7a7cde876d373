"""Device credentials through the operator API, without a broker that can enforce them: who may ask,
and a clear refusal (nothing stored) where the broker cannot confine a device to its lot."""
from __future__ import annotations

from sqlalchemy import select

from parking_core.audit import AuditRecord
from parking_core.commissioning_models import DeviceCredential
from tests.joining.conftest import as_, issue_key, joining_feature


def test_only_the_lots_operator_or_the_city_may_issue_or_revoke(joining_api):
    platform, client = joining_api()
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    url = "/v1/operator/lots/J1/devices/s-b1/credentials"
    district = issue_key(platform, org_kind="district", org_id="gusu", role="admin")
    viewer = issue_key(platform, org_kind="city", org_id="city", role="viewer")
    for method in ("post", "delete"):
        call = getattr(client, method)
        assert call(url, headers=as_("op2")).status_code == 403  # another operator's car park: an action is refused
        assert call(url, headers=district).status_code == 403
        assert call(url, headers=viewer).status_code == 403
        assert call(url).status_code == 401
    assert client.get("/v1/operator/lots/J1/credentials", headers=as_("op2")).status_code == 404
    assert client.get("/v1/operator/lots/J1/credentials", headers=district).json() == {"credentials": []}
    r = client.post("/v1/operator/lots/J1/devices/nope/credentials", headers=as_("op1"))
    assert (r.status_code, r.json()["code"], r.json()["value"]) == (404, "device_not_found", "nope")


def test_the_embedded_broker_cannot_enforce_device_credentials_so_none_is_issued(joining_api):
    platform, client = joining_api()
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    r = client.post("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("city"))
    assert r.status_code == 409 and r.json()["code"] == "broker_cannot_enforce"
    assert r.json()["field"] == "PARKING_MQTT_ADMIN_USER" and "embedded broker" in r.json()["message"]
    with platform.uow() as uow:
        assert uow.session.scalars(select(DeviceCredential)).all() == []
        assert uow.session.scalars(select(AuditRecord).where(AuditRecord.action.like("device.%"))).all() == []
    r = client.delete("/v1/operator/lots/J1/devices/s-b1/credentials", headers=as_("op1"))
    assert (r.status_code, r.json()["code"]) == (404, "credential_not_found")


def test_a_broker_without_the_admin_settings_is_refused_naming_them(tmp_path):
    from parking_core.settings import load_settings
    from sensors.device_credentials import (
        DeviceCredentialSettings,
        DynsecCredentials,
        NotEnforced,
        credentials_backend,
    )

    s = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", MQTT_URL="mqtt://platform:pw@127.0.0.1:1883")
    backend = credentials_backend(s, DeviceCredentialSettings())
    assert isinstance(backend, NotEnforced) and "PARKING_MQTT_ADMIN_USER" in backend.why
    admin = DeviceCredentialSettings(PARKING_MQTT_ADMIN_USER="admin", PARKING_MQTT_ADMIN_PASSWORD="secret-admin-pw")
    dynsec = credentials_backend(s, admin)
    assert isinstance(dynsec, DynsecCredentials)
    assert (dynsec.admin.target.username, dynsec.admin.target.password, dynsec.admin.target.port) == ("admin", "secret-admin-pw", 1883)
    open_broker = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", MQTT_URL="mqtt://127.0.0.1:1883")
    assert isinstance(credentials_backend(open_broker, admin), NotEnforced)  # anyone could publish as any device there
