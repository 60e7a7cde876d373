"""Vehicle-licence uploads under the retention job: PARKING_RETAIN_EVIDENCE_DAYS after the decision the file is gone
from disk and the row holds the plate's keyed hash (the reviewer's note emptied); an upload still waiting for review,
and one whose plate has an open dispute, keep file and plate; a file another upload still needs (the same bytes sent
again) stays until that one goes too; a second run does nothing more; the audit row counts files, names no plate."""
from __future__ import annotations

import json

from sqlalchemy import select

from gateways.retention_app import retention_job
from parking_core.account_models import PlateEvidence
from parking_core.audit import AuditRecord
from parking_core.plate_privacy import plate_hash
from parking_core.plate_verification_files import path_of
from parking_core.retention import RetentionSettings
from tests.billing_flow.conftest import OPERATOR, PNG
from tests.privacy.test_account_deletion import signed_in

KEY = "e" * 40
SHARED = PNG + b"same licence, sent twice"


def _upload(e, headers: dict, plate: str, content: bytes) -> str:  # noqa: ANN001
    r = e.api.post(f"/v1/me/plates/{plate}/evidence", headers=headers, files={"file": ("licence.png", content, "image/png")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _decide(e, evidence_id: str, verb: str, note: str = "") -> None:  # noqa: ANN001
    r = e.api.post(f"/v1/operator/plate-verifications/{evidence_id}/{verb}", headers=OPERATOR, json={"note": note})
    assert r.status_code == 200, r.text


def _rows(e) -> dict[str, PlateEvidence]:  # noqa: ANN001
    with e.platform.uow() as uow:
        rows = {r.id: r for r in uow.session.scalars(select(PlateEvidence))}
        uow.session.expunge_all()
    return rows


def test_decided_uploads_lose_file_and_plate_and_undecided_or_disputed_ones_keep_them(billing_env):
    e = billing_env(PARKING_PLATE_HASH_KEY=KEY)
    folder = e.platform.settings.data_dir / "plate-evidence"
    job = retention_job(e.platform, RetentionSettings(PARKING_PLATE_HASH_KEY=KEY, PARKING_RETAIN_EVIDENCE_DAYS=30))

    _, h1, *_ = signed_in(e, "苏E31111", agreement=False)
    approved = _upload(e, h1, "苏E31111", PNG + b"one")
    _decide(e, approved, "approve", note="licence shows 苏E31111")
    _, h2, *_ = signed_in(e, "苏E32222", agreement=False)
    pending = _upload(e, h2, "苏E32222", SHARED)  # never reviewed
    _, h3, *_ = signed_in(e, "苏E33333", agreement=False)
    disputed = _upload(e, h3, "苏E33333", PNG + b"three")
    _decide(e, disputed, "reject", note="blurred")
    claimant, *_ = signed_in(e, "苏E39999", agreement=False)
    e.accounts.open_dispute(claimant, "苏E33333", reason="my car", evidence="")
    _, h5, *_ = signed_in(e, "苏E35555", agreement=False)
    shared = _upload(e, h5, "苏E35555", SHARED)  # the same bytes as the pending upload: one file on disk
    _decide(e, shared, "approve")
    rows = _rows(e)
    files = {i: path_of(folder, rows[i].sha256) for i in rows}
    assert all(f.exists() for f in files.values()) and files[pending] == files[shared]

    e.clock.advance(days=29)
    assert job.run(dry_run=True).due["plate_evidence"] == 0  # not yet
    e.clock.advance(days=2)
    dry = job.run(dry_run=True)
    assert dry.due["plate_evidence"] == 2 and all(f.exists() for f in files.values()) and _rows(e)[approved].plate == "苏E31111"

    report = job.run()
    assert report.hashed["plate_evidence"] == 2 and report.files_deleted == {"plate_evidence": 1}
    rows = _rows(e)
    assert not files[approved].exists()  # gone from disk
    assert (rows[approved].plate, rows[approved].note) == (plate_hash(KEY.encode(), "苏E31111"), None)
    assert rows[shared].plate == plate_hash(KEY.encode(), "苏E35555") and files[shared].exists()  # the pending one needs it
    assert (rows[pending].plate, rows[pending].status) == ("苏E32222", "pending")  # undecided: kept
    assert rows[disputed].plate == "苏E33333" and files[disputed].exists()  # its plate is in an open dispute
    r = e.api.get(f"/v1/operator/plate-verifications/{approved}/file", headers=OPERATOR)
    assert r.status_code == 410 and r.json()["code"] == "evidence_gone"

    again = job.run()
    assert again.hashed["plate_evidence"] == 0 and again.files_deleted == {"plate_evidence": 0}

    _decide(e, pending, "reject")  # reviewed at last: its own retention starts now
    e.clock.advance(days=31)
    last = job.run()
    assert last.hashed["plate_evidence"] == 1 and last.files_deleted == {"plate_evidence": 1}
    assert not files[pending].exists() and _rows(e)[pending].plate == plate_hash(KEY.encode(), "苏E32222")
    assert files[disputed].exists()  # the dispute is still open

    with e.platform.uow() as uow:
        audits = [a.after for a in uow.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "privacy.retention").order_by(AuditRecord.id))]
        decisions = [a.after for a in uow.session.scalars(
            select(AuditRecord).where(AuditRecord.action.startswith("plate_verification.")))]
    assert [a["files_deleted"]["plate_evidence"] for a in audits] == [1, 0, 1]
    assert "苏E" not in json.dumps(audits, ensure_ascii=False)
    assert len(decisions) == 4 and {d["plate"] for d in decisions} >= {"苏E·***11", "苏E·***22"}  # masked: the log is for ever
