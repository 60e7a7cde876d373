"""The append-only audit log of every change of money or data a person makes: who, when, what, before, after.

One mechanism for every such change: the operation that makes it is given the acting person (an `Actor`) and
writes the row itself, through its own session, before it commits (`record_audit`). So the change and its row
commit together or not at all: a crash leaves neither, and a row the log refuses undoes the change
(`AuditNotWritten`, 503) instead of answering an error for a change that happened. The migration adds triggers
that refuse UPDATE and DELETE on the table."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, Index, String, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from parking_core.errors import DependencyUnavailable
from parking_core.models import Base, BigId

log = logging.getLogger("parking.audit")


class Actor(Protocol):
    """Who acts: an operator principal (parking_core/principals.py), a driver, the platform itself, or `Named`."""

    id: str
    kind: str
    org_id: str
    name: str


@dataclass(frozen=True)
class Named:
    """A person known only by a name (a script, a test calling the domain directly): audited under that name,
    in no organisation."""

    name: str
    kind: str = "person"
    org_id: str = ""

    @property
    def id(self) -> str:
        return f"name:{self.name}"


def actor_of(who: str | Actor) -> Actor:
    """The Actor a domain operation audits: the principal it was given, or a `Named` person for a bare name."""
    return Named(who) if isinstance(who, str) else who


def name_of(who: str | Actor) -> str:
    """What the domain's own rows (an order's or a stay's trail, `requested_by`, `created_by`) call who acted."""
    return who if isinstance(who, str) else who.name


class AuditNotWritten(DependencyUnavailable):
    """The audit log refused a row; the change it described is rolled back with it."""

    code = "audit_not_written"


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
                 before: dict[str, Any] | None, after: dict[str, Any] | None, at: datetime) -> AuditRecord:
    """Append one row in the caller's transaction, written at once; `at` must be timezone-aware. The change is
    flushed first (its own errors stay its own); if the log then refuses the row, AuditNotWritten is raised and the
    caller's unit of work, leaving without a commit, rolls the change back with it."""
    session.flush()
    row = AuditRecord(at=at, actor_id=actor.id, actor_kind=actor.kind, actor_org=actor.org_id,
                      actor_name=getattr(actor, "name", actor.id), action=action, subject=subject, operator_id=operator_id,
                      before=to_jsonable_python(before), after=to_jsonable_python(after))
    session.add(row)
    try:
        session.flush()
    except DBAPIError as exc:
        log.error("the audit log refused the %s row of %s (the change is rolled back): %s", action, subject, exc.orig)
        raise AuditNotWritten(f"action: the audit log refused the {action} row of {subject}, so nothing was changed; "
                              "try again once it accepts rows", field="action", value=action, subject=subject) from exc
    return row


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
