"""Principals of the operator API: API keys and console users of the city, a district or an operator,
each with a role. Keys and session tokens are random (256 bits), shown once and kept as SHA-256 (a
high-entropy secret needs no slow hash); passwords are argon2. Every check reads the database, so a
revoked key or session stops working at once in every process."""
from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parking_core.audit import record_audit
from parking_core.db import UnitOfWork, kept
from parking_core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from parking_core.models import District, Operator
from parking_core.principal_models import ConsoleSession, OperatorApiKey, OperatorUser

Kind = Literal["city", "district", "operator"]
Role = Literal["viewer", "staff", "finance", "admin"]
ROLES: tuple[str, ...] = ("viewer", "staff", "finance", "admin")  # each may do what the ones before it may
KINDS: tuple[str, ...] = ("city", "district", "operator")
KEY_PREFIX, SESSION_PREFIX = "opk_", "ocs_"
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")
MIN_PASSWORD = 10
MAX_KEY_DAYS = 366
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("an unguessable placeholder for unknown users")


@dataclass(frozen=True)
class Principal:
    """Who is calling an operator endpoint."""

    id: str  # user id or API key id (never the key)
    kind: Kind
    org_id: str  # "city", a district id or an operator id from the registry
    role: Role
    name: str

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class KeyNotFound(NotFound):
    code = "key_not_found"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInput(f"role: {role!r} is not one of {', '.join(ROLES)}", field="role", value=role)
    return role  # type: ignore[return-value]


def check_org(session: Session, kind: str, org_id: str) -> tuple[Kind, str]:
    """The organisation must exist in the registry (the city is `city`)."""
    if kind not in KINDS:
        raise InvalidInput(f"org_kind: {kind!r} is not one of {', '.join(KINDS)}", field="org_kind", value=kind)
    if kind == "city":
        if org_id != "city":
            raise InvalidInput(f"org_id: the city's id is 'city', not {org_id!r}", field="org_id", value=org_id)
    elif session.get(Operator if kind == "operator" else District, org_id) is None:
        raise InvalidInput(f"org_id: no {kind} {org_id!r} in the registry", field="org_id", value=org_id)
    return kind, org_id  # type: ignore[return-value]


@dataclass(frozen=True)
class IssuedKey:
    key: OperatorApiKey
    secret: str  # shown once


class Principals:
    def __init__(self, *, uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], session_ttl_s: int = 3600) -> None:
        self.uow = uow
        self.clock = clock
        self.session_ttl_s = session_ttl_s

    # API keys
    def issue_key(self, *, actor: Principal, org_kind: str, org_id: str, role: str, label: str,
                  valid_days: int = 90) -> IssuedKey:
        if not 1 <= valid_days <= MAX_KEY_DAYS:
            raise InvalidInput(f"valid_days: {valid_days} is not between 1 and {MAX_KEY_DAYS}", field="valid_days", value=valid_days)
        if not 1 <= len(label) <= 100:
            raise InvalidInput("label: 1 to 100 characters", field="label", value=label[:100])
        role = check_role(role)
        now = self.clock()
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.uow() as uow:
            kind, org = check_org(uow.session, org_kind, org_id)
            row = OperatorApiKey(id="k_" + uuid.uuid4().hex[:16], label=label, org_kind=kind, org_id=org, role=role,
                                 key_hash=digest(secret), created_at=now, created_by=actor.name,
                                 expires_at=now + timedelta(days=valid_days))
            uow.session.add(row)
            record_audit(uow.session, actor=actor, action="key.issue", subject=f"key:{row.id}",
                         operator_id=org if kind == "operator" else None, before=None, after=_key_dict(row), at=now)
            uow.commit()
        return IssuedKey(row, secret)

    def revoke_key(self, key_id: str, *, actor: Principal, org: tuple[str, str] | None = None) -> OperatorApiKey:
        """Revoke now; `org` (kind, id) limits it to that organisation's keys. Revoking twice changes nothing."""
        now = self.clock()
        with self.uow() as uow:
            row = uow.session.get(OperatorApiKey, key_id, with_for_update=True)
            if row is None or (org is not None and (row.org_kind, row.org_id) != org):
                raise KeyNotFound(f"key_id: no key {key_id!r}", field="key_id", value=key_id)
            if row.revoked_at is None:
                before = _key_dict(row)
                row.revoked_at, row.revoked_by = now, actor.name
                record_audit(uow.session, actor=actor, action="key.revoke", subject=f"key:{row.id}",
                             operator_id=row.org_id if row.org_kind == "operator" else None, before=before,
                             after=_key_dict(row), at=now)
                uow.commit()
            return kept(uow.session, row)

    def keys(self, *, org: tuple[str, str] | None = None) -> list[OperatorApiKey]:
        with self.uow() as uow:
            q = select(OperatorApiKey).order_by(OperatorApiKey.created_at, OperatorApiKey.id)
            if org is not None:
                q = q.where(OperatorApiKey.org_kind == org[0], OperatorApiKey.org_id == org[1])
            return kept(uow.session, list(uow.session.scalars(q)))

    # console users
    def add_user(self, *, actor: Principal, username: str, password: str, org_kind: str, org_id: str, role: str) -> OperatorUser:
        if not USERNAME.fullmatch(username):
            raise InvalidInput(f"username: {username!r} must be 3-64 letters, digits or ._@-", field="username", value=username)
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
        role = check_role(role)
        now = self.clock()
        try:
            with self.uow() as uow:
                kind, org = check_org(uow.session, org_kind, org_id)
                row = OperatorUser(id="u_" + uuid.uuid4().hex[:16], username=username, org_kind=kind, org_id=org, role=role,
                                   password_hash=_hasher.hash(password), created_at=now, created_by=actor.name)
                uow.session.add(row)
                record_audit(uow.session, actor=actor, action="user.add", subject=f"user:{row.id}",
                             operator_id=org if kind == "operator" else None, before=None,
                             after={"username": username, "org_kind": kind, "org_id": org, "role": role}, at=now)
                uow.commit()
        except IntegrityError:
            raise Conflict(f"username: {username!r} is taken", field="username", value=username) from None
        return row

    def sign_in(self, username: str, password: str) -> tuple[str, ConsoleSession, Principal]:
        """(token shown once, its session, who); the same 401 for an unknown user and a wrong password."""
        now = self.clock()
        with self.uow() as uow:
            user = uow.session.scalar(select(OperatorUser).where(OperatorUser.username == username))
            try:
                _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
                ok = user is not None and user.disabled_at is None
            except (VerificationError, InvalidHashError):
                ok = False
            if not ok:
                raise Unauthorized("username or password is wrong", field="password")
            token = SESSION_PREFIX + secrets.token_urlsafe(32)
            row = ConsoleSession(id="s_" + uuid.uuid4().hex[:16], user_id=user.id, token_hash=digest(token),
                                 created_at=now, expires_at=now + timedelta(seconds=self.session_ttl_s))
            uow.session.add(row)
            uow.commit()
            return token, row, _user_principal(user)

    def sign_out(self, token: str) -> None:
        with self.uow() as uow:
            row = uow.session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == digest(token)))
            if row is not None and row.revoked_at is None:
                row.revoked_at = self.clock()
                uow.commit()

    def resolve(self, presented: str) -> Principal | None:
        """The principal holding this API key or console token, if it is valid now (read from the database)."""
        now = self.clock()
        h = digest(presented)
        with self.uow() as uow:
            if presented.startswith(SESSION_PREFIX):
                row = uow.session.execute(
                    select(ConsoleSession, OperatorUser).join(OperatorUser, OperatorUser.id == ConsoleSession.user_id)
                    .where(ConsoleSession.token_hash == h)).first()
                if row is None:
                    return None
                s, user = row
                if s.revoked_at is not None or s.expires_at <= now or user.disabled_at is not None:
                    return None
                return _user_principal(user)
            key = uow.session.scalar(select(OperatorApiKey).where(OperatorApiKey.key_hash == h))
            if key is None or key.revoked_at is not None or key.expires_at <= now:
                return None
            return Principal(id=key.id, kind=key.org_kind, org_id=key.org_id, role=key.role, name=key.label)  # type: ignore[arg-type]


def _user_principal(user: OperatorUser) -> Principal:
    return Principal(id=user.id, kind=user.org_kind, org_id=user.org_id, role=user.role, name=user.username)  # type: ignore[arg-type]


def _key_dict(row: OperatorApiKey) -> dict:
    return {"id": row.id, "label": row.label, "org_kind": row.org_kind, "org_id": row.org_id, "role": row.role,
            "expires_at": row.expires_at.isoformat(), "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
