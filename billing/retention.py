"""Stays and their orders lose their plates together after PARKING_RETAIN_RECORDS_DAYS, once nothing is owed or
disputed: an unpaid, paying or arrears order, one a person must still decide, one with a refund pending, or a plate
with an open dispute keeps its plate however old it is (arrears are found by plate at the next entry)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from billing.models import Order, Refund
from parking_core.account_models import PlateDispute
from parking_core.plate_privacy import HASH_MARK, plate_hash
from parking_core.retention import RetentionPart, core_parts
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
        return len(stays), stays[-1].id if stays else after


def retention_parts() -> list[RetentionPart]:
    """Every part, in the order the job runs them."""
    return [*core_parts(), StaysOrdersPart()]


__all__ = ["StaysOrdersPart", "retention_parts"]
