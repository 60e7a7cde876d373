"""Operator gateway: the refunds of your car parks' orders, newest first (each order's own are in its detail)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from billing.models import Order, Refund
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.paging import PageDep
from gateways.operator.permissions import OperatorPrincipal, scope_clause
from gateways.operator.refund_read import RefundRead, refund_read

router = APIRouter(prefix="/v1/operator", tags=["operator billing"])


class OrderRefund(RefundRead):
    order_id: str
    lot_id: str


class RefundList(BaseModel):
    refunds: list[OrderRefund]
    next_offset: int | None = None


@router.get("/refunds", response_model=RefundList, responses={401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}})
def refunds(p: OperatorPrincipal, platform: PlatformDep, page: PageDep,
            status: Literal["pending", "succeeded", "failed"] | None = None) -> RefundList:
    q = select(Refund, Order.lot_id).join(Order, Order.id == Refund.order_id)
    if (cond := scope_clause(p, platform, lot_column=Order.lot_id, operator_column=Order.operator_id)) is not None:
        q = q.where(cond)
    if status is not None:
        q = q.where(Refund.status == status)
    with platform.uow() as uow:
        rows = uow.session.execute(q.order_by(Refund.created_at.desc(), Refund.id.desc()).offset(page.offset).limit(page.limit)).all()
        out = [OrderRefund(**refund_read(r).model_dump(), order_id=r.order_id, lot_id=lot_id) for r, lot_id in rows]
    return RefundList(refunds=out, next_offset=page.next_offset(len(out)))
