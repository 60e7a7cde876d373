"""Driver gateway: proving a plate is yours by uploading the vehicle licence (行驶证), reviewed by an operator
(gateways/operator/plate_verifications.py). The file is never served back to the driver or anyone but reviewers."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Response, UploadFile
from pydantic import BaseModel, Field

from gateways.citizen.schemas import ErrorBody
from gateways.driver.auth import CurrentAccount
from gateways.http.deps import PlatformDep
from gateways.http.paging import NEXT_CURSOR, CursorPage, cursor_page
from parking_core.account_models import PlateEvidence
from parking_core.plate_verification import PlateVerifications
from parking_core.plate_verification_settings import evidence_folder, load_plate_verification_settings

router = APIRouter(prefix="/v1/me", tags=["driver accounts"])
SIGNED_IN = {401: {"model": ErrorBody, "description": "no valid Bearer token"}}


def get_verifications(platform: PlatformDep) -> PlateVerifications:
    """Plate verification over the platform's database; evidence kept in PARKING_PLATE_EVIDENCE_DIR (outside the web root)."""
    s = load_plate_verification_settings()
    return PlateVerifications(uow=platform.uow, clock=platform.clock, notifier=platform.accounts.notifier,
                              folder=evidence_folder(s, platform.settings.data_dir), max_bytes=s.evidence_max_bytes)


VerificationsDep = Annotated[PlateVerifications, Depends(get_verifications)]


class EvidenceRead(BaseModel):
    id: str
    plate: str
    status: Literal["pending", "approved", "rejected"]
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    decided_at: datetime | None
    note: str | None


class EvidenceList(BaseModel):
    verifications: list[EvidenceRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


def evidence_read(e: PlateEvidence) -> EvidenceRead:
    return EvidenceRead(id=e.id, plate=e.plate, status=e.status, content_type=e.content_type, size=e.size, sha256=e.sha256,
                        created_at=e.created_at, decided_at=e.decided_at, note=e.note)


@router.post("/plates/{plate}/evidence", response_model=EvidenceRead, status_code=201, responses={
    **SIGNED_IN, 200: {"model": EvidenceRead, "description": "this file is already waiting for review"},
    404: {"model": ErrorBody, "description": "the plate is not bound to your account"},
    409: {"model": ErrorBody, "description": "already verified"},
    413: {"model": ErrorBody, "description": "larger than PARKING_PLATE_EVIDENCE_MAX_BYTES"},
    422: {"model": ErrorBody, "description": "not a JPEG, PNG or PDF (judged by the content)"}})
def upload_evidence(plate: str, account_id: CurrentAccount, verifications: VerificationsDep, response: Response,
                    file: UploadFile = File(description="a photo (JPEG, PNG) or PDF scan of the vehicle licence")) -> EvidenceRead:
    """Send the vehicle licence of a plate bound to you; an operator where the car parks (or the city) reviews it.
    Until it is approved you see and pay what the plate owes, but not where or when the car parked."""
    content = file.file.read(verifications.max_bytes + 1)
    evidence, created = verifications.submit(account_id, plate, content)
    if not created:
        response.status_code = 200
    return evidence_read(evidence)


@router.get("/plate-verifications", response_model=EvidenceList, responses=SIGNED_IN)
def my_verifications(account_id: CurrentAccount, verifications: VerificationsDep,
                     page: CursorPage = cursor_page("verifications", default=50, maximum=200)) -> EvidenceList:
    """Your uploads and their review, newest first (the files themselves are not served back)."""
    shown = page.cut(verifications.of_account(account_id, limit=page.fetch, after=page.after), key=lambda e: (e.created_at, e.id))
    return EvidenceList(verifications=[evidence_read(e) for e in shown], next_cursor=page.next_cursor)
