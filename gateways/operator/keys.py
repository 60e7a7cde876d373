"""Operator gateway: who am I, console sign-in, and API keys an admin issues and revokes for its own organisation."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.http.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, principals_of, readable_lots, require_admin
from parking_core.principal_models import OperatorApiKey

router = APIRouter(prefix="/v1/operator", tags=["operator access"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
ADMIN = {**AUTH, 403: {"model": ErrorBody, "description": "needs role admin"}}


class Me(BaseModel):
    id: str
    kind: Literal["city", "district", "operator"]
    org_id: str
    role: Literal["viewer", "staff", "finance", "admin"]
    name: str
    lots: list[str] | None = Field(description="the car parks you may see; null: every one (the city)")


class SignIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class SessionRead(BaseModel):
    token: str = Field(description="send as X-Operator-Key; shown once")
    expires_at: datetime
    me: Me


class KeyCreate(BaseModel):
    label: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. the gate system's name")
    role: Literal["viewer", "staff", "finance", "admin"] = "viewer"
    valid_days: int = Field(90, ge=1, le=366)


class KeyRead(BaseModel):
    id: str
    label: str
    org_kind: str
    org_id: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None


class KeyIssued(KeyRead):
    key: str = Field(description="the key itself: shown this once, stored only as its SHA-256")


class KeyList(BaseModel):
    keys: list[KeyRead]
    next_offset: int | None = None


def key_read(k: OperatorApiKey) -> KeyRead:
    return KeyRead(id=k.id, label=k.label, org_kind=k.org_kind, org_id=k.org_id, role=k.role, created_at=k.created_at,
                   created_by=k.created_by, expires_at=k.expires_at, revoked_at=k.revoked_at)


def me_of(p, platform) -> Me:  # noqa: ANN001
    lots = readable_lots(p, platform)
    return Me(id=p.id, kind=p.kind, org_id=p.org_id, role=p.role, name=p.name, lots=sorted(lots) if lots is not None else None)


@router.get("/me", response_model=Me, responses=AUTH)
def me(p: OperatorPrincipal, platform: PlatformDep) -> Me:
    return me_of(p, platform)


@router.post("/session", response_model=SessionRead, status_code=201,
             responses={401: {"model": ErrorBody, "description": "username or password is wrong"}})
def sign_in(body: SignIn, platform: PlatformDep) -> SessionRead:
    """Console sign-in: a short-lived token (PARKING_CONSOLE_SESSION_S) to send as X-Operator-Key."""
    token, session, p = principals_of(platform).sign_in(body.username, body.password)
    return SessionRead(token=token, expires_at=session.expires_at, me=me_of(p, platform))


@router.delete("/session", status_code=204, responses=AUTH)
def sign_out(p: OperatorPrincipal, platform: PlatformDep, request: Request) -> Response:
    """End this console session at once (an API key is not ended this way: revoke it)."""
    principals_of(platform).sign_out(request.headers.get("X-Operator-Key", ""))
    return Response(status_code=204)


@router.post("/keys", response_model=KeyIssued, status_code=201, responses=ADMIN)
def issue_key(body: KeyCreate, p: OperatorPrincipal, platform: PlatformDep) -> KeyIssued:
    """A new API key of your own organisation (role admin); the key is in this answer only."""
    require_admin(p, what="role", value=body.role)
    issued = principals_of(platform).issue_key(actor=p, org_kind=p.kind, org_id=p.org_id, role=body.role, label=body.label,
                                               valid_days=body.valid_days)
    return KeyIssued(**key_read(issued.key).model_dump(), key=issued.secret)


@router.get("/keys", response_model=KeyList, responses=ADMIN)
def keys(p: OperatorPrincipal, platform: PlatformDep, page: PageDep) -> KeyList:
    """Your organisation's keys (never the keys themselves), revoked ones too."""
    require_admin(p, what="keys", value=p.org_id)
    shown = principals_of(platform).keys(org=(p.kind, p.org_id))[page.offset:page.offset + page.limit]
    return KeyList(keys=[key_read(k) for k in shown], next_offset=page.next_offset(len(shown)))


@router.post("/keys/{key_id}/revoke", response_model=KeyRead, responses={**ADMIN, 404: {"model": ErrorBody}})
def revoke_key(key_id: str, p: OperatorPrincipal, platform: PlatformDep) -> KeyRead:
    """Revoke at once, in every process (each request checks the database)."""
    require_admin(p, what="key_id", value=key_id)
    return key_read(principals_of(platform).revoke_key(key_id, actor=p, org=(p.kind, p.org_id)))
