"""Operator gateway: the audit log, each organisation its own rows (about its data, or written by its people); the city all."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import MAX_LIMIT
from gateways.operator.permissions import OperatorPrincipal, readable_operators
from parking_core.audit import AuditRecord, audit_rows

router = APIRouter(prefix="/v1/operator", tags=["operator access"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_id: str
    actor_kind: str
    actor_org: str
    actor_name: str
    action: str
    subject: str
    operator_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: int | None = Field(description="pass as `cursor` for older entries; null on the last page")


def entry(r: AuditRecord) -> AuditEntry:
    return AuditEntry(id=r.id, at=r.at, actor_id=r.actor_id, actor_kind=r.actor_kind, actor_org=r.actor_org,
                      actor_name=r.actor_name, action=r.action, subject=r.subject, operator_id=r.operator_id,
                      before=r.before, after=r.after)


@router.get("/audit", response_model=AuditPage, responses={401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}})
def audit(p: OperatorPrincipal, platform: PlatformDep,
          action: list[str] = Query(default=[], description="only these actions, e.g. refund, order.void"),
          subject: str | None = Query(None, description="e.g. order:<id>"),
          cursor: int | None = Query(None, ge=1, description="the previous page's next_cursor"),
          limit: int = Query(100, ge=1, le=MAX_LIMIT)) -> AuditPage:
    """Newest first. An operator sees what was done to its data and by its people; a district what its people did;
    the city everything."""
    operators = readable_operators(p, platform) if p.kind == "operator" else None
    with platform.uow() as uow:
        rows = audit_rows(uow.session, operator_ids=operators if p.kind == "operator" else None,
                          org_id=None if p.kind == "city" else p.org_id, actions=action, subject=subject,
                          after_id=cursor, limit=limit)
        out = [entry(r) for r in rows]
    return AuditPage(entries=out, next_cursor=out[-1].id if len(out) == limit else None)
