"""Plates bound to accounts: one active holder per plate city-wide, a limit per account, the holder told of
every change. Also the reads billing makes inside its own transaction (who holds a plate, an account's plates)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parking_core.account_models import Account, PlateBinding
from parking_core.accounts.records import account_row
from parking_core.db import UnitOfWork, kept
from parking_core.errors import Conflict, NotFound
from parking_core.notify import Notifier
from parking_core.plates import Plate, normalize_plate, validate_plate


class PlateBoundElsewhere(Conflict):
    code = "plate_bound_elsewhere"


class PlateLimitReached(Conflict):
    code = "plate_limit_reached"


class PlateNotBound(NotFound):
    code = "plate_not_bound"


class PlateBook:
    """Part of `Accounts`: an account and its plates."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    notifier: Notifier
    max_plates: int

    def account(self, account_id: str) -> Account:
        with self.uow() as uow:
            return kept(uow.session, account_row(uow.session, account_id))

    def plates(self, account_id: str) -> list[PlateBinding]:
        with self.uow() as uow:
            return kept(uow.session, plates_of(uow.session, account_id))

    def bind_plate(self, account_id: str, plate: str, color: str | None = None) -> tuple[PlateBinding, bool]:
        """(binding, created): binding a plate this account already holds returns that binding."""
        valid = validate_plate(plate, color)
        with self.uow() as uow:
            binding, created = self._bind(uow.session, account_id, valid, self.clock())
            uow.commit()
        if created:  # the holder hears of every plate that starts to bill their account
            self.notifier.notify(account_id, "plate_bound", f"plate {binding.plate} is now bound to your account",
                                 {"plate": binding.plate, "bound_at": binding.bound_at.isoformat()})
        return binding, created

    def unbind_plate(self, account_id: str, plate: str) -> PlateBinding:
        number = normalize_plate(plate)
        with self.uow() as uow:
            held = active_binding(uow.session, number, lock=True)
            if held is None or held.account_id != account_id:
                raise PlateNotBound(f"plate {number!r} is not bound to your account", field="plate", value=plate)
            unbind(held, self.clock(), "unbound by the driver")
            uow.commit()
        self.notifier.notify(account_id, "plate_unbound", f"plate {held.plate} was removed from your account", {"plate": held.plate})
        return held

    def _bind(self, db: Session, account_id: str, plate: Plate, now: datetime) -> tuple[PlateBinding, bool]:
        account_row(db, account_id, lock=True)  # serialises one account's binds, so the limit holds
        held = active_binding(db, plate.number)
        if held is not None and held.account_id == account_id:
            if plate.color is not None and held.color != plate.color:
                held.color = plate.color
            return held, False
        if held is not None:
            raise bound_elsewhere(plate.number)
        count = db.scalar(select(func.count()).select_from(PlateBinding).where(
            PlateBinding.account_id == account_id, PlateBinding.unbound_at.is_(None)))
        if count >= self.max_plates:
            raise PlateLimitReached(f"an account binds at most {self.max_plates} plates; unbind one first",
                                    field="plate", value=plate.number, limit=self.max_plates)
        binding = PlateBinding(id=uuid.uuid4().hex, account_id=account_id, plate=plate.number, color=plate.color, bound_at=now)
        try:
            with db.begin_nested():
                db.add(binding)
        except IntegrityError:  # another transaction bound it between our check and our insert
            held = active_binding(db, plate.number)
            if held is not None and held.account_id == account_id:
                return held, False
            raise bound_elsewhere(plate.number) from None
        return binding, True


def owner_of(db: Session, plate: str) -> Account | None:
    """The account that holds this plate now, if any (read inside the caller's transaction)."""
    return db.scalars(select(Account).join(PlateBinding, PlateBinding.account_id == Account.id).where(
        PlateBinding.plate == normalize_plate(plate), PlateBinding.unbound_at.is_(None))).first()


def plates_of(db: Session, account_id: str) -> list[PlateBinding]:
    """This account's active bindings, oldest first."""
    return list(db.scalars(select(PlateBinding).where(PlateBinding.account_id == account_id,
                                                      PlateBinding.unbound_at.is_(None)).order_by(PlateBinding.bound_at)))


def active_binding(db: Session, plate: str, *, lock: bool = False) -> PlateBinding | None:
    q = select(PlateBinding).where(PlateBinding.plate == plate, PlateBinding.unbound_at.is_(None))
    return db.scalars(q.with_for_update() if lock else q).first()


def unbind(binding: PlateBinding, now: datetime, reason: str) -> None:
    binding.unbound_at, binding.unbound_reason = now, reason


def bound_elsewhere(plate: str) -> PlateBoundElsewhere:
    return PlateBoundElsewhere(
        f"plate {plate!r} is bound to another account; if it is yours, open a dispute", field="plate", value=plate,
        dispute=f"/v1/me/plates/{plate}/dispute",
    )


__all__ = ["PlateBook", "PlateBoundElsewhere", "PlateLimitReached", "PlateNotBound", "owner_of", "plates_of"]
