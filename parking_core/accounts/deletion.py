"""Deleting an account: its personal fields go, the account stays as an anonymous id under which the money records
the law requires (orders, payments, refunds) are kept. Runs in the caller's transaction (billing checks first that
nothing is owed and the withholding agreement is unsigned: billing/account_deletion.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from parking_core.account_models import Account, PlateBinding, PlateDispute, SignInSession, VerificationCode
from parking_core.accounts.tokens import refresh_hash
from parking_core.errors import Conflict, Unauthorized
from parking_core.models import Base
from parking_core.plate_privacy import plate_hash

DELETED_PHONE_MARK = "~"  # no mainland number starts with it: nobody can sign in to a deleted account


class AccountDeletion(Base):
    """That an account was deleted, when, and what went (counts only)."""

    __tablename__ = "account_deletions"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    deleted_at: Mapped[datetime]
    agreement_unsigned: Mapped[bool] = mapped_column(Boolean)
    bindings_removed: Mapped[int] = mapped_column(Integer)
    sessions_removed: Mapped[int] = mapped_column(Integer)


class DisputeOpen(Conflict):
    code = "dispute_open"


def is_deleted(db: Session, account_id: str) -> bool:
    return db.get(AccountDeletion, account_id) is not None


def confirm_with_refresh(db: Session, account_id: str, refresh_token: str, now: datetime) -> None:
    """Deletion is confirmed with the caller's current refresh token: an access token alone (a stolen one, an hour
    long) cannot delete an account."""
    row = db.scalars(select(SignInSession).where(SignInSession.refresh_hash == refresh_hash(refresh_token))).first()
    if row is None or row.account_id != account_id or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("refresh_token: not this sign-in's current refresh token; deleting an account needs it as "
                           "confirmation", field="refresh_token")


def erase_personal(db: Session, account: Account, *, now: datetime, key: bytes, agreement_unsigned: bool) -> AccountDeletion:
    """Phone, codes, sign-ins, agreement reference and plates out; bindings kept as history under the plate's keyed
    hash (a dispute over that plate still matches). Refused while a dispute involving the account is open."""
    open_dispute = db.scalars(select(PlateDispute.id).where(PlateDispute.status == "open", or_(
        PlateDispute.claimant_account_id == account.id, PlateDispute.holder_account_id == account.id))).first()
    if open_dispute is not None:
        raise DisputeOpen(f"dispute {open_dispute} involving this account is still open; it can be deleted once an "
                          "operator decides it", field="dispute_id", value=open_dispute)
    db.execute(delete(VerificationCode).where(VerificationCode.phone == account.phone))
    sessions = db.execute(delete(SignInSession).where(SignInSession.account_id == account.id)).rowcount
    bindings = list(db.scalars(select(PlateBinding).where(PlateBinding.account_id == account.id)))
    for row in bindings:
        row.plate = plate_hash(key, row.plate)
        if row.unbound_at is None:
            row.unbound_at, row.unbound_reason = now, "account deleted"
    db.execute(update(PlateDispute).where(PlateDispute.claimant_account_id == account.id).values(evidence=""))
    account.phone = DELETED_PHONE_MARK + account.id[:15]
    account.alipay_user_id = account.agreement_no = account.agreement_signed_at = None
    account.agreement_status = "none"
    record = AccountDeletion(account_id=account.id, deleted_at=now, agreement_unsigned=agreement_unsigned,
                             bindings_removed=len(bindings), sessions_removed=sessions)
    db.add(record)
    return record


__all__ = ["AccountDeletion", "confirm_with_refresh", "DELETED_PHONE_MARK", "DisputeOpen", "erase_personal", "is_deleted"]
