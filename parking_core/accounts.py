"""Register once, bind plates, sign the withholding agreement: the driver's side of 先离场后缴费.

`Accounts` methods each run one unit of work and commit it. `owner_of`, `agreement_of` and `plates_of`
read inside the caller's transaction, so billing can use them while it creates an order.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin

import jwt
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.alipay.client import AlipayClient, AlipayRefused, agreement_query, agreement_sign_page_url
from billing.alipay.notify import AlipayNotification, NotificationRejected, verify_notification
from parking_core.account_models import Account, PlateBinding, PlateDispute, SignInSession, VerificationCode
from parking_core.db import UnitOfWork
from parking_core.settings import load_validated
from parking_core.errors import (
    ConfigError,
    Conflict,
    DependencyUnavailable,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from parking_core.notify import CodeSender, Notifier, mask_phone
from parking_core.plates import Plate, normalize_plate, validate_plate

log = logging.getLogger("parking.accounts")
T = TypeVar("T")

PHONE = re.compile(r"1[3-9]\d{9}")
CODE = re.compile(r"\d{6}")
CODE_TTL = timedelta(minutes=5)
CODE_ATTEMPTS = 5
CODES_PER_MINUTE = 1
CODES_PER_DAY = 10
ISSUER, AUDIENCE = "city-parking", "driver"
MAX_REASON, MAX_EVIDENCE = 2_000, 20_000
# Alipay agreement status -> ours. TEMP is a sign that has not completed.
AGREEMENT_STATUS = {"NORMAL": "active", "TEMP": "pending", "STOP": "cancelled"}


class PlateBoundElsewhere(Conflict):
    code = "plate_bound_elsewhere"


class PlateLimitReached(Conflict):
    code = "plate_limit_reached"


class PlateNotBound(NotFound):
    code = "plate_not_bound"


class DisputeNotFound(NotFound):
    code = "dispute_not_found"


class DisputeClosed(Conflict):
    code = "dispute_closed"


class AgreementActive(Conflict):
    code = "agreement_active"


class AccountSettings(BaseSettings):
    """The accounts' knobs, layered like parking_core.settings (defaults < .env < environment)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    jwt_secret: SecretStr | None = Field(default=None, alias="PARKING_JWT_SECRET")
    token_ttl_s: int = Field(default=3600, alias="PARKING_TOKEN_TTL_S", ge=60, le=86_400)  # access tokens: short, refreshed
    refresh_ttl_s: int = Field(default=30 * 86_400, alias="PARKING_REFRESH_TTL_S", ge=3600, le=180 * 86_400)
    max_plates: int = Field(default=3, alias="PARKING_MAX_PLATES", ge=1, le=20)
    operator_keys: SecretStr | None = Field(default=None, alias="PARKING_OPERATOR_KEYS")
    agreement_notify_url: str | None = Field(default=None, alias="ALIPAY_AGREEMENT_NOTIFY_URL")

    @field_validator("jwt_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        if len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (HS256 needs a 256-bit key)")
        return v


def load_account_settings(**overrides) -> AccountSettings:
    """Build the accounts' settings or raise ConfigError naming the bad variable (never echoing a secret)."""
    return load_validated(AccountSettings, overrides, secret=("SECRET", "KEYS"))


def persisted_secret(path: Path, make: Callable[[], str]) -> str:
    """The text in `path`, created once with `make()` (mode 0600, atomically, so two starting processes agree)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(make().strip() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first; use theirs
        finally:
            tmp.unlink()
    return path.read_text(encoding="ascii").strip()


def jwt_secret(settings: AccountSettings, data_dir: Path) -> bytes:
    """PARKING_JWT_SECRET, else one random secret per data dir kept in `jwt_secret`, so tokens survive restarts."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    path = data_dir / "jwt_secret"
    secret = persisted_secret(path, lambda: secrets.token_hex(32))
    if len(secret) < 32:
        raise ConfigError(f"{path} holds no usable secret (under 32 characters): delete it to make a new one",
                          field="PARKING_JWT_SECRET", value=str(path))
    return secret.encode()


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


@dataclass(frozen=True)
class CodeSent:
    phone: str
    expires_at: datetime
    resend_after: datetime


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    account_id: str
    new_account: bool
    refresh_token: str = ""
    refresh_expires_at: datetime | None = None
    token_type: str = "bearer"


@dataclass(frozen=True)
class AgreementStart:
    """`sign_url` is the Alipay page to open; None when Alipay already holds a signed agreement we adopted."""

    status: str
    sign_url: str | None


@dataclass
class Accounts:
    """Sign-in, plates, disputes and the withholding agreement, over one database."""

    uow: Callable[[], UnitOfWork]
    secret: bytes
    sender: CodeSender
    notifier: Notifier
    clock: Callable[[], datetime]
    max_plates: int = 3
    token_ttl: timedelta = timedelta(hours=1)
    refresh_ttl: timedelta = timedelta(days=30)
    alipay: AlipayClient | None = None
    agreement_notify_url: str | None = None

    @classmethod
    def from_settings(cls, settings: AccountSettings, *, data_dir: Path, uow: Callable[[], UnitOfWork],
                      clock: Callable[[], datetime], sender: CodeSender, notifier: Notifier,
                      alipay: AlipayClient | None = None) -> Accounts:
        notify_url = settings.agreement_notify_url
        if notify_url is None and alipay is not None and alipay.settings.notify_url:
            notify_url = urljoin(alipay.settings.notify_url, "agreement-notify")  # sibling of .../alipay/notify
        return cls(uow=uow, secret=jwt_secret(settings, data_dir), sender=sender, notifier=notifier, clock=clock,
                   max_plates=settings.max_plates, token_ttl=timedelta(seconds=settings.token_ttl_s),
                   refresh_ttl=timedelta(seconds=settings.refresh_ttl_s), alipay=alipay,
                   agreement_notify_url=notify_url)

    # -- sign-in --------------------------------------------------------------------------------
    def request_code(self, phone: str) -> CodeSent:
        """Send a fresh 6-digit code (older ones stop working), at most 1 a minute and 10 a day per phone."""
        phone = normalize_phone(phone)
        now = self.clock()
        code = f"{secrets.randbelow(10 ** 6):06d}"
        with self.uow() as uow:
            db = uow.session
            _serialise(db, f"code:{phone}")
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
            _serialise(db, f"code:{phone}")  # tries counted one at a time: never more guesses than CODE_ATTEMPTS
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
            account, created = _account_for(db, phone, now)
            issued = self._open_session(db, account.id, now, created)
            uow.commit()
        return issued

    def account_from_token(self, token: str) -> str:
        """The account id a bearer token was issued to; Unauthorized when forged, expired, signed out or its account is gone."""
        return self.session_of_token(token)[0]

    def session_of_token(self, token: str) -> tuple[str, str]:
        """(account id, sign-in session id) of a valid access token."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["sub", "sid", "exp", "iat"], "verify_exp": False, "verify_iat": False})
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"access token is not valid: {exc}", field="Authorization") from None
        now = self.clock()
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= now.timestamp():
            raise Unauthorized("access token has expired; refresh it (POST /v1/auth/refresh) or sign in again", field="Authorization")
        with self.uow() as uow:
            row = uow.session.get(SignInSession, claims["sid"])
            if row is None or row.account_id != claims["sub"]:
                raise Unauthorized("access token names a sign-in that does not exist (or an account that was deleted)", field="Authorization")
            if row.revoked_at is not None:
                raise Unauthorized("access token was signed out; sign in again", field="Authorization")
        return claims["sub"], claims["sid"]

    def refresh(self, refresh_token: str) -> IssuedToken:
        """A new access token and a new refresh token for a valid refresh token; the old one stops working."""
        now = self.clock()
        digest = _refresh_hash(refresh_token)
        with self.uow() as uow:
            row = uow.session.scalars(select(SignInSession).where(SignInSession.refresh_hash == digest).with_for_update()).first()
            if row is None or row.revoked_at is not None:
                raise Unauthorized("refresh_token: not valid (used already, signed out, or never issued); sign in again", field="refresh_token")
            if row.expires_at <= now:
                raise Unauthorized("refresh_token: expired; sign in again", field="refresh_token")
            issued = self._tokens(row, now, created=False)
            uow.commit()
        return issued

    def sign_out(self, token: str, *, everywhere: bool = False) -> int:
        """End this access token's sign-in (or every sign-in of its account); how many were ended."""
        account_id, sid = self.session_of_token(token)
        now = self.clock()
        with self.uow() as uow:
            q = update(SignInSession).where(SignInSession.account_id == account_id, SignInSession.revoked_at.is_(None))
            if not everywhere:
                q = q.where(SignInSession.id == sid)
            ended = uow.session.execute(q.values(revoked_at=now)).rowcount
            uow.commit()
        return ended

    # -- plates ---------------------------------------------------------------------------------
    def account(self, account_id: str) -> Account:
        with self.uow() as uow:
            return _kept(uow, _account(uow.session, account_id))

    def plates(self, account_id: str) -> list[PlateBinding]:
        with self.uow() as uow:
            return _kept(uow, plates_of(uow.session, account_id))

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
            held = _active_binding(uow.session, number, lock=True)
            if held is None or held.account_id != account_id:
                raise PlateNotBound(f"plate {number!r} is not bound to your account", field="plate", value=plate)
            _unbind(held, self.clock(), "unbound by the driver")
            uow.commit()
        self.notifier.notify(account_id, "plate_unbound", f"plate {held.plate} was removed from your account", {"plate": held.plate})
        return held

    # -- disputes -------------------------------------------------------------------------------
    def open_dispute(self, account_id: str, plate: str, *, reason: str, evidence: str = "",
                     color: str | None = None) -> tuple[PlateDispute, bool]:
        """(dispute, created): claim a plate another account holds; an open claim is returned, not repeated."""
        valid = validate_plate(plate, color)
        reason, evidence = _text(reason, "reason", MAX_REASON, required=True), _text(evidence, "evidence", MAX_EVIDENCE)
        with self.uow() as uow:
            db = uow.session
            _account(db, account_id)
            held = _active_binding(db, valid.number)
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
            return _kept(uow, list(uow.session.scalars(select(PlateDispute).where(
                PlateDispute.claimant_account_id == account_id).order_by(PlateDispute.created_at.desc()))))

    def disputes(self, status: str | None = None) -> list[PlateDispute]:
        """Every dispute (or those with this status), oldest first: the operator's queue."""
        with self.uow() as uow:
            q = select(PlateDispute).order_by(PlateDispute.created_at, PlateDispute.id)
            if status is not None:
                q = q.where(PlateDispute.status == status)
            return _kept(uow, list(uow.session.scalars(q)))

    def grant_dispute(self, dispute_id: str, *, operator: str, note: str = "") -> PlateDispute:
        """Move the plate to the claimant: whoever holds it now is unbound, with the dispute named as the reason."""
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            dispute = _open_dispute(db, dispute_id)
            held = _active_binding(db, dispute.plate, lock=True)
            if held is not None and held.account_id != dispute.claimant_account_id:
                _unbind(held, now, f"dispute {dispute.id} granted to another account by {operator}")
                db.flush()  # free the plate before the claimant's row meets the unique index
                previous = held.account_id
            else:
                previous = None
            plate = validate_plate(dispute.plate, dispute.color)
            self._bind(db, dispute.claimant_account_id, plate, now)
            _resolve(dispute, "granted", operator, note, now)
            uow.commit()
        data = {"plate": dispute.plate, "dispute_id": dispute.id}
        self.notifier.notify(dispute.claimant_account_id, "dispute_granted", f"plate {dispute.plate} is now bound to you", data)
        if previous is not None:
            self.notifier.notify(previous, "plate_unbound", f"plate {dispute.plate} was moved to another account after review", data)
        return dispute

    def reject_dispute(self, dispute_id: str, *, operator: str, note: str = "") -> PlateDispute:
        with self.uow() as uow:
            dispute = _open_dispute(uow.session, dispute_id)
            _resolve(dispute, "rejected", operator, note, self.clock())
            uow.commit()
        self.notifier.notify(dispute.claimant_account_id, "dispute_rejected", f"your claim to plate {dispute.plate} was rejected",
                             {"plate": dispute.plate, "dispute_id": dispute.id, "note": dispute.resolution_note or ""})
        return dispute

    # -- withholding agreement ------------------------------------------------------------------
    def start_agreement(self, account_id: str, *, return_url: str | None = None) -> AgreementStart:
        """The Alipay page where the driver signs password-free withholding; adopts an agreement Alipay already holds."""
        client = self._alipay()
        with self.uow() as uow:
            account = _kept(uow, _account(uow.session, account_id))
        if account.agreement_status == "active":
            raise AgreementActive("the withholding agreement is already active", field="agreement_status", value="active")
        try:
            held = agreement_query(client, external_agreement_no=account.id)
        except AlipayRefused:
            held = None  # Alipay has no agreement under this number yet
        if held is not None and held.status == "NORMAL":
            with self.uow() as uow:
                locked = _account(uow.session, account_id, lock=True)
                _activate(locked, held.agreement_no, held.alipay_user_id, held.sign_time or self.clock())
                uow.commit()
            return AgreementStart(status="active", sign_url=None)
        url = agreement_sign_page_url(client, external_agreement_no=account.id, external_logon_id=mask_phone(account.phone),
                                      notify_url=self.agreement_notify_url, return_url=return_url)
        with self.uow() as uow:
            locked = _account(uow.session, account_id, lock=True)
            if locked.agreement_status != "active":
                locked.agreement_status = "pending"
            uow.commit()
        return AgreementStart(status="pending", sign_url=url)

    def record_agreement_notification(self, form: Mapping[str, str]) -> str:
        """Apply a verified dut_user_sign / dut_user_unsign; returns `recorded` or `unchanged` (a repeat or a stale one).

        Raises NotificationRejected (answer `failure`, nothing changed) when the signature, app, type or account is wrong.
        """
        client = self._alipay()
        note = verify_notification(form, alipay_public_key_pem=client.settings.alipay_public_key_pem,
                                   app_id=client.settings.app_id)
        if note.notify_type not in ("dut_user_sign", "dut_user_unsign") or note.agreement_status not in AGREEMENT_STATUS:
            raise NotificationRejected(f"notify_type {note.notify_type!r} / status {note.agreement_status!r} is not an "
                                       "agreement sign or unsign", kind="bad_field", field="notify_type", value=note.notify_type)
        with self.uow() as uow:
            account = uow.session.get(Account, note.external_agreement_no or "", with_for_update=True)
            if account is None:
                raise NotificationRejected(f"external_agreement_no {note.external_agreement_no!r} is no account here",
                                           kind="unknown_account", field="external_agreement_no",
                                           value=note.external_agreement_no)
            changed = _apply_agreement(account, note, self.clock())
            uow.commit()
        return "recorded" if changed else "unchanged"

    def cancel_agreement(self, account_id: str) -> Account:
        """Stop charging this account at once; the driver ends the agreement itself in the Alipay app."""
        with self.uow() as uow:
            account = _account(uow.session, account_id, lock=True)
            if account.agreement_status in ("active", "pending"):
                account.agreement_status = "cancelled"
            uow.commit()
        return account

    # -- internals ------------------------------------------------------------------------------
    def _bind(self, db: Session, account_id: str, plate: Plate, now: datetime) -> tuple[PlateBinding, bool]:
        _account(db, account_id, lock=True)  # serialises one account's binds, so the limit holds
        held = _active_binding(db, plate.number)
        if held is not None and held.account_id == account_id:
            if plate.color is not None and held.color != plate.color:
                held.color = plate.color
            return held, False
        if held is not None:
            raise _bound_elsewhere(plate.number)
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
            held = _active_binding(db, plate.number)
            if held is not None and held.account_id == account_id:
                return held, False
            raise _bound_elsewhere(plate.number) from None
        return binding, True

    def _open_session(self, db: Session, account_id: str, now: datetime, created: bool) -> IssuedToken:
        row = SignInSession(id=uuid.uuid4().hex, account_id=account_id, refresh_hash="", created_at=now, refreshed_at=now,
                            expires_at=now + self.refresh_ttl)
        db.add(row)
        return self._tokens(row, now, created)

    def _tokens(self, row: SignInSession, now: datetime, created: bool) -> IssuedToken:
        """A short-lived access token naming the sign-in, and a fresh refresh token (kept only as a hash)."""
        expires = now + self.token_ttl
        claims = {"sub": row.account_id, "sid": row.id, "iat": int(now.timestamp()), "exp": int(expires.timestamp()),
                  "iss": ISSUER, "aud": AUDIENCE, "jti": uuid.uuid4().hex}
        refresh = secrets.token_urlsafe(32)
        row.refresh_hash, row.refreshed_at = _refresh_hash(refresh), now
        return IssuedToken(access_token=jwt.encode(claims, self.secret, algorithm="HS256"), expires_at=expires.replace(microsecond=0),
                           account_id=row.account_id, new_account=created, refresh_token=refresh,
                           refresh_expires_at=row.expires_at.replace(microsecond=0))

    def _code_hash(self, phone: str, code: str) -> str:
        """HMAC-SHA256 under a key kept outside the database: a 6-digit code has 20 bits, so no slow hash
        (argon2 included) stops a brute force of a leaked table; a key the leak lacks does, and costs nothing."""
        key = hmac.new(self.secret, b"verification-code", hashlib.sha256).digest()
        return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()

    def _alipay(self) -> AlipayClient:
        if self.alipay is None:
            raise DependencyUnavailable("Alipay is not configured (set ALIPAY_APP_ID and the keys)", field="ALIPAY_APP_ID")
        return self.alipay


# -- reads for billing, inside the caller's transaction ------------------------------------------
def owner_of(db: Session, plate: str) -> Account | None:
    """The account that holds this plate now, if any."""
    return db.scalars(select(Account).join(PlateBinding, PlateBinding.account_id == Account.id).where(
        PlateBinding.plate == normalize_plate(plate), PlateBinding.unbound_at.is_(None))).first()


def agreement_of(db: Session, account_id: str) -> tuple[str, str | None] | None:
    """(agreement_no, alipay_user_id) when this account's withholding agreement is active, else None."""
    row = db.execute(select(Account.agreement_no, Account.alipay_user_id).where(
        Account.id == account_id, Account.agreement_status == "active")).first()
    return (row.agreement_no, row.alipay_user_id) if row is not None and row.agreement_no else None


def plates_of(db: Session, account_id: str) -> list[PlateBinding]:
    """This account's active bindings, oldest first."""
    return list(db.scalars(select(PlateBinding).where(PlateBinding.account_id == account_id,
                                                      PlateBinding.unbound_at.is_(None)).order_by(PlateBinding.bound_at)))


# -- helpers ----------------------------------------------------------------------------------------
def _kept(uow: UnitOfWork, value: T) -> T:
    """Detach what was read, so the unit of work's closing rollback does not expire it."""
    uow.session.expunge_all()
    return value


def _refresh_hash(token: str) -> str:
    """A refresh token is 256 random bits: a plain SHA-256 keeps a leaked table from being used."""
    return hashlib.sha256(token.encode()).hexdigest()


def _serialise(db: Session, key: str) -> None:
    """One transaction at a time per key, until it commits, so a check-then-write (codes sent in
    the last minute, tries left) holds under concurrency. PostgreSQL: an advisory lock on the key.
    SQLite: take the database's write lock now, before the reads (a no-op write as the first
    statement), so a concurrent one waits and then reads what this one wrote."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(zlib.crc32(key.encode()))))
    elif dialect == "sqlite":
        db.execute(text("UPDATE verification_codes SET attempts = attempts WHERE 0"))


def _too_many(phone: str, window: str, wait: timedelta, limit: int = CODES_PER_MINUTE) -> None:
    seconds = max(1, int(wait.total_seconds() + 0.999))
    raise TooManyRequests(f"phone: at most {limit} code(s) {window}; try again in {seconds} s",
                          field="phone", value=phone, retry_after=seconds)


def _account_for(db: Session, phone: str, now: datetime) -> tuple[Account, bool]:
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


def _account(db: Session, account_id: str, *, lock: bool = False) -> Account:
    account = db.get(Account, account_id, with_for_update=lock)
    if account is None:
        raise NotFound(f"no account {account_id!r}", field="account_id", value=account_id)
    return account


def _active_binding(db: Session, plate: str, *, lock: bool = False) -> PlateBinding | None:
    q = select(PlateBinding).where(PlateBinding.plate == plate, PlateBinding.unbound_at.is_(None))
    return db.scalars(q.with_for_update() if lock else q).first()


def _unbind(binding: PlateBinding, now: datetime, reason: str) -> None:
    binding.unbound_at, binding.unbound_reason = now, reason


def _bound_elsewhere(plate: str) -> PlateBoundElsewhere:
    return PlateBoundElsewhere(
        f"plate {plate!r} is bound to another account; if it is yours, open a dispute", field="plate", value=plate,
        dispute=f"/v1/me/plates/{plate}/dispute",
    )


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


def _resolve(dispute: PlateDispute, status: str, operator: str, note: str, now: datetime) -> None:
    dispute.status, dispute.resolved_at, dispute.resolved_by = status, now, operator
    dispute.resolution_note = _text(note, "note", MAX_REASON)


def _activate(account: Account, agreement_no: str, alipay_user_id: str | None, signed_at: datetime) -> None:
    account.agreement_no, account.alipay_user_id = agreement_no, alipay_user_id
    account.agreement_status, account.agreement_signed_at = "active", signed_at


def _apply_agreement(account: Account, note: AlipayNotification, now: datetime) -> bool:
    """True when the notification changed the account. Alipay retries arrive late and out of order, so a repeat,
    a sign replayed after its own stop, and news of an agreement older than the account's change nothing."""
    status = AGREEMENT_STATUS[note.agreement_status]
    same = account.agreement_no == note.agreement_no
    if status == "cancelled":
        if not same or account.agreement_status == "cancelled":
            return False
        account.agreement_status = "cancelled"
        return True
    if status != "active":
        return False  # a sign still in progress: the NORMAL notification follows
    if same and account.agreement_status in ("active", "cancelled"):
        return False
    signed_at = note.sign_time or now
    if not same and account.agreement_signed_at is not None and signed_at < account.agreement_signed_at:
        return False
    _activate(account, note.agreement_no, note.alipay_user_id, signed_at)
    return True


__all__ = [
    "AGREEMENT_STATUS", "AccountSettings", "Accounts", "AgreementActive", "AgreementStart", "CodeSent",
    "DisputeClosed", "DisputeNotFound", "IssuedToken", "PlateBoundElsewhere", "PlateLimitReached", "PlateNotBound",
    "agreement_of", "jwt_secret", "load_account_settings", "mask_phone", "normalize_phone", "owner_of",
    "persisted_secret", "plates_of",
]
