"""Claims to a plate another account holds: the claimant opens one (at most one open per plate), an operator
grants it (the plate moves, verified, with its open debts; the former holder is told) or rejects it."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parking_core.account_models import PlateBinding, PlateDispute
from parking_core.accounts.plates import active_binding, unbind
from parking_core.accounts.records import account_row
from parking_core.audit import Actor, actor_of, name_of, record_audit
from parking_core.db import UnitOfWork, kept
from parking_core.errors import Conflict, InvalidInput, NotFound
from parking_core.notify import Notifier
from parking_core.plate_verification import mark_verified
from parking_core.plates import Plate, validate_plate

MAX_REASON, MAX_EVIDENCE = 2_000, 20_000


class DisputeNotFound(NotFound):
    code = "dispute_not_found"


class DisputeClosed(Conflict):
    code = "dispute_closed"


class Disputes:
    """Part of `Accounts`: plate disputes (moving a plate goes through `PlateBook._bind`)."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    notifier: Notifier

    def open_dispute(self, account_id: str, plate: str, *, reason: str, evidence: str = "",
                     color: str | None = None) -> tuple[PlateDispute, bool]:
        """(dispute, created): claim a plate another account holds; an open claim is returned, not repeated."""
        valid = validate_plate(plate, color)
        reason, evidence = _text(reason, "reason", MAX_REASON, required=True), _text(evidence, "evidence", MAX_EVIDENCE)
        with self.uow() as uow:
            db = uow.session
            account_row(db, account_id)
            held = active_binding(db, valid.number)
            if held is None:
                raise Conflict(f"nobody holds plate {valid.number!r}: bind it instead", field="plate", value=plate,
                               reason_code="plate_free")
            if held.account_id == account_id:
                raise Conflict(f"plate {valid.number!r} is already bound to your account", field="plate", value=plate,
                               reason_code="plate_bound_to_you")
            dispute, created = _open_claim(db, account_id, held, valid, reason, evidence, self.clock())
            uow.commit()
        if created:
            self.notifier.notify(held.account_id, "plate_disputed",
                                 f"another driver claims plate {valid.number}; an operator will review it",
                                 {"plate": valid.number, "dispute_id": dispute.id})
        return dispute, created

    def disputes_of(self, account_id: str) -> list[PlateDispute]:
        """The disputes this account opened, newest first."""
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(select(PlateDispute).where(
                PlateDispute.claimant_account_id == account_id).order_by(PlateDispute.created_at.desc()))))

    def disputes(self, status: str | None = None) -> list[PlateDispute]:
        """Every dispute (or those with this status), oldest first: the operator's queue."""
        with self.uow() as uow:
            q = select(PlateDispute).order_by(PlateDispute.created_at, PlateDispute.id)
            if status is not None:
                q = q.where(PlateDispute.status == status)
            return kept(uow.session, list(uow.session.scalars(q)))

    def grant_dispute(self, dispute_id: str, *, operator: str | Actor, note: str = "", operator_id: str | None = None) -> PlateDispute:
        """Move the plate to the claimant: whoever holds it now is unbound, with the dispute named as the reason.
        Audited (`dispute.grant`, naming `operator` and whose car park decided: `operator_id`) in the same transaction."""
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            dispute = _open_dispute(db, dispute_id)
            before, name = _state(dispute), name_of(operator)
            held = active_binding(db, dispute.plate, lock=True)
            if held is not None and held.account_id != dispute.claimant_account_id:
                unbind(held, now, f"dispute {dispute.id} granted to another account by {name}")
                db.flush()  # free the plate before the claimant's row meets the unique index
                previous = held.account_id
            else:
                previous = None
            plate = validate_plate(dispute.plate, dispute.color)
            binding, _ = self._bind(db, dispute.claimant_account_id, plate, now)
            _resolve(dispute, "granted", name, note, now)
            # an operator reviewed the claim: the claimant is the verified owner, and the plate's debts follow
            mark_verified(uow, binding, previous=previous, reason=f"dispute {dispute.id} granted", actor=name, now=now)
            _audit(db, dispute, operator, operator_id, before, now)
            uow.commit()
        data = {"plate": dispute.plate, "dispute_id": dispute.id}
        self.notifier.notify(dispute.claimant_account_id, "dispute_granted", f"plate {dispute.plate} is now bound to you", data)
        if previous is not None:
            self.notifier.notify(previous, "plate_unbound", f"plate {dispute.plate} was moved to another account after review", data)
        return dispute

    def reject_dispute(self, dispute_id: str, *, operator: str | Actor, note: str = "", operator_id: str | None = None) -> PlateDispute:
        """Close the claim; the plate stays where it is. Audited (`dispute.reject`) in the same transaction."""
        now = self.clock()
        with self.uow() as uow:
            dispute = _open_dispute(uow.session, dispute_id)
            before = _state(dispute)
            _resolve(dispute, "rejected", name_of(operator), note, now)
            _audit(uow.session, dispute, operator, operator_id, before, now)
            uow.commit()
        self.notifier.notify(dispute.claimant_account_id, "dispute_rejected", f"your claim to plate {dispute.plate} was rejected",
                             {"plate": dispute.plate, "dispute_id": dispute.id, "note": dispute.resolution_note or ""})
        return dispute


def _text(value: str, name: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text", field=name, value=repr(value))
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{name}: must not be empty", field=name, value=value)
    if len(value) > limit:
        raise InvalidInput(f"{name}: at most {limit} characters, got {len(value)}", field=name, value=value[:40])
    return value


def _open_claim(db: Session, claimant: str, held: PlateBinding, plate: Plate, reason: str, evidence: str,
                now: datetime) -> tuple[PlateDispute, bool]:
    def existing() -> PlateDispute | None:
        return db.scalars(select(PlateDispute).where(PlateDispute.plate == plate.number, PlateDispute.status == "open",
                                                     PlateDispute.claimant_account_id == claimant)).first()

    found = existing()
    if found is not None:
        return found, False
    dispute = PlateDispute(id=uuid.uuid4().hex, plate=plate.number, color=plate.color, claimant_account_id=claimant,
                           holder_account_id=held.account_id, status="open", reason=reason, evidence=evidence, created_at=now)
    try:
        with db.begin_nested():
            db.add(dispute)
    except IntegrityError:
        return existing(), False
    return dispute, True


def _open_dispute(db: Session, dispute_id: str) -> PlateDispute:
    dispute = db.get(PlateDispute, dispute_id, with_for_update=True)
    if dispute is None:
        raise DisputeNotFound(f"no dispute {dispute_id!r}", field="dispute_id", value=dispute_id)
    if dispute.status != "open":
        raise DisputeClosed(f"dispute {dispute_id!r} was already {dispute.status}", field="dispute_id", value=dispute_id)
    return dispute


def _state(dispute: PlateDispute) -> dict:
    return {"status": dispute.status, "holder_account_id": dispute.holder_account_id}


def _audit(db: Session, dispute: PlateDispute, who: str | Actor, operator_id: str | None, before: dict, now: datetime) -> None:
    record_audit(db, actor=actor_of(who), action=f"dispute.{'grant' if dispute.status == 'granted' else 'reject'}",
                 subject=f"dispute:{dispute.id}", operator_id=operator_id, before=before,
                 after={"status": dispute.status, "plate": dispute.plate, "claimant_account_id": dispute.claimant_account_id,
                        "note": dispute.resolution_note}, at=now)


def _resolve(dispute: PlateDispute, status: str, operator: str, note: str, now: datetime) -> None:
    dispute.status, dispute.resolved_at, dispute.resolved_by = status, now, operator
    dispute.resolution_note = _text(note, "note", MAX_REASON)


__all__ = ["DisputeClosed", "DisputeNotFound", "Disputes"]
