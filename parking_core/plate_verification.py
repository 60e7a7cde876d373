"""Proving a plate is yours: a binding stays `unverified` until a `PlateVerifier` says its holder owns the car.

Today one verifier works: the holder uploads the vehicle licence (行驶证) and an operator where the plate has
parked, or the city, approves it (`PlateVerifications.decide`). Alipay's vehicle-owner check has its place
(`AlipayVehicleOwnerCheck`) but is not configured: it never says yes. Approval records `PlateOwnerChanged`, so
billing moves the plate's open debts to the verified owner in the same transaction.

Until verified, an account sees what its plate owes (amount and day) but never where or when the car was
(`verified_plates` is what the driver gateway and billing's notices ask)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.orm import Session

from parking_core.account_models import PlateBinding, PlateEvidence
from parking_core.audit import Actor, record_audit
from parking_core.db import UnitOfWork, kept
from parking_core.errors import Conflict, DependencyUnavailable, NotFound
from parking_core.models import UTCDateTime
from parking_core.notify import Notifier
from parking_core.plate_privacy import mask_plate
from parking_core.plate_verification_events import PlateOwnerChanged
from parking_core.plate_verification_files import load, store
from parking_core.plates import normalize_plate


class PlateVerifier(Protocol):
    """One way of proving ownership. `verify` answers True only on positive proof; a verifier that cannot
    answer raises (never a made-up yes)."""

    name: str

    def configured(self) -> bool: ...

    def verify(self, *, account_id: str, plate: str) -> bool: ...


class VerifierNotConfigured(DependencyUnavailable):
    code = "verifier_not_configured"


@dataclass(frozen=True)
class AlipayVehicleOwnerCheck:
    """Room for Alipay's vehicle-owner check (the driver's Alipay identity against the plate's registered owner).
    Not configured on this platform: it raises rather than guess."""

    name: str = "alipay_vehicle_owner"

    def configured(self) -> bool:
        return False

    def verify(self, *, account_id: str, plate: str) -> bool:
        raise VerifierNotConfigured("plate verification through Alipay's vehicle-owner check is not configured; "
                                    "upload the vehicle licence instead", field="verifier", value=self.name)


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


def verified_plates(db: Session, account_id: str) -> set[str]:
    """Plates this account holds, or held, as their verified owner: only their stays may be shown with place and time."""
    return set(db.scalars(select(PlateBinding.plate).where(PlateBinding.account_id == account_id,
                                                           PlateBinding.status == "verified")))


def is_verified_owner(db: Session, account_id: str, plate: str) -> bool:
    """The account holds this plate now, verified (what automatic withholding asks by default)."""
    return db.scalar(select(PlateBinding.id).where(
        PlateBinding.account_id == account_id, PlateBinding.plate == normalize_plate(plate),
        PlateBinding.unbound_at.is_(None), PlateBinding.status == "verified").limit(1)) is not None


def mark_verified(uow: UnitOfWork, binding: PlateBinding, *, previous: str | None, reason: str, actor: str,
                  now: datetime) -> None:
    """The binding's holder is the plate's verified owner from now; debts follow (PlateOwnerChanged)."""
    binding.status, binding.verified_at, binding.verified_by = "verified", now, actor[:64]
    uow.record(PlateOwnerChanged(binding.plate, binding.account_id, previous, reason, actor, now))


@dataclass
class PlateVerifications:
    """Evidence uploads by holders and the decisions on them."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    notifier: Notifier
    folder: Path
    max_bytes: int

    def submit(self, account_id: str, plate: str, content: bytes) -> tuple[PlateEvidence, bool]:
        """(evidence, created): the same file for the same binding while pending is one submission."""
        number = normalize_plate(plate)
        with self.uow() as uow:
            db = uow.session
            binding = db.scalars(select(PlateBinding).where(PlateBinding.plate == number, PlateBinding.unbound_at.is_(None),
                                                            PlateBinding.account_id == account_id)).first()
            if binding is None:
                raise NotFound(f"plate {number!r} is not bound to your account", field="plate", value=plate,
                               reason_code="plate_not_bound")
            if binding.status == "verified":
                raise Conflict(f"plate {number!r} is already verified as yours", field="plate", value=plate,
                               reason_code="already_verified")
            stored = store(self.folder, content, max_bytes=self.max_bytes)
            found = db.scalars(select(PlateEvidence).where(PlateEvidence.binding_id == binding.id, PlateEvidence.status == "pending",
                                                           PlateEvidence.sha256 == stored.sha256)).first()
            if found is not None:
                return kept(db, found), False
            evidence = PlateEvidence(id=uuid.uuid4().hex, binding_id=binding.id, account_id=account_id, plate=number,
                                     content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                                     status="pending", created_at=self.clock())
            db.add(evidence)
            uow.commit()
        return evidence, True

    def of_account(self, account_id: str, *, limit: int = 100, after: tuple[datetime, str] | None = None) -> list[PlateEvidence]:
        """The account's uploads, newest first (ties by id), below `after` (an upload's time and id)."""
        q = select(PlateEvidence).where(PlateEvidence.account_id == account_id)
        if after is not None:
            when = literal(after[0], UTCDateTime())
            q = q.where(or_(PlateEvidence.created_at < when, and_(PlateEvidence.created_at == when, PlateEvidence.id > after[1])))
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(q.order_by(PlateEvidence.created_at.desc(), PlateEvidence.id)
                                                              .limit(limit))))

    def queue(self, status: str | None = None) -> list[PlateEvidence]:
        """Every submission (or those with this status), oldest first: the reviewers' queue."""
        q = select(PlateEvidence).order_by(PlateEvidence.created_at, PlateEvidence.id)
        with self.uow() as uow:
            return kept(uow.session, list(uow.session.scalars(q.where(PlateEvidence.status == status) if status else q)))

    def get(self, evidence_id: str) -> PlateEvidence:
        with self.uow() as uow:
            found = kept(uow.session, uow.session.get(PlateEvidence, evidence_id))
        if found is None:
            raise EvidenceNotFound(f"no plate verification {evidence_id!r}", field="verification_id", value=evidence_id)
        return found

    def file(self, evidence: PlateEvidence) -> bytes:
        return load(self.folder, evidence.sha256)

    def decide(self, evidence_id: str, *, approve: bool, actor: Actor, operator_id: str | None, note: str = "") -> PlateEvidence:
        """Approve (the holder becomes the verified owner, debts follow) or reject; audited in the same transaction."""
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            evidence = db.get(PlateEvidence, evidence_id, with_for_update=True)
            if evidence is None:
                raise EvidenceNotFound(f"no plate verification {evidence_id!r}", field="verification_id", value=evidence_id)
            if evidence.status != "pending":
                raise Conflict(f"plate verification {evidence_id!r} was already {evidence.status}", field="verification_id",
                               value=evidence_id)
            binding = db.get(PlateBinding, evidence.binding_id, with_for_update=True)
            if approve and binding.unbound_at is not None:
                raise Conflict(f"plate {evidence.plate!r} is no longer bound to that account", field="verification_id",
                               value=evidence_id, reason_code="binding_ended")
            evidence.status, evidence.decided_at, evidence.decided_by = ("approved" if approve else "rejected"), now, actor.id[:64]
            evidence.note = note.strip()[:2_000] or None
            if approve:
                mark_verified(uow, binding, previous=None, reason=f"verification {evidence.id} approved", actor=actor.id, now=now)
            # the append-only audit log outlives retention: it names the plate masked (the row has it until then)
            record_audit(db, actor=actor, action="plate_verification.approve" if approve else "plate_verification.reject",
                         subject=f"plate_verification:{evidence.id}", operator_id=operator_id,
                         before={"status": "pending"},
                         after={"status": evidence.status, "plate": mask_plate(evidence.plate), "account_id": evidence.account_id,
                                "sha256": evidence.sha256, "note": evidence.note}, at=now)
            uow.commit()
        data = {"plate": evidence.plate, "verification_id": evidence.id, "note": evidence.note or ""}
        if approve:
            self.notifier.notify(evidence.account_id, "plate_verified", f"plate {evidence.plate} is verified as yours", data)
        else:
            self.notifier.notify(evidence.account_id, "plate_verification_rejected",
                                 f"your vehicle licence for plate {evidence.plate} was not accepted", data)
        return evidence


__all__ = ["AlipayVehicleOwnerCheck", "EvidenceNotFound", "PlateVerifications", "PlateVerifier", "VerifierNotConfigured",
           "is_verified_owner", "mark_verified", "verified_plates"]
