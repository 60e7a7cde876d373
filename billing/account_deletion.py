"""Deleting a driver's account (DELETE /v1/me): refused while it owes anything (409 naming the amount), its Alipay
withholding agreement unsigned first (refused with the reason if Alipay cannot confirm), then its personal fields
erased in one transaction with the account row locked, so an order made meanwhile is seen."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from billing.agreement_unsign import agreement_unsign
from billing.agreements import Agreements
from billing.alipay.errors import AlipayError
from billing.alipay.sdk import AlipayClient
from billing.models import Order
from billing.retention import OWING
from parking_core.account_models import PlateBinding
from parking_core.accounts.deletion import AccountDeletion, confirm_with_refresh, erase_personal, is_deleted
from parking_core.accounts.records import account_row
from parking_core.audit import record_audit
from parking_core.db import UnitOfWork
from parking_core.errors import Conflict, DependencyUnavailable, NotFound

log = logging.getLogger("parking.accounts")


class StillOwes(Conflict):
    code = "account_owes"


@dataclass(frozen=True)
class DriverActor:
    id: str
    kind: str = "driver"
    org_id: str = "drivers"
    name: str = "driver"


def owed_fen(db: Session, account_id: str) -> tuple[int, int]:
    """(fen still owed, orders owing) by the account or on a plate it holds now."""
    plates = select(PlateBinding.plate).where(PlateBinding.account_id == account_id, PlateBinding.unbound_at.is_(None))
    row = db.execute(select(func.coalesce(func.sum(Order.amount_fen - Order.paid_fen), 0), func.count()).where(
        Order.status.in_(OWING), or_(Order.account_id == account_id, Order.plate.in_(plates)))).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class AccountDeleter:
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    alipay: AlipayClient | None
    plate_key: Callable[[], bytes]

    def delete(self, account_id: str, *, refresh_token: str) -> AccountDeletion:
        """Delete the account whose current refresh token confirms it."""
        with self.uow() as uow:
            db = uow.session
            confirm_with_refresh(db, account_id, refresh_token, self.clock())
            if is_deleted(db, account_id):
                raise NotFound("this account was deleted", field="account_id", value=account_id)
            _refuse_if_owing(db, account_id)
            account = account_row(db, account_id)
            agreement_no, status = account.agreement_no, account.agreement_status
        unsigned = False
        if agreement_no and status in ("active", "pending"):
            self._unsign(account_id, agreement_no)
            unsigned = True
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            account = account_row(db, account_id, lock=True)
            _refuse_if_owing(db, account_id)
            erased = erase_personal(db, account, now=now, key=self.plate_key(), agreement_unsigned=unsigned)
            record_audit(db, actor=DriverActor(id=f"driver:{account_id}"), action="account.deleted", subject=account_id,
                         operator_id=None, before=None, after={"agreement_unsigned": unsigned, "bindings_removed":
                         erased.bindings_removed, "sessions_removed": erased.sessions_removed}, at=now)
            uow.commit()
        log.info("account %s deleted (%d bindings, %d sign-ins)", account_id, erased.bindings_removed, erased.sessions_removed)
        return erased

    def _unsign(self, account_id: str, agreement_no: str) -> None:
        """Alipay must confirm the agreement ended before its reference is erased: otherwise nobody could stop it."""
        if self.alipay is None:
            raise DependencyUnavailable("the withholding agreement cannot be unsigned: Alipay is not configured; the account "
                                        "is kept, try again later", field="agreement_status", value="active")
        try:
            agreement_unsign(self.alipay, agreement_no=agreement_no)
        except AlipayError as exc:
            raise DependencyUnavailable(f"the withholding agreement could not be unsigned at Alipay ({exc.code}); the account "
                                        "is kept, try again later", field="agreement_status", value="active") from None
        Agreements(uow=self.uow, clock=self.clock, alipay=self.alipay).cancel(account_id)


def _refuse_if_owing(db: Session, account_id: str) -> None:
    fen, orders = owed_fen(db, account_id)
    if orders:
        raise StillOwes(f"the account owes {fen} fen on {orders} order(s); pay them (GET /v1/me/orders) before deleting it",
                        field="owed_fen", value=fen, orders=orders)


__all__ = ["AccountDeleter", "StillOwes", "owed_fen"]
