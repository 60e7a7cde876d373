"""Monthly passes: a plate's stays at one car park cost nothing on the days its pass covers. Issuing one is a
person's change of money (stays go unbilled): it is audited in the transaction that records it."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import MonthlyPass
from parking_core.audit import Actor, actor_of, name_of, record_audit
from parking_core.clock import local
from parking_core.directory import Directory
from parking_core.errors import InvalidInput, NotFound
from parking_core.plates import normalize_plate


def pass_covers(db: Session, plate: str, lot_id: str, entered_at: datetime, exited_at: datetime) -> bool:
    """A pass of this plate for this lot valid on every Shanghai day of the stay."""
    return db.scalar(select(MonthlyPass.id).where(
        MonthlyPass.plate == plate, MonthlyPass.lot_id == lot_id,
        MonthlyPass.valid_from <= local(entered_at).date(), MonthlyPass.valid_to >= local(exited_at).date()).limit(1)) is not None


def pass_dict(row: MonthlyPass) -> dict:
    """A pass as the audit log (and the operator API) shows it."""
    return {"id": row.id, "plate": row.plate, "lot_id": row.lot_id, "valid_from": row.valid_from, "valid_to": row.valid_to,
            "note": row.note, "created_by": row.created_by, "created_at": row.created_at}


def add_pass(db: Session, *, plate: str, lot_id: str, valid_from: date, valid_to: date, actor: str | Actor, note: str,
             at: datetime, directory: Directory) -> MonthlyPass:
    """Record a monthly pass and its `pass.add` audit row; the lot must exist and the days run forwards."""
    number = normalize_plate(plate)
    if not number:
        raise InvalidInput(f"plate {plate!r} has no letters or digits", field="plate", value=plate)
    lot = directory.get(lot_id)
    if lot is None:
        raise NotFound(f"no car park {lot_id!r}", field="lot_id", value=lot_id)
    if valid_to < valid_from:
        raise InvalidInput(f"valid_to {valid_to} is before valid_from {valid_from}", field="valid_to", value=valid_to.isoformat())
    row = MonthlyPass(plate=number, lot_id=lot_id, valid_from=valid_from, valid_to=valid_to, note=note,
                      created_by=name_of(actor)[:64], created_at=at)
    db.add(row)
    db.flush()
    record_audit(db, actor=actor_of(actor), action="pass.add", subject=f"pass:{row.id}", operator_id=lot.operator,
                 before=None, after=pass_dict(row), at=at)
    return row


def passes(db: Session, *, plate: str | None = None, lot_id: str | None = None) -> list[MonthlyPass]:
    q = select(MonthlyPass)
    if plate:
        q = q.where(MonthlyPass.plate == normalize_plate(plate))
    if lot_id:
        q = q.where(MonthlyPass.lot_id == lot_id)
    return list(db.scalars(q.order_by(MonthlyPass.valid_from.desc(), MonthlyPass.id)))
