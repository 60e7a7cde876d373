"""Vehicle-licence uploads past their retention (docs/SECURITY.md, Privacy): PARKING_RETAIN_EVIDENCE_DAYS after the
verification was decided, the file is deleted from the evidence folder and the row keeps only the plate's keyed hash
(the reviewer's note, which may name the plate, is emptied); the decision itself stays on the binding and in the
audit log. Never touched: an upload still waiting for review, or one whose plate has an open dispute.

Files are stored once per content (parking_core/plate_verification_files.py), so the same licence sent twice is one
file: it is deleted only when no upload that still holds its plate in the clear needs it. The file goes inside the
batch's transaction, before the commit: should the commit fail, the row is due again and the next run finds the file
already gone (a missing file is no error), so no file outlives its row's retention."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from parking_core.account_models import PlateDispute, PlateEvidence
from parking_core.plate_privacy import plate_hash
from parking_core.plate_verification_files import path_of
from parking_core.retention import Batch, clear_plate


@dataclass(frozen=True)
class PlateEvidencePart:
    """`plate_evidence` rows and their files in `folder` (PARKING_PLATE_EVIDENCE_DIR)."""

    folder: Path
    kind: str = "plate_evidence"
    setting: str = "evidence_days"
    keeps_files: bool = True

    def _where(self, cutoff: datetime) -> Any:
        disputed = exists().where(PlateDispute.plate == PlateEvidence.plate, PlateDispute.status == "open")
        return and_(PlateEvidence.status != "pending", PlateEvidence.decided_at.is_not(None), PlateEvidence.decided_at < cutoff,
                    clear_plate(PlateEvidence.plate), ~disputed)

    def due(self, db: Session, cutoff: datetime) -> int:
        return db.scalar(select(func.count()).select_from(PlateEvidence).where(self._where(cutoff))) or 0

    def hash_batch(self, db: Session, cutoff: datetime, key: bytes, limit: int, after: Any) -> Batch:
        """What is hashed leaves the selection, so each batch starts from the top."""
        rows = list(db.scalars(select(PlateEvidence).where(self._where(cutoff)).order_by(PlateEvidence.id).limit(limit)
                               .with_for_update(skip_locked=True)))
        for row in rows:
            row.plate, row.note = plate_hash(key, row.plate), None
        db.flush()
        digests = {row.sha256 for row in rows}
        needed = set(db.scalars(select(PlateEvidence.sha256).where(PlateEvidence.sha256.in_(digests),
                                                                    clear_plate(PlateEvidence.plate)))) if digests else set()
        files = 0
        for digest in sorted(digests - needed):
            try:
                path_of(self.folder, digest).unlink()
            except FileNotFoundError:
                continue
            files += 1
        return Batch(len(rows), None, files)


__all__ = ["PlateEvidencePart"]
