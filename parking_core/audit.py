"""The append-only audit log of every change of money or data a person makes: who, when, what, before, after.

Rows are only ever inserted, in the caller's transaction (so an action and its audit row commit together);
the migration adds triggers that refuse UPDATE and DELETE on the table."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from parking_core.models import Base, BigId


class Actor(Protocol):
    id: str
    kind: str
    org_id: str
    name: str


class AuditRecord(Base):
    __tablename__ = "operator_audit"
    __table_args__ = (Index("ix_operator_audit_operator", "operator_id", "id"),
                      Index("ix_operator_audit_actor_org", "actor_org", "id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(100))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_org: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    operator_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # whose data or money it was
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)


def record_audit(session: Session, *, actor: Actor, action: str, subject: str, operator_id: str | None,
                 before: dict[str, Any] | None, after: dict[str, Any] | None, at: datetime) -> None:
    """Append one row in the caller's transaction; `at` must be timezone-aware."""
    session.add(AuditRecord(at=at, actor_id=actor.id, actor_kind=actor.kind, actor_org=actor.org_id,
                            actor_name=getattr(actor, "name", actor.id), action=action, subject=subject,
                            operator_id=operator_id, before=before, after=after))


def audit_rows(session: Session, *, operator_ids: set[str] | None, org_id: str | None, actions: Sequence[str] = (),
               subject: str | None = None, after_id: int | None = None, limit: int = 100) -> list[AuditRecord]:
    """Newest first. `operator_ids` None with `org_id` None: every row (the city); otherwise the rows about
    these operators' data or written by members of `org_id`."""
    q = select(AuditRecord)
    if operator_ids is not None or org_id is not None:
        cond = AuditRecord.actor_org == org_id if org_id is not None else None
        if operator_ids:
            own = AuditRecord.operator_id.in_(sorted(operator_ids))
            cond = own if cond is None else (cond | own)
        q = q.where(cond)
    if actions:
        q = q.where(AuditRecord.action.in_(list(actions)))
    if subject:
        q = q.where(AuditRecord.subject == subject)
    if after_id is not None:
        q = q.where(AuditRecord.id < after_id)
    return list(session.scalars(q.order_by(AuditRecord.id.desc()).limit(limit)))
