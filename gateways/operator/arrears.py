"""Operator gateway: what a plate owes, for the car park's barrier or its staff (the same facts the platform
publishes on `{prefix}/lots/{lot_id}/arrears` when such a plate enters). Arrears are recovered anywhere on the
platform, so the count and total cover the whole city; which car park an order is from is shown only for yours."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateways.http.deps import BillingDep, PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.permissions import OperatorPrincipal, in_scope

router = APIRouter(prefix="/v1/operator", tags=["operator billing"])


class OwedOrder(BaseModel):
    id: str
    lot_id: str | None = Field(description="null when the car park is not yours")
    status: str
    owed_fen: int
    exited_at: datetime
    due_at: datetime


class PlateArrearsRead(BaseModel):
    plate: str
    count: int
    total_fen: int
    orders: list[OwedOrder]


@router.get("/plates/{plate}/arrears", response_model=PlateArrearsRead,
            responses={401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}})
def plate_arrears(plate: str, p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep) -> PlateArrearsRead:
    """Orders in arrears and unpaid orders past due for this plate (normalised), oldest first."""
    owed = billing.arrears(plate)
    return PlateArrearsRead(plate=owed.plate, count=owed.count, total_fen=owed.total_fen, orders=[
        OwedOrder(id=o.id, lot_id=o.lot_id if in_scope(p, platform, lot_id=o.lot_id, operator_id=o.operator_id) else None,
                  status=o.status, owed_fen=o.amount_fen - o.paid_fen, exited_at=o.exited_at, due_at=o.due_at)
        for o in owed.orders])
