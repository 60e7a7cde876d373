"""Register once, bind plates, settle who holds a plate: the driver's side of 先离场后缴费.

`Accounts` is the one object the gateways use; its parts live in files named for their job (`codes`,
`tokens`, `plates`, `disputes`; `settings` and `secret_files` for configuration). Each method runs one
unit of work and commits it. `owner_of`, `plates_of` and `agreement_of` read inside the caller's
transaction, so billing can use them while it creates an order. The withholding agreement with Alipay is
billing's (billing/agreements.py).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from parking_core.accounts.codes import CodeSent, SignInCodes, normalize_phone
from parking_core.accounts.disputes import DisputeClosed, DisputeNotFound, Disputes
from parking_core.accounts.plates import (
    PlateBook,
    PlateBoundElsewhere,
    PlateLimitReached,
    PlateNotBound,
    owner_of,
    plates_of,
)
from parking_core.accounts.records import agreement_of
from parking_core.accounts.secret_files import jwt_secret, persisted_secret
from parking_core.accounts.settings import AccountSettings, load_account_settings
from parking_core.accounts.tokens import IssuedToken, Tokens
from parking_core.db import UnitOfWork
from parking_core.notify import CodeSender, Notifier, mask_phone


@dataclass
class Accounts(SignInCodes, Tokens, PlateBook, Disputes):
    """Sign-in, tokens, plates and disputes over one database.

    `signing_key` is called on first use only (then kept): a generated key is written to the data dir by
    the first sign-in or token check, never by a command that signs nobody in."""

    uow: Callable[[], UnitOfWork]
    signing_key: Callable[[], bytes]
    sender: CodeSender
    notifier: Notifier
    clock: Callable[[], datetime]
    max_plates: int = 3
    token_ttl: timedelta = timedelta(hours=1)
    refresh_ttl: timedelta = timedelta(days=30)

    @functools.cached_property
    def secret(self) -> bytes:
        return self.signing_key()

    @classmethod
    def from_settings(cls, settings: AccountSettings, *, data_dir: Path, uow: Callable[[], UnitOfWork],
                      clock: Callable[[], datetime], sender: CodeSender, notifier: Notifier) -> Accounts:
        return cls(uow=uow, signing_key=lambda: jwt_secret(settings, data_dir), sender=sender, notifier=notifier, clock=clock,
                   max_plates=settings.max_plates, token_ttl=timedelta(seconds=settings.token_ttl_s),
                   refresh_ttl=timedelta(seconds=settings.refresh_ttl_s))


__all__ = [
    "AccountSettings", "Accounts", "CodeSent", "DisputeClosed", "DisputeNotFound", "IssuedToken", "PlateBoundElsewhere",
    "PlateLimitReached", "PlateNotBound", "agreement_of", "jwt_secret", "load_account_settings", "mask_phone",
    "normalize_phone", "owner_of", "persisted_secret", "plates_of",
]
