"""Sign-in by SMS code: a 6-digit code per request (1 a minute, 10 a day per phone), 5 tries, kept only as a
keyed hash; the first good code registers the account."""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from parking_core.account_models import VerificationCode
from parking_core.accounts.records import account_for_phone, serialise
from parking_core.accounts.tokens import IssuedToken
from parking_core.db import UnitOfWork
from parking_core.errors import (
    DependencyUnavailable,
    InvalidInput,
    TooManyRequests,
    Unauthorized,
)
from parking_core.notify import CodeSender, mask_phone

log = logging.getLogger("parking.accounts")

PHONE = re.compile(r"1[3-9]\d{9}")
CODE = re.compile(r"\d{6}")
CODE_TTL = timedelta(minutes=5)
CODE_ATTEMPTS = 5
CODES_PER_MINUTE = 1
CODES_PER_DAY = 10


@dataclass(frozen=True)
class CodeSent:
    phone: str
    expires_at: datetime
    resend_after: datetime


def normalize_phone(raw: str) -> str:
    """'+86 138-0013-8000' -> '13800138000'; InvalidInput unless a mainland mobile number."""
    if not isinstance(raw, str):
        raise InvalidInput(f"phone: expected text, got {type(raw).__name__}", field="phone", value=repr(raw))
    digits = re.sub(r"[\s\-()]", "", raw)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not PHONE.fullmatch(digits):
        raise InvalidInput(f"phone: {raw!r} is not a mainland mobile number (11 digits: 1, then 3-9, then 9 digits)",
                           field="phone", value=raw)
    return digits


class SignInCodes:
    """Part of `Accounts`: codes out, tokens in exchange (through `Tokens._open_session`)."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    sender: CodeSender
    secret: bytes

    def request_code(self, phone: str) -> CodeSent:
        """Send a fresh 6-digit code (older ones stop working), at most 1 a minute and 10 a day per phone."""
        phone = normalize_phone(phone)
        now = self.clock()
        code = f"{secrets.randbelow(10 ** 6):06d}"
        with self.uow() as uow:
            db = uow.session
            serialise(db, f"code:{phone}")
            recent = list(db.scalars(select(VerificationCode.created_at).where(
                VerificationCode.phone == phone, VerificationCode.created_at > now - timedelta(days=1),
            ).order_by(VerificationCode.created_at)))
            last_minute = [t for t in recent if t > now - timedelta(minutes=1)]
            if len(last_minute) >= CODES_PER_MINUTE:
                _too_many(phone, "a minute", last_minute[0] + timedelta(minutes=1) - now)
            if len(recent) >= CODES_PER_DAY:
                _too_many(phone, "a day", recent[0] + timedelta(days=1) - now, limit=CODES_PER_DAY)
            db.execute(delete(VerificationCode).where(VerificationCode.phone == phone,
                                                      VerificationCode.created_at <= now - timedelta(days=1)))
            db.execute(update(VerificationCode).where(VerificationCode.phone == phone, VerificationCode.used.is_(False))
                       .values(used=True))
            db.add(VerificationCode(id=uuid.uuid4().hex, phone=phone, code_hash=self._code_hash(phone, code),
                                    created_at=now, expires_at=now + CODE_TTL, attempts=0, used=False))
            uow.commit()
        try:
            self.sender.send_code(phone, code, expires_at=now + CODE_TTL)
        except Exception as exc:  # the SMS provider is a dependency: its failure is a 503, logged in full
            log.exception("sending a sign-in code to %s failed", mask_phone(phone))
            raise DependencyUnavailable(f"the code could not be sent ({type(exc).__name__}); try again in a minute",
                                        field="phone", value=phone) from exc
        return CodeSent(phone=phone, expires_at=now + CODE_TTL, resend_after=now + timedelta(minutes=1))

    def sign_in(self, phone: str, code: str) -> IssuedToken:
        """Check the code (5 tries), create the account on the first sign-in, and issue a token."""
        phone = normalize_phone(phone)
        if not isinstance(code, str) or not CODE.fullmatch(code.strip()):
            raise InvalidInput("code: must be the 6 digits sent by SMS", field="code")
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            serialise(db, f"code:{phone}")  # tries counted one at a time: never more guesses than CODE_ATTEMPTS
            row = db.scalars(select(VerificationCode).where(
                VerificationCode.phone == phone, VerificationCode.used.is_(False), VerificationCode.expires_at > now,
            ).order_by(VerificationCode.created_at.desc()).limit(1).with_for_update()).first()
            if row is None:
                raise Unauthorized("code: no valid code for this phone (expired, used or never sent); request a new one",
                                   field="code")
            row.attempts += 1
            matches = hmac.compare_digest(row.code_hash, self._code_hash(phone, code.strip()))
            if matches or row.attempts >= CODE_ATTEMPTS:
                row.used = True
            if not matches:
                left = CODE_ATTEMPTS - row.attempts
                uow.commit()  # the failed try must count even though we refuse
                raise Unauthorized(f"code: does not match; {left} tries left" if left else
                                   "code: does not match, and that was the last try; request a new one",
                                   field="code", attempts_left=left)
            account, created = account_for_phone(db, phone, now)
            issued = self._open_session(db, account.id, now, created)
            uow.commit()
        return issued

    def _code_hash(self, phone: str, code: str) -> str:
        """HMAC-SHA256 under a key kept outside the database: a 6-digit code has 20 bits, so no slow hash
        (argon2 included) stops a brute force of a leaked table; a key the leak lacks does, and costs nothing."""
        key = hmac.new(self.secret, b"verification-code", hashlib.sha256).digest()
        return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _too_many(phone: str, window: str, wait: timedelta, limit: int = CODES_PER_MINUTE) -> None:
    seconds = max(1, int(wait.total_seconds() + 0.999))
    raise TooManyRequests(f"phone: at most {limit} code(s) {window}; try again in {seconds} s",
                          field="phone", value=phone, retry_after=seconds)


__all__ = ["CODE_ATTEMPTS", "CODE_TTL", "CodeSent", "SignInCodes", "normalize_phone"]
