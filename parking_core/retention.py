"""Plates kept only as long as billing and disputes need them, then replaced by a keyed hash (docs/SECURITY.md, Privacy).

Each kind of record is a `RetentionPart` (the event log and the accounts' plate history here, vehicle-licence uploads
in parking_core/plate_verification_retention.py; stays and orders, and car parks' stay lists, in billing/retention.py,
which knows when an order is settled). The job hashes in batches of `batch` rows, one transaction each, and appends
one audit row with the counts (never a plate). A hashed plate starts with `#`, which no normalised plate holds, so a
second run finds nothing more to do.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from parking_core.account_models import PlateBinding, PlateDispute
from parking_core.accounts.secret_files import persisted_secret
from parking_core.audit import record_audit
from parking_core.db import UnitOfWork
from parking_core.errors import ConfigError
from parking_core.models import OccupancyEvent
from parking_core.plate_privacy import HASH_MARK, plate_hash
from parking_core.settings import load_validated

log = logging.getLogger("parking.retention")


class RetentionSettings(BaseSettings):
    """How long each kind keeps its plates in the clear; defaults follow docs/SECURITY.md (Privacy)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    events_days: int = Field(default=90, alias="PARKING_RETAIN_EVENTS_DAYS", ge=1, le=36_500)
    records_days: int = Field(default=1095, alias="PARKING_RETAIN_RECORDS_DAYS", ge=30, le=36_500)
    disputes_days: int = Field(default=1095, alias="PARKING_RETAIN_DISPUTES_DAYS", ge=30, le=36_500)
    evidence_days: int = Field(default=90, alias="PARKING_RETAIN_EVIDENCE_DAYS", ge=1, le=36_500)  # from the decision
    stay_lists_days: int = Field(default=180, alias="PARKING_RETAIN_STAY_LISTS_DAYS", ge=30, le=36_500)  # from the list's day
    hour: int = Field(default=3, alias="PARKING_RETENTION_HOUR", ge=-1, le=23)  # Shanghai hour of the daily run; -1 never
    batch: int = Field(default=500, alias="PARKING_RETENTION_BATCH", ge=1, le=100_000)
    hash_key: SecretStr | None = Field(default=None, alias="PARKING_PLATE_HASH_KEY")

    @field_validator("hash_key")
    @classmethod
    def _key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        if len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return v


def load_retention_settings(**overrides: Any) -> RetentionSettings:
    """The settings, or ConfigError naming the bad variable (the key's value never shown)."""
    return load_validated(RetentionSettings, overrides, secret=("KEY",))


def plate_hash_key(settings: RetentionSettings, data_dir: Path) -> bytes:
    """PARKING_PLATE_HASH_KEY, else one random key kept in the data dir: it must never change, or the same
    plate would hash differently before and after."""
    if settings.hash_key is not None:
        return settings.hash_key.get_secret_value().encode()
    key = persisted_secret(data_dir / "plate_hash_key", lambda: secrets.token_hex(32))
    if len(key) < 32:
        raise ConfigError(f"{data_dir / 'plate_hash_key'} holds no usable key: restore it (a new one breaks matching)",
                          field="PARKING_PLATE_HASH_KEY")
    return key.encode()


class Batch(NamedTuple):
    """What one batch did: rows hashed, the last key (where the next batch starts), files deleted from disk."""

    hashed: int
    after: Any
    files: int = 0


class RetentionPart(Protocol):
    """One kind of record: how many rows are due before `cutoff`; hash up to `limit` of them after the key `after`
    (None: from the start), returning how many and the last key, so a run never reads a row twice."""

    kind: str
    setting: str  # the days setting that gives its cutoff

    def due(self, db: Session, cutoff: datetime) -> int: ...

    def hash_batch(self, db: Session, cutoff: datetime, key: bytes, limit: int, after: Any) -> Batch: ...


@dataclass(frozen=True)
class SystemActor:
    """The retention job as the audit log names it."""

    id: str = "system:retention"
    kind: str = "system"
    org_id: str = "city"
    name: str = "retention job"


@dataclass
class RetentionReport:
    """Rows due and rows hashed per kind, files deleted per kind that keeps files; counts only, never a plate."""

    dry_run: bool
    due: dict[str, int] = field(default_factory=dict)
    hashed: dict[str, int] = field(default_factory=dict)
    files_deleted: dict[str, int] = field(default_factory=dict)


def clear_plate(column: Any) -> Any:
    """A plate column still in the clear (set and not yet a hash)."""
    return and_(column.is_not(None), ~column.startswith(HASH_MARK))


class EventLogPart:
    """Plates in `occupancy_events.data` (passages, plate-reading berths), after PARKING_RETAIN_EVENTS_DAYS."""

    kind, setting = "events", "events_days"

    def _where(self, cutoff: datetime) -> Any:
        plate = OccupancyEvent.data["plate"].as_string()
        return and_(OccupancyEvent.ts < cutoff, clear_plate(plate))

    def due(self, db: Session, cutoff: datetime) -> int:
        return db.scalar(select(func.count()).select_from(OccupancyEvent).where(self._where(cutoff))) or 0

    def hash_batch(self, db: Session, cutoff: datetime, key: bytes, limit: int, after: Any) -> tuple[int, Any]:
        q = select(OccupancyEvent.id, OccupancyEvent.data).where(self._where(cutoff))
        rows = db.execute((q if after is None else q.where(OccupancyEvent.id > after)).order_by(OccupancyEvent.id).limit(limit)).all()
        if rows:
            db.execute(update(OccupancyEvent), [{"id": r.id, "data": {**r.data, "plate": plate_hash(key, r.data["plate"])}}
                                                for r in rows])
        return Batch(len(rows), rows[-1].id if rows else after)


class PlateHistoryPart:
    """Ended bindings and decided disputes (the dispute's evidence text goes too), after PARKING_RETAIN_DISPUTES_DAYS."""

    kind, setting = "bindings_disputes", "disputes_days"

    def _bindings(self, cutoff: datetime) -> Any:
        return and_(PlateBinding.unbound_at.is_not(None), PlateBinding.unbound_at < cutoff, clear_plate(PlateBinding.plate))

    def _disputes(self, cutoff: datetime) -> Any:
        return and_(PlateDispute.status != "open", PlateDispute.resolved_at < cutoff,
                    or_(clear_plate(PlateDispute.plate), PlateDispute.evidence != ""))

    def due(self, db: Session, cutoff: datetime) -> int:
        return ((db.scalar(select(func.count()).select_from(PlateBinding).where(self._bindings(cutoff))) or 0)
                + (db.scalar(select(func.count()).select_from(PlateDispute).where(self._disputes(cutoff))) or 0))

    def hash_batch(self, db: Session, cutoff: datetime, key: bytes, limit: int, after: Any) -> tuple[int, Any]:
        done = 0  # what is hashed leaves the selection, so each batch starts from the top
        for row in db.scalars(select(PlateBinding).where(self._bindings(cutoff)).order_by(PlateBinding.id).limit(limit)):
            row.plate, done = plate_hash(key, row.plate), done + 1
        for row in db.scalars(select(PlateDispute).where(self._disputes(cutoff)).order_by(PlateDispute.id).limit(limit - done)):
            row.plate, row.evidence, done = plate_hash(key, row.plate), "", done + 1
        return Batch(done, None)


@dataclass
class RetentionJob:
    """Runs every part: counts in a dry run, otherwise hashes batch by batch and audits the counts."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    settings: RetentionSettings
    key: Callable[[], bytes]
    parts: Sequence[RetentionPart]

    def run(self, *, dry_run: bool = False,
            progress: Callable[[str, int, int], None] | None = None) -> RetentionReport:
        """`progress(kind, done, due)` after each batch (the CLI draws it)."""
        now = self.clock()
        report = RetentionReport(dry_run=dry_run)
        key = b"" if dry_run else self.key()
        for part in self.parts:
            cutoff = now - timedelta(days=getattr(self.settings, part.setting))
            with self.uow() as uow:
                due = report.due[part.kind] = part.due(uow.session, cutoff)
            done, files, after = 0, 0, None
            while not dry_run and done < due:
                with self.uow() as uow:
                    batch = part.hash_batch(uow.session, cutoff, key, self.settings.batch, after)
                    uow.commit()
                if batch.hashed == 0:
                    break
                done, files, after = done + batch.hashed, files + batch.files, batch.after
                if progress is not None:
                    progress(part.kind, done, due)
            report.hashed[part.kind] = done
            if getattr(part, "keeps_files", False):
                report.files_deleted[part.kind] = files
        if not dry_run:
            with self.uow() as uow:
                record_audit(uow.session, actor=SystemActor(), action="privacy.retention", subject="retention",
                             operator_id=None, before={"due": report.due},
                             after={"hashed": report.hashed, "files_deleted": report.files_deleted}, at=now)
                uow.commit()
        log.info("retention%s: due %s, hashed %s, files deleted %s", " (dry run)" if dry_run else "", report.due,
                 report.hashed, report.files_deleted)
        return report


def core_parts() -> list[RetentionPart]:
    """The parts kept in this file (vehicle-licence uploads: parking_core/plate_verification_retention.py)."""
    return [EventLogPart(), PlateHistoryPart()]


__all__ = ["Batch", "EventLogPart", "PlateHistoryPart", "RetentionJob", "RetentionPart", "RetentionReport", "RetentionSettings",
           "SystemActor", "clear_plate", "core_parts", "load_retention_settings", "plate_hash_key"]
