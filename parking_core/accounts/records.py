"""Account rows as every part of accounts reads them: found or NotFound, created once per phone, and one
writer at a time per key where a check-then-write must hold."""
from __future__ import annotations

import uuid
import zlib
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parking_core.account_models import Account
from parking_core.errors import NotFound


def account_row(db: Session, account_id: str, *, lock: bool = False) -> Account:
    account = db.get(Account, account_id, with_for_update=lock)
    if account is None:
        raise NotFound(f"no account {account_id!r}", field="account_id", value=account_id)
    return account


def account_for_phone(db: Session, phone: str, now: datetime) -> tuple[Account, bool]:
    """The phone's account, created on its first sign-in (a concurrent first sign-in finds the other's row)."""
    found = db.scalars(select(Account).where(Account.phone == phone)).first()
    if found is not None:
        return found, False
    account = Account(id=uuid.uuid4().hex, phone=phone, created_at=now, agreement_status="none")
    try:
        with db.begin_nested():
            db.add(account)
    except IntegrityError:
        return db.scalars(select(Account).where(Account.phone == phone)).one(), False
    return account, True


def serialise(db: Session, key: str) -> None:
    """One transaction at a time per key, until it commits, so a check-then-write (codes sent in
    the last minute, tries left) holds under concurrency. PostgreSQL: an advisory lock on the key.
    SQLite: take the database's write lock now, before the reads (a no-op write as the first
    statement), so a concurrent one waits and then reads what this one wrote."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(zlib.crc32(key.encode()))))
    elif dialect == "sqlite":
        db.execute(text("UPDATE verification_codes SET attempts = attempts WHERE 0"))


def agreement_of(db: Session, account_id: str) -> tuple[str, str | None] | None:
    """(agreement_no, alipay_user_id) when this account's withholding agreement is active, else None: what billing
    needs to charge it, read inside billing's transaction (billing.agreements keeps these columns current)."""
    row = db.execute(select(Account.agreement_no, Account.alipay_user_id).where(
        Account.id == account_id, Account.agreement_status == "active")).first()
    return (row.agreement_no, row.alipay_user_id) if row is not None and row.agreement_no else None
