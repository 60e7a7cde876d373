"""The retention job: past their retention, plates in the event log, stays and orders become one keyed hash per plate;
an unpaid order and a disputed plate keep theirs; a dry run changes nothing; a second run changes nothing more; the
audit log holds counts, never a plate."""
from __future__ import annotations

import json

from sqlalchemy import select

from billing.models import Order
from gateways.retention_app import retention_job
from parking_core.audit import AuditRecord
from parking_core.models import OccupancyEvent
from parking_core.plate_privacy import is_hashed, plate_hash
from parking_core.retention import RetentionSettings, plate_hash_key
from parking_core.session_models import ParkingSession
from tests.privacy.test_account_deletion import signed_in

KEY = "k" * 40


def snapshot(e) -> tuple[dict, dict, list]:
    with e.platform.uow() as uow:
        db = uow.session
        stays = {s.id: s.plate for s in db.scalars(select(ParkingSession))}
        orders = {o.id: (o.plate, o.status) for o in db.scalars(select(Order))}
        events = sorted((r.id, r.data.get("plate")) for r in db.scalars(select(OccupancyEvent)))
    return stays, orders, events


def test_plates_past_retention_are_hashed_once_and_owed_or_disputed_ones_kept(billing_env):
    e = billing_env(PARKING_PLATE_HASH_KEY=KEY)
    settings = RetentionSettings(PARKING_PLATE_HASH_KEY=KEY, PARKING_RETENTION_BATCH=2)
    a_id, *_ = signed_in(e, "苏E11111", agreement=False)
    settled = [e.stay("苏E11111", minutes=10), e.stay("苏E11111", minutes=5)]  # free: paid at once
    owed = e.stay("苏E11111", minutes=200)  # no agreement: unpaid
    b_id, *_ = signed_in(e, "苏E55555", agreement=False)
    disputed = e.stay("苏E55555", minutes=10)
    c_id, *_ = signed_in(e, "苏E66666", agreement=False)
    e.accounts.open_dispute(c_id, "苏E55555", reason="my car", evidence="licence 苏E55555")
    assert {e.order(o.id).status for o in settled} == {"paid"} and e.order(owed.id).status == "unpaid"

    e.clock.advance(days=100)  # the event log's 90 days are over, the stays' 3 years are not
    job = retention_job(e.platform, settings)
    first = job.run()
    assert first.hashed["events"] == 8 and first.hashed["stays_orders"] == 0
    stays, orders, events = snapshot(e)
    assert all(is_hashed(p) for _, p in events)
    assert {p for _, p in events} == {plate_hash(KEY.encode(), p) for p in ("苏E11111", "苏E55555")}  # same plate, same hash
    assert "苏E11111" in stays.values()

    e.clock.advance(days=3 * 365)
    before = snapshot(e)
    dry = job.run(dry_run=True)
    assert dry.due["stays_orders"] == 2 and set(dry.hashed.values()) == {0}
    assert snapshot(e) == before  # a dry run changes nothing

    report = job.run()
    assert report.hashed["stays_orders"] == 2
    after = stays, orders, _ = snapshot(e)
    h = plate_hash(KEY.encode(), "苏E11111")
    assert [orders[o.id][0] for o in settled] == [h, h] and [stays[o.session_id] for o in settled] == [h, h]
    assert orders[owed.id] == ("苏E11111", "unpaid")  # still owed: found by its plate at the next entry
    assert orders[disputed.id][0] == "苏E55555"  # its plate is in an open dispute

    again = job.run()
    assert set(again.hashed.values()) == {0}
    assert snapshot(e) == after

    with e.platform.uow() as uow:
        audits = [(a.before, a.after) for a in uow.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "privacy.retention").order_by(AuditRecord.id))]
    assert [after["hashed"]["stays_orders"] for _, after in audits] == [0, 2, 0]
    assert "苏E" not in json.dumps(audits, ensure_ascii=False)


def test_the_generated_key_is_kept_so_hashes_stay_the_same(tmp_path):
    settings = RetentionSettings()
    first = plate_hash_key(settings, tmp_path)
    assert plate_hash_key(settings, tmp_path) == first and len(first) >= 32
    assert plate_hash(first, "苏E11111") == plate_hash(plate_hash_key(RetentionSettings(), tmp_path), "苏E11111")
    assert (tmp_path / "plate_hash_key").stat().st_mode & 0o077 == 0
