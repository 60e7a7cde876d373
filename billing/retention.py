"""Billing's retention parts. Stays and their orders lose their plates together after PARKING_RETAIN_RECORDS_DAYS, once
nothing is owed or disputed: an unpaid, paying or arrears order, one a person must still decide, one with a refund
pending, or a plate with an open dispute keeps its plate however old it is (arrears are found by plate at the next
entry). Car parks' stay lists (their CSV passages, billing/reconciliation_stays.py) lose theirs after
PARKING_RETAIN_STAY_LISTS_DAYS from the list's day, long after that day's reconciliation closed."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from billing.models import Order, Refund
from billing.reconciliation_models import StayList, StayListLine
from parking_core.account_models import PlateDispute
from parking_core.clock import local
from parking_core.plate_privacy import HASH_MARK, plate_hash
from parking_core.plate_verification_retention import PlateEvidencePart
from parking_core.retention import Batch, RetentionPart, clear_plate, core_parts
from parking_core.session_models import ParkingSession, SessionAudit

OWING = ("unpaid", "paying", "arrears")
ENDED = ("closed", "void", "unmatched")


class StaysOrdersPart:
    """`parking_sessions.plate`/`exit_plate`, plate corrections in `session_audit`, and `orders.plate`, in one transaction."""

    kind, setting = "stays_orders", "records_days"

    def _where(self, cutoff: datetime) -> Any:
        S = ParkingSession
        open_case = exists().where(Order.session_id == S.id, or_(
            Order.status.in_(OWING), Order.review.is_not(None),
            exists().where(Refund.order_id == Order.id, Refund.status == "pending")))
        disputed = exists().where(PlateDispute.plate == S.plate, PlateDispute.status == "open")
        return and_(S.status.in_(ENDED), func.coalesce(S.exited_at, S.updated_at) < cutoff,
                    ~S.plate.startswith(HASH_MARK), ~open_case, ~disputed)

    def due(self, db: Session, cutoff: datetime) -> int:
        return db.scalar(select(func.count()).select_from(ParkingSession).where(self._where(cutoff))) or 0

    def hash_batch(self, db: Session, cutoff: datetime, key: bytes, limit: int, after: Any) -> tuple[int, Any]:
        q = select(ParkingSession).where(self._where(cutoff))
        stays = list(db.scalars((q if after is None else q.where(ParkingSession.id > after)).order_by(ParkingSession.id)
                                .limit(limit).with_for_update(skip_locked=True)))
        for stay in stays:
            stay.plate = plate_hash(key, stay.plate)
            if stay.exit_plate:
                stay.exit_plate = plate_hash(key, stay.exit_plate)
            for line in db.scalars(select(SessionAudit).where(SessionAudit.session_id == stay.id, SessionAudit.field.in_(("plate", "exit_plate")))):
                line.old = plate_hash(key, line.old) if line.old else line.old
                line.new = plate_hash(key, line.new) if line.new else line.new
            db.execute(update(Order).where(Order.session_id == stay.id).values(plate=stay.plate))
        return Batch(len(stays), stays[-1].id if stays else after)


class StayListPart:
    """`stay_list_lines.plate` of lists whose day is PARKING_RETAIN_STAY_LISTS_DAYS old (Shanghai days); a line whose
    plate has an open dispute keeps it. The list's counts, times and directions stay, so it can still be compared
    (billing/reconciliation_stays.py hashes the platform's side alike)."""

    kind, setting = "stay_lists", "stay_lists_days"

    def _where(self, cutoff: datetime) -> Any:
        old = select(StayList.id).where(StayList.day < local(cutoff).date())
        disputed = exists().where(PlateDispute.plate == StayListLine.plate, PlateDispute.status == "open")
        return and_(StayListLine.list_id.in_(old), clear_plate(StayListLine.plate), ~disputed)

    def due(self, db: Session, cutoff: datetime) -> int:
        return db.scalar(select(func.count()).select_from(StayListLine).where(self._where(cutoff))) or 0

    def hash_batch(self, db: Session, cutoff: datetime, key: bytes, limit: int, after: Any) -> Batch:
        q = select(StayListLine.id, StayListLine.plate).where(self._where(cutoff))
        rows = db.execute((q if after is None else q.where(StayListLine.id > after)).order_by(StayListLine.id).limit(limit)).all()
        if rows:
            db.execute(update(StayListLine), [{"id": r.id, "plate": plate_hash(key, r.plate)} for r in rows])
        return Batch(len(rows), rows[-1].id if rows else after)


def retention_parts(evidence_folder: Path) -> list[RetentionPart]:
    """Every part, in the order the job runs them; `evidence_folder`: where licence uploads are (PARKING_PLATE_EVIDENCE_DIR)."""
    return [*core_parts(), PlateEvidencePart(evidence_folder), StaysOrdersPart(), StayListPart()]


__all__ = ["StayListPart", "StaysOrdersPart", "retention_parts"]
