"""API keys and console sessions: shown once, stored as a hash, scoped to an organisation, expiring, and
refused at once when revoked, also by another process over the same database."""
from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from gateways.http.app import create_app
from gateways.operator.permissions import principals_of
from parking_core.principal_models import OperatorApiKey
from tests.operators.conftest import CITY


def _every_text_value(platform) -> list[str]:
    """Every value of every table, as text: where a leaked secret would show."""
    out = []
    with platform.engine.connect() as c:
        for table in inspect(c).get_table_names():
            for row in c.execute(text(f'SELECT * FROM "{table}"')):
                out += [str(v) for v in row]
    return out


def test_a_key_is_shown_once_and_the_database_holds_only_its_hash(ops):
    r = ops.post("op1_admin", "/v1/operator/keys", json={"label": "gate system", "role": "staff", "valid_days": 30})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert (issued["org_kind"], issued["org_id"], issued["role"]) == ("operator", "op1", "staff")
    secret = issued["key"]
    assert len(secret) >= 40
    listed = ops.get("op1_admin", "/v1/operator/keys").json()["keys"]
    assert issued["id"] in [k["id"] for k in listed] and all("key" not in k for k in listed)
    values = _every_text_value(ops.platform)
    assert not any(secret in v for v in values)
    assert hashlib.sha256(secret.encode()).hexdigest() in values
    assert ops.client.get("/v1/operator/lots", headers={"X-Operator-Key": secret}).json()["lots"][0]["id"] == "S1"


def test_an_admin_issues_keys_for_its_own_organisation_only_and_staff_none(ops):
    assert ops.post("op1", "/v1/operator/keys", json={"label": "x"}).status_code == 403
    assert ops.get("op1", "/v1/operator/keys").status_code == 403
    theirs = ops.get("city", "/v1/operator/keys").json()["keys"]
    assert {k["org_id"] for k in theirs} == {"city"}  # the city admin lists the city's keys, not op1's
    op2_key = next(k for k in principals_of(ops.platform).keys() if k.org_id == "op2")
    assert ops.post("op1_admin", f"/v1/operator/keys/{op2_key.id}/revoke").status_code == 404
    assert ops.get("op2", "/v1/operator/me").status_code == 200


def test_a_revoked_key_is_refused_at_once_also_by_another_process(ops, make_platform):
    made = ops.key("gate", org_kind="operator", org_id="op1", role="viewer")
    other = TestClient(create_app(make_platform()))  # a second platform over the same database
    headers = {"X-Operator-Key": made["secret"]}
    assert other.get("/v1/operator/me", headers=headers).status_code == 200
    r = ops.post("op1_admin", f"/v1/operator/keys/{made['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    for client in (ops.client, other):
        r = client.get("/v1/operator/me", headers=headers)
        assert r.status_code == 401 and r.json()["field"] == "X-Operator-Key"
        assert "revoked" in r.json()["message"] and made["secret"] not in r.text


def test_an_expired_key_is_refused(ops):
    made = ops.key("short", org_kind="operator", org_id="op1", role="viewer", valid_days=1)
    headers = {"X-Operator-Key": made["secret"]}
    assert ops.client.get("/v1/operator/me", headers=headers).status_code == 200
    ops.platform.clock.advance(hours=23, minutes=59)
    assert ops.client.get("/v1/operator/me", headers=headers).status_code == 200
    ops.platform.clock.advance(minutes=1)
    assert ops.client.get("/v1/operator/me", headers=headers).status_code == 401


def test_a_bad_key_request_names_the_field_and_changes_nothing(ops):
    before = len(principals_of(ops.platform).keys())
    r = ops.post("op1_admin", "/v1/operator/keys", json={"label": "x", "valid_days": 400})
    assert r.status_code == 422 and "valid_days" in r.text
    r = ops.post("op1_admin", "/v1/operator/keys", json={"label": "x", "role": "owner"})
    assert r.status_code == 422 and "role" in r.text
    assert len(principals_of(ops.platform).keys()) == before


def test_console_users_sign_in_with_a_password_for_a_short_session(ops):
    principals = principals_of(ops.platform)
    principals.add_user(actor=CITY, username="li.na", password="correct horse 9", org_kind="operator", org_id="op2", role="staff")
    assert ops.client.post("/v1/operator/session", json={"username": "li.na", "password": "wrong horse 9"}).status_code == 401
    unknown = ops.client.post("/v1/operator/session", json={"username": "nobody", "password": "correct horse 9"})
    assert unknown.status_code == 401 and unknown.json()["message"] == "username or password is wrong"
    r = ops.client.post("/v1/operator/session", json={"username": "li.na", "password": "correct horse 9"})
    assert r.status_code == 201
    token, me = r.json()["token"], r.json()["me"]
    assert (me["kind"], me["org_id"], me["role"], me["lots"]) == ("operator", "op2", "staff", ["C1", "G1"])
    headers = {"X-Operator-Key": token}
    assert [lot["id"] for lot in ops.client.get("/v1/operator/lots", headers=headers).json()["lots"]] == ["C1", "G1"]
    with ops.platform.uow() as uow:
        row = uow.session.scalar(select(OperatorApiKey))  # noqa: F841 - keys and sessions are apart
        hashes = [h for (h,) in uow.session.execute(text("SELECT password_hash FROM operator_users"))]
    assert hashes[0].startswith("$argon2") and "correct horse" not in hashes[0]
    assert token not in " ".join(_every_text_value(ops.platform))
    ops.platform.clock.advance(seconds=3601)  # PARKING_CONSOLE_SESSION_S defaults to an hour
    assert ops.client.get("/v1/operator/me", headers=headers).status_code == 401


def test_signing_out_ends_the_session_at_once(ops):
    principals_of(ops.platform).add_user(actor=CITY, username="wang", password="0123456789ab", org_kind="city",
                                         org_id="city", role="viewer")
    token = ops.client.post("/v1/operator/session", json={"username": "wang", "password": "0123456789ab"}).json()["token"]
    headers = {"X-Operator-Key": token}
    assert ops.client.delete("/v1/operator/session", headers=headers).status_code == 204
    assert ops.client.get("/v1/operator/me", headers=headers).status_code == 401


def test_operator_keys_from_the_environment_are_admins_of_their_operator_or_the_city(api, monkeypatch):
    monkeypatch.setenv("PARKING_OPERATOR_KEYS", "op1:" + "a" * 20 + ",city:" + "c" * 20)
    platform, client = api()
    me = client.get("/v1/operator/me", headers={"X-Operator-Key": "a" * 20}).json()
    assert (me["kind"], me["org_id"], me["role"], me["lots"]) == ("operator", "op1", "admin", ["S1"])
    me = client.get("/v1/operator/me", headers={"X-Operator-Key": "c" * 20}).json()
    assert (me["kind"], me["org_id"], me["role"], me["lots"]) == ("city", "city", "admin", None)
