"""Evidence of ownership: only JPEG, PNG or PDF by content, within the size limit, stored under its hash outside the
web root; reviewed by the operator where the plate parked (or the city), refused to others (404 outside the scope,
403 to a district or a viewer), every decision audited; Alipay's owner check is named and says it is not configured."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from parking_core.account_models import PlateBinding, PlateEvidence
from parking_core.audit import AuditRecord
from parking_core.db import kept
from parking_core.plate_verification import AlipayVehicleOwnerCheck, VerifierNotConfigured
from tests.billing_flow.conftest import PNG
from tests.plates_ownership.conftest import upload

PLATE = "苏E11111"
PDF = b"%PDF-1.7\n" + b"x" * 100


def _rows(env, model):  # noqa: ANN001, ANN202
    with env.platform.uow() as uow:
        return kept(uow.session, list(uow.session.scalars(select(model))))


def test_uploads_of_another_type_or_too_large_are_refused_and_store_nothing(owned, monkeypatch):
    env, _ = owned
    d = env.driver(PLATE, verified=False)
    html = upload(env, d.headers, PLATE, b"<html><script>alert(1)</script></html>", name="licence.png")
    assert html.status_code == 422
    assert (html.json()["code"], html.json()["field"]) == ("invalid_input", "evidence")
    monkeypatch.setenv("PARKING_PLATE_EVIDENCE_MAX_BYTES", "10000")
    big = upload(env, d.headers, PLATE, PNG + b"\0" * 10_000)
    assert (big.status_code, big.json()["code"], big.json()["details"]["limit"]) == (413, "evidence_too_large", 10000)
    assert _rows(env, PlateEvidence) == []
    folder = env.platform.settings.data_dir / "plate-evidence"
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))
    other = upload(env, d.headers, "苏E99999", PDF)
    assert (other.status_code, other.json()["field"]) == (404, "plate")  # not your plate


def test_the_operator_where_the_plate_parked_approves_others_are_refused_and_it_is_audited(owned):
    env, ops = owned
    env.stay(PLATE, minutes=60)  # at G1: op2's car park in district gusu
    d = env.driver(PLATE, verified=False)
    sent = upload(env, d.headers, PLATE, PDF)
    assert sent.status_code == 201
    again = upload(env, d.headers, PLATE, PDF)
    assert (again.status_code, again.json()["id"]) == (200, sent.json()["id"])  # one submission
    vid = sent.json()["id"]
    assert sent.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    stored = env.platform.settings.data_dir / "plate-evidence" / sent.json()["sha256"][:2] / sent.json()["sha256"]
    assert stored.read_bytes() == PDF

    assert [v["id"] for v in ops.get("op2", "/v1/operator/plate-verifications").json()["verifications"]] == [vid]
    assert ops.get("op1", "/v1/operator/plate-verifications").json()["verifications"] == []
    assert ops.get("op1", f"/v1/operator/plate-verifications/{vid}/file").status_code == 404
    got = ops.get("op2", f"/v1/operator/plate-verifications/{vid}/file")
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, PDF, "application/pdf")
    assert "no-store" in got.headers["cache-control"]
    stored.write_bytes(PDF + b"changed on disk")
    assert ops.get("op2", f"/v1/operator/plate-verifications/{vid}/file").json()["code"] == "evidence_gone"
    stored.write_bytes(PDF)

    assert ops.post("op1", f"/v1/operator/plate-verifications/{vid}/approve").status_code == 404
    assert ops.post("gusu", f"/v1/operator/plate-verifications/{vid}/approve").status_code == 403
    assert ops.post("op2_viewer", f"/v1/operator/plate-verifications/{vid}/approve").status_code == 403
    assert ops.post("city_viewer", f"/v1/operator/plate-verifications/{vid}/approve").status_code == 403
    assert [b.status for b in _rows(env, PlateBinding)] == ["unverified"]

    ok = ops.post("op2", f"/v1/operator/plate-verifications/{vid}/approve", json={"note": "licence matches"})
    assert (ok.status_code, ok.json()["status"]) == (200, "approved")
    assert [b.status for b in _rows(env, PlateBinding)] == ["verified"]
    assert env.api.get("/v1/me/plates", headers=d.headers).json()["plates"][0]["status"] == "verified"
    assert ops.post("op2", f"/v1/operator/plate-verifications/{vid}/reject").status_code == 409
    (audit,) = [a for a in _rows(env, AuditRecord) if a.action.startswith("plate_verification.")]
    assert (audit.action, audit.subject, audit.operator_id, audit.actor_org) == (
        "plate_verification.approve", f"plate_verification:{vid}", "op2", "op2")
    assert audit.after["account_id"] == d.account_id
    assert [n.kind for n in env.notices.of(d.account_id, "plate_verified")] == ["plate_verified"]


def test_a_plate_never_seen_parking_is_verified_by_the_city_only(owned):
    env, ops = owned
    d = env.driver(PLATE, verified=False)
    vid = upload(env, d.headers, PLATE).json()["id"]
    assert ops.post("op2", f"/v1/operator/plate-verifications/{vid}/reject").status_code == 404
    r = ops.post("city", f"/v1/operator/plate-verifications/{vid}/reject", json={"note": "unreadable photo"})
    assert (r.status_code, r.json()["status"]) == (200, "rejected")
    assert [b.status for b in _rows(env, PlateBinding)] == ["unverified"]
    (told,) = env.notices.of(d.account_id, "plate_verification_rejected")
    assert told.data["note"] == "unreadable photo"


def test_alipays_owner_check_is_named_and_never_says_yes():
    check = AlipayVehicleOwnerCheck()
    assert (check.name, check.configured()) == ("alipay_vehicle_owner", False)
    with pytest.raises(VerifierNotConfigured, match="not configured"):
        check.verify(account_id="a", plate=PLATE)
