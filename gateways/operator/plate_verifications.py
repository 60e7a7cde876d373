"""Operator gateway: reviewing vehicle-licence evidence that a plate's holder owns the car.

Who reviews? Like disputes (gateways/operator/disputes.py): an operator sees, and may decide, the submissions of
plates that parked at its car parks; a district sees those of its car parks and decides nothing; the city sees and
decides all, also for plates never seen parking. Anything outside the caller's scope is 404 (logged), never a hint
that it exists. Each decision is audited in the transaction that makes it."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gateways.citizen.schemas import ErrorBody
from gateways.driver.plate_evidence import EvidenceRead, VerificationsDep, evidence_read
from gateways.http.deps import PlatformDep
from gateways.operator.disputes import _stays_of, _visible
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, Principal, log_refusal, require_role
from parking_core.account_models import PlateEvidence
from parking_core.plate_verification import EvidenceNotFound

router = APIRouter(prefix="/v1/operator", tags=["operator"])
ERRORS = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"},
          403: {"model": ErrorBody, "description": "a district, or a role below staff"},
          404: {"model": ErrorBody, "description": "no such verification, or the plate never parked at your car parks"},
          409: {"model": ErrorBody, "description": "already decided, or the plate was unbound meanwhile"}}
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


class OperatorEvidenceRead(EvidenceRead):
    account_id: str
    decided_by: str | None
    file: str = Field(description="GET this path for the uploaded file (reviewers only)")


class OperatorEvidenceList(BaseModel):
    verifications: list[OperatorEvidenceRead]
    next_offset: int | None = None


class Decision(BaseModel):
    note: str = Field(default="", max_length=2_000, description="why; shown to the driver")


def _read(e: PlateEvidence) -> OperatorEvidenceRead:
    return OperatorEvidenceRead(**evidence_read(e).model_dump(), account_id=e.account_id, decided_by=e.decided_by,
                                file=f"/v1/operator/plate-verifications/{e.id}/file")


def _lots(platform, plate: str) -> set[str]:  # noqa: ANN001
    return _stays_of(platform, {plate}).get(plate, (set(), None))[0]


def _visible_one(p: Principal, platform, verifications, evidence_id: str) -> PlateEvidence:  # noqa: ANN001
    """The submission, or 404 (logged) when unknown or outside p's scope."""
    found = verifications.get(evidence_id)
    if not _visible(p, platform, _lots(platform, found.plate)):
        log_refusal(p, 404, "verification_id", evidence_id)
        raise EvidenceNotFound(f"no plate verification {evidence_id!r}", field="verification_id", value=evidence_id)
    return found


@router.get("/plate-verifications", response_model=OperatorEvidenceList, responses={401: ERRORS[401]})
def queue(p: OperatorPrincipal, platform: PlatformDep, verifications: VerificationsDep, page: PageDep,
          status: Literal["pending", "approved", "rejected"] | None = Query(None)) -> OperatorEvidenceList:
    """Submissions for plates that parked at your car parks, oldest first; `status=pending` is the work queue."""
    every = verifications.queue(status)
    stays = _stays_of(platform, {e.plate for e in every})
    mine = [e for e in every if _visible(p, platform, stays.get(e.plate, (set(), None))[0])]
    shown = mine[page.offset:page.offset + page.limit]
    return OperatorEvidenceList(verifications=[_read(e) for e in shown], next_offset=page.next_offset(len(shown)))


@router.get("/plate-verifications/{verification_id}/file", response_class=Response, responses={
    **ERRORS, 200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}, "description": "the uploaded file"},
    410: {"model": ErrorBody, "description": "the file is gone or changed on disk: not served"}})
def evidence_file(verification_id: str, p: OperatorPrincipal, platform: PlatformDep, verifications: VerificationsDep) -> Response:
    """The uploaded vehicle licence, as sent; never cached, never rendered as anything but its checked type."""
    found = _visible_one(p, platform, verifications, verification_id)
    return Response(verifications.file(found), media_type=found.content_type,
                    headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{found.id}"'})


def _decide(verification_id: str, p: Principal, platform, verifications, approve: bool, note: str) -> OperatorEvidenceRead:  # noqa: ANN001
    _visible_one(p, platform, verifications, verification_id)
    require_role(p, "staff", what="verification_id", value=verification_id)
    return _read(verifications.decide(verification_id, approve=approve, actor=p, note=note,
                                      operator_id=p.org_id if p.kind == "operator" else None))


@router.post("/plate-verifications/{verification_id}/approve", response_model=OperatorEvidenceRead, responses=ERRORS)
def approve(verification_id: str, p: OperatorPrincipal, platform: PlatformDep, verifications: VerificationsDep,
            body: Decision | None = None) -> OperatorEvidenceRead:
    """The holder owns the car: the binding is verified and the plate's open debts move to that account."""
    return _decide(verification_id, p, platform, verifications, True, body.note if body else "")


@router.post("/plate-verifications/{verification_id}/reject", response_model=OperatorEvidenceRead, responses=ERRORS)
def reject(verification_id: str, p: OperatorPrincipal, platform: PlatformDep, verifications: VerificationsDep,
           body: Decision | None = None) -> OperatorEvidenceRead:
    return _decide(verification_id, p, platform, verifications, False, body.note if body else "")
