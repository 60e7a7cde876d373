"""Driver gateway: the Alipay withholding agreement (代扣) of the signed-in driver, kept by billing."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateways.driver.auth import CurrentAccount
from gateways.http.deps import AgreementsDep
from gateways.http.errors import ErrorBody

router = APIRouter(prefix="/v1", tags=["driver accounts"])
SIGNED_IN = {401: {"model": ErrorBody, "description": "no valid Bearer token"}}


class AgreementRead(BaseModel):
    status: str = Field(description="none, pending, active or cancelled")
    signed_at: datetime | None


class AgreementStartRequest(BaseModel):
    return_url: str | None = Field(default=None, max_length=500, description="where Alipay sends the driver afterwards")


class AgreementStartRead(BaseModel):
    status: str
    sign_url: str | None = Field(description="open in the Alipay app; null when an agreement already held was adopted")


@router.post("/me/agreement", response_model=AgreementStartRead, responses={
    **SIGNED_IN, 409: {"model": ErrorBody, "description": "already active"},
    503: {"model": ErrorBody, "description": "Alipay not configured or unreachable"}})
def start_agreement(account_id: CurrentAccount, agreements: AgreementsDep,
                    body: AgreementStartRequest | None = None) -> AgreementStartRead:
    """The Alipay page where the driver signs password-free withholding (代扣)."""
    started = agreements.start(account_id, return_url=body.return_url if body else None)
    return AgreementStartRead(status=started.status, sign_url=started.sign_url)


@router.delete("/me/agreement", response_model=AgreementRead, responses=SIGNED_IN)
def cancel_agreement(account_id: CurrentAccount, agreements: AgreementsDep) -> AgreementRead:
    """Stop withholding for this account now (end it in the Alipay app too)."""
    state = agreements.cancel(account_id)
    return AgreementRead(status=state.status, signed_at=state.signed_at)
