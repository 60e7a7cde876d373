"""Driver gateway: sign in by SMS code, bind plates, claim a plate (the agreement: gateways/driver/agreement.py).

Every /v1/me route acts on the caller's own account only; other accounts' plates are never shown.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gateways.driver.agreement import AgreementRead
from gateways.driver.auth import AccountsDep, CurrentAccount
from gateways.http.errors import ErrorBody
from gateways.http.paging import NEXT_CURSOR, CursorPage, cursor_page
from parking_core.account_models import PlateBinding, PlateDispute
from parking_core.accounts import mask_phone

log = logging.getLogger("parking.accounts")
router = APIRouter(prefix="/v1", tags=["driver accounts"])
SIGNED_IN = {401: {"model": ErrorBody, "description": "no valid Bearer token"}}


class CodeRequest(BaseModel):
    phone: str = Field(max_length=32, examples=["13800138000"])


class CodeSentRead(BaseModel):
    phone: str = Field(description="masked")
    expires_at: datetime
    resend_after: datetime


class TokenRequest(BaseModel):
    phone: str = Field(max_length=32)
    code: str = Field(max_length=16, examples=["123456"])


class TokenRead(BaseModel):
    access_token: str = Field(description="send as `Authorization: Bearer …`; short-lived (PARKING_TOKEN_TTL_S)")
    token_type: str
    expires_at: datetime
    account_id: str
    refresh_token: str = Field(description="trade at POST /v1/auth/refresh for new tokens; each works once")
    refresh_expires_at: datetime


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=16, max_length=128)


class SignedOut(BaseModel):
    signed_out: int = Field(description="how many sign-ins were ended")


class PlateCreate(BaseModel):
    plate: str = Field(max_length=32, examples=["苏E12345"])
    color: str | None = Field(default=None, description="blue, green, yellow, white or black")


class PlateRead(BaseModel):
    plate: str
    color: str | None
    bound_at: datetime
    status: Literal["unverified", "verified"] = Field(description="unverified until you prove the car is yours "
                                                      "(POST /v1/me/plates/{plate}/evidence): until then you see what the "
                                                      "plate owes, not where or when it parked")


class PlateList(BaseModel):
    plates: list[PlateRead]
    max_plates: int


class AccountRead(BaseModel):
    account_id: str
    phone: str
    created_at: datetime
    agreement: AgreementRead
    plates: list[PlateRead]
    max_plates: int


class DisputeCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=2_000)
    evidence: str = Field(default="", max_length=20_000, description="e.g. the vehicle licence number, or links to photos")
    color: str | None = None


class DisputeRead(BaseModel):
    id: str
    plate: str
    status: str
    reason: str
    evidence: str
    created_at: datetime
    resolved_at: datetime | None
    resolution_note: str | None


class DisputeList(BaseModel):
    disputes: list[DisputeRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


def _plate(b: PlateBinding) -> PlateRead:
    return PlateRead(plate=b.plate, color=b.color, bound_at=b.bound_at, status=b.status)


def _dispute(d: PlateDispute) -> DisputeRead:
    return DisputeRead(id=d.id, plate=d.plate, status=d.status, reason=d.reason, evidence=d.evidence,
                       created_at=d.created_at, resolved_at=d.resolved_at, resolution_note=d.resolution_note)


@router.post("/auth/code", response_model=CodeSentRead, status_code=202,
             responses={429: {"model": ErrorBody, "description": "codes asked too often; see Retry-After"}})
def request_code(body: CodeRequest, accounts: AccountsDep) -> CodeSentRead:
    """Send a sign-in code by SMS (printed on the console in the embedded demo)."""
    sent = accounts.request_code(body.phone)
    return CodeSentRead(phone=mask_phone(sent.phone), expires_at=sent.expires_at, resend_after=sent.resend_after)


@router.post("/auth/token", response_model=TokenRead, responses=SIGNED_IN)
def issue_token(body: TokenRequest, accounts: AccountsDep) -> TokenRead:
    """Trade the code for an access token; the first sign-in registers the account."""
    return _token(accounts.sign_in(body.phone, body.code))


@router.post("/auth/refresh", response_model=TokenRead, responses={401: {"model": ErrorBody, "description": "refresh token not valid"}})
def refresh_token(body: RefreshRequest, accounts: AccountsDep) -> TokenRead:
    """New tokens for a refresh token (which then stops working: keep the new one)."""
    return _token(accounts.refresh(body.refresh_token))


@router.post("/auth/logout", response_model=SignedOut, responses=SIGNED_IN)
def logout(account_id: CurrentAccount, accounts: AccountsDep, request: Request) -> SignedOut:
    """End this sign-in: its access and refresh tokens stop working at once."""
    return SignedOut(signed_out=accounts.sign_out(_bearer_of(request)))


@router.post("/auth/logout-all", response_model=SignedOut, responses=SIGNED_IN)
def logout_all(account_id: CurrentAccount, accounts: AccountsDep, request: Request) -> SignedOut:
    """End every sign-in of this account, on every phone (a lost phone, a leaked token)."""
    return SignedOut(signed_out=accounts.sign_out(_bearer_of(request), everywhere=True))


def _bearer_of(request: Request) -> str:
    return request.headers.get("authorization", "")[7:].strip()


def _token(t) -> TokenRead:  # noqa: ANN001 - parking_core.accounts.IssuedToken
    return TokenRead(access_token=t.access_token, token_type=t.token_type, expires_at=t.expires_at, account_id=t.account_id,
                     refresh_token=t.refresh_token, refresh_expires_at=t.refresh_expires_at)


@router.get("/me", response_model=AccountRead, responses=SIGNED_IN)
def me(account_id: CurrentAccount, accounts: AccountsDep) -> AccountRead:
    a = accounts.account(account_id)
    return AccountRead(account_id=a.id, phone=a.phone, created_at=a.created_at,
                       agreement=AgreementRead(status=a.agreement_status, signed_at=a.agreement_signed_at),
                       plates=[_plate(b) for b in accounts.plates(account_id)], max_plates=accounts.max_plates)


@router.get("/me/plates", response_model=PlateList, responses=SIGNED_IN)
def my_plates(account_id: CurrentAccount, accounts: AccountsDep) -> PlateList:
    return PlateList(plates=[_plate(b) for b in accounts.plates(account_id)], max_plates=accounts.max_plates)


@router.post("/me/plates", response_model=PlateRead, status_code=201, responses={
    **SIGNED_IN, 200: {"model": PlateRead, "description": "already bound to you"},
    409: {"model": ErrorBody, "description": "plate_bound_elsewhere (open a dispute) or plate_limit_reached"},
    422: {"model": ErrorBody, "description": "not a valid plate; the message says why"}})
def bind_plate(body: PlateCreate, account_id: CurrentAccount, accounts: AccountsDep, response: Response) -> PlateRead:
    """Bind a plate to your account; binding it again changes nothing."""
    binding, created = accounts.bind_plate(account_id, body.plate, body.color)
    if not created:
        response.status_code = 200
    return _plate(binding)


@router.delete("/me/plates/{plate}", status_code=204, responses={**SIGNED_IN, 404: {"model": ErrorBody}})
def unbind_plate(plate: str, account_id: CurrentAccount, accounts: AccountsDep) -> Response:
    accounts.unbind_plate(account_id, plate)
    return Response(status_code=204)


@router.post("/me/plates/{plate}/dispute", response_model=DisputeRead, status_code=201, responses={
    **SIGNED_IN, 200: {"model": DisputeRead, "description": "your open claim to this plate"},
    409: {"model": ErrorBody, "description": "nobody else holds the plate"}})
def open_dispute(plate: str, body: DisputeCreate, account_id: CurrentAccount, accounts: AccountsDep,
                 response: Response) -> DisputeRead:
    """Claim a plate another account holds; an operator decides."""
    dispute, created = accounts.open_dispute(account_id, plate, reason=body.reason, evidence=body.evidence, color=body.color)
    if not created:
        response.status_code = 200
    return _dispute(dispute)


@router.get("/me/disputes", response_model=DisputeList, responses=SIGNED_IN)
def my_disputes(account_id: CurrentAccount, accounts: AccountsDep,
                page: CursorPage = cursor_page("disputes", default=50, maximum=200)) -> DisputeList:
    """The disputes you opened, newest first."""
    shown = page.of(accounts.disputes_of(account_id), key=lambda d: (d.created_at, d.id))
    return DisputeList(disputes=[_dispute(d) for d in shown], next_cursor=page.next_cursor)
