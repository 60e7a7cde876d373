"""Signed-in devices: a short-lived JWT access token naming its sign-in, and a refresh token kept only as a hash
and rotated on every use; ending a sign-in ends its tokens at once."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parking_core.account_models import SignInSession
from parking_core.db import UnitOfWork
from parking_core.errors import Unauthorized

ISSUER, AUDIENCE = "city-parking", "driver"


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    account_id: str
    new_account: bool
    refresh_token: str = ""
    refresh_expires_at: datetime | None = None
    token_type: str = "bearer"


class Tokens:
    """Part of `Accounts`: tokens in and out."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    secret: bytes
    token_ttl: timedelta
    refresh_ttl: timedelta

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
        digest = refresh_hash(refresh_token)
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
        row.refresh_hash, row.refreshed_at = refresh_hash(refresh), now
        return IssuedToken(access_token=jwt.encode(claims, self.secret, algorithm="HS256"), expires_at=expires.replace(microsecond=0),
                           account_id=row.account_id, new_account=created, refresh_token=refresh,
                           refresh_expires_at=row.expires_at.replace(microsecond=0))


def refresh_hash(token: str) -> str:
    """A refresh token is 256 random bits: a plain SHA-256 keeps a leaked table from being used."""
    return hashlib.sha256(token.encode()).hexdigest()


__all__ = ["AUDIENCE", "ISSUER", "IssuedToken", "Tokens", "refresh_hash"]
