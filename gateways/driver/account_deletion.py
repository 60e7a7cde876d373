"""Driver gateway: DELETE /v1/me, the driver deleting their own account (docs/SECURITY.md, Privacy)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from billing.account_deletion import AccountDeleter
from gateways.driver.auth import CurrentAccount
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from parking_core.retention import load_retention_settings, plate_hash_key

router = APIRouter(prefix="/v1", tags=["driver accounts"])


class DeletionConfirm(BaseModel):
    refresh_token: str = Field(min_length=16, max_length=128, description="this sign-in's current refresh token, as confirmation")


class DeletedRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from the account_deletions row
    account_id: str = Field(description="the anonymous id the kept money records (orders, payments, refunds) still carry")
    deleted_at: datetime
    agreement_unsigned: bool = Field(description="the Alipay withholding agreement was unsigned first")
    bindings_removed: int
    sessions_removed: int = Field(description="sign-ins ended: every token of the account stops working at once")


def get_deleter(platform: PlatformDep) -> AccountDeleter:
    settings = load_retention_settings()
    return AccountDeleter(uow=platform.uow, clock=platform.clock, alipay=platform.alipay,
                          plate_key=lambda: plate_hash_key(settings, platform.settings.data_dir))


@router.delete("/me", response_model=DeletedRead, responses={
    401: {"model": ErrorBody, "description": "no valid Bearer token, or the refresh token is not this sign-in's"},
    409: {"model": ErrorBody, "description": "the account still owes (`value`: the fen owed) or a plate dispute is open"},
    503: {"model": ErrorBody, "description": "Alipay could not confirm the withholding agreement ended; nothing was deleted"}})
def delete_me(account_id: CurrentAccount, body: DeletionConfirm,
              deleter: Annotated[AccountDeleter, Depends(get_deleter)]) -> DeletedRead:
    """Delete my account: phone, plates, agreement reference, sign-ins and codes go; orders, payments and refunds stay
    under the anonymous account id, as the law requires. Refused while anything is owed."""
    return DeletedRead.model_validate(deleter.delete(account_id, refresh_token=body.refresh_token))
