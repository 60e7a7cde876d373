"""Operator gateway for billing: orders and their history, refunds, voiding, monthly passes, the daily
reconciliation against Alipay's bill and per-operator settlement."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from billing.models import MonthlyPass, Refund
from gateways.driver.orders import BreakdownLine, OrderRead, OrderStatus, PaymentRead, order_read
from gateways.http.deps import PlatformDep
from gateways.operator.permissions import OperatorUser
from gateways.callbacks.alipay import BillingDep
from gateways.citizen.schemas import ErrorBody

router = APIRouter(prefix="/v1/operator", tags=["operator billing"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
ORDER = {**AUTH, 404: {"model": ErrorBody, "description": "no such order"}}


class OperatorOrder(OrderRead):
    account_id: str | None
    operator_id: str
    review: str | None = Field(description="why a person must decide (e.g. a refund after a correction)")
    review_amount_fen: int | None


class OperatorOrderList(BaseModel):
    orders: list[OperatorOrder]


class AttemptRead(BaseModel):
    out_trade_no: str
    kind: Literal["withholding", "qr"]
    amount_fen: int
    status: Literal["pending", "paid", "failed", "closed"]
    trade_no: str | None
    failure_reason: str | None
    created_at: datetime


class RefundRead(BaseModel):
    request_id: str
    out_request_no: str
    amount_fen: int
    reason: str
    requested_by: str
    status: Literal["pending", "succeeded", "failed"]
    failure_reason: str | None
    created_at: datetime
    completed_at: datetime | None


class AuditRead(BaseModel):
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    old_amount_fen: int | None
    new_amount_fen: int | None
    reason: str
    at: datetime


class OperatorOrderDetail(OperatorOrder):
    lines: list[BreakdownLine]
    attempts: list[AttemptRead]
    payments: list[PaymentRead]
    refunds: list[RefundRead]
    audit: list[AuditRead]


class RefundCreate(BaseModel):
    amount_fen: int = Field(ge=1, description="integer fen; at most what was paid and not yet refunded")
    reason: str = Field(min_length=1, max_length=256)
    request_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$",
                            description="your id for this refund: repeating it returns the same refund")


class VoidRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2_000)


class PassCreate(BaseModel):
    plate: str = Field(max_length=32)
    lot_id: str = Field(max_length=64)
    valid_from: date
    valid_to: date = Field(description="inclusive; Shanghai days")
    note: str = Field(default="", max_length=500)


class PassRead(BaseModel):
    id: int
    plate: str
    lot_id: str
    valid_from: date
    valid_to: date
    note: str
    created_by: str
    created_at: datetime


class PassList(BaseModel):
    passes: list[PassRead]


class LineRead(BaseModel):
    kind: Literal["payment", "refund"]
    out_trade_no: str
    request_no: str
    ours_fen: int | None
    alipay_fen: int | None
    order_id: str | None
    note: str


class UnreadableRead(BaseModel):
    line: int
    column: str
    value: str
    reason: str


class ReconciliationRead(BaseModel):
    day: date
    balanced: bool
    matched: list[LineRead]
    missing_ours: list[LineRead] = Field(description="in Alipay's bill, never recorded here")
    missing_alipay: list[LineRead] = Field(description="recorded here, not in Alipay's bill")
    mismatched: list[LineRead]
    other_day: list[LineRead]
    unreadable: list[UnreadableRead]
    alipay_net_fen: int
    ours_net_fen: int
    service_fee_fen: int


class SettlementRead(BaseModel):
    operator_id: str
    payments: int
    payments_fen: int
    refunds: int
    refunds_fen: int
    net_fen: int


class SettlementList(BaseModel):
    day: date
    operators: list[SettlementRead]


def _operator_order(platform, o) -> OperatorOrder:  # noqa: ANN001
    return OperatorOrder(**order_read(platform, o).model_dump(), account_id=o.account_id, operator_id=o.operator_id,
                         review=o.review, review_amount_fen=o.review_amount_fen)


def _refund(r: Refund) -> RefundRead:
    return RefundRead(request_id=r.request_id, out_request_no=r.out_request_no, amount_fen=r.amount_fen, reason=r.reason,
                      requested_by=r.requested_by, status=r.status, failure_reason=r.failure_reason, created_at=r.created_at,
                      completed_at=r.completed_at)


def _pass(p: MonthlyPass) -> PassRead:
    return PassRead(id=p.id, plate=p.plate, lot_id=p.lot_id, valid_from=p.valid_from, valid_to=p.valid_to, note=p.note,
                    created_by=p.created_by, created_at=p.created_at)


@router.get("/orders", response_model=OperatorOrderList, responses=AUTH)
def orders(operator: OperatorUser, billing: BillingDep, platform: PlatformDep, status: OrderStatus | None = None,
           lot_id: str | None = None, plate: str | None = None,
           review: bool | None = Query(None, description="true: only orders awaiting a decision"),
           limit: int = Query(100, ge=1, le=1000)) -> OperatorOrderList:
    found = billing.orders.listed(status=status, lot_id=lot_id, plate=plate, review=review, limit=limit)
    return OperatorOrderList(orders=[_operator_order(platform, o) for o in found])


@router.get("/orders/{order_id}", response_model=OperatorOrderDetail, responses=ORDER)
def order(order_id: str, operator: OperatorUser, billing: BillingDep, platform: PlatformDep) -> OperatorOrderDetail:
    """An order with every attempt, payment, refund and audit line."""
    o = billing.orders.get(order_id)
    return OperatorOrderDetail(
        **_operator_order(platform, o).model_dump(), lines=[BreakdownLine(**line) for line in o.breakdown],
        attempts=[AttemptRead(out_trade_no=a.out_trade_no, kind=a.kind, amount_fen=a.amount_fen, status=a.status, trade_no=a.trade_no,
                              failure_reason=a.failure_reason, created_at=a.created_at) for a in billing.payments.attempts_of(order_id)],
        payments=[PaymentRead(out_trade_no=p.out_trade_no, trade_no=p.trade_no, amount_fen=p.amount_fen, paid_at=p.paid_at)
                  for p in billing.payments.payments_of([order_id])],
        refunds=[_refund(r) for r in billing.refunds.of_order(order_id)],
        audit=[AuditRead(actor=a.actor, action=a.action, from_status=a.from_status, to_status=a.to_status,
                         old_amount_fen=a.old_amount_fen, new_amount_fen=a.new_amount_fen, reason=a.reason, at=a.at)
               for a in billing.orders.audit_of(order_id)],
    )


@router.post("/orders/{order_id}/refund", response_model=RefundRead, status_code=201, responses={
    **ORDER, 200: {"model": RefundRead, "description": "this request_id was already refunded"},
    202: {"model": RefundRead, "description": "sent; Alipay has not confirmed it yet (repeat the request later)"},
    409: {"model": ErrorBody, "description": "more than may be refunded, request_id reused with another amount, or Alipay refused"}})
def refund(order_id: str, body: RefundCreate, operator: OperatorUser, billing: BillingDep, response: Response) -> RefundRead:
    """Refund all or part of a paid order through Alipay (out_request_no per refund)."""
    row, created = billing.refunds.refund(order_id, amount_fen=body.amount_fen, reason=body.reason, request_id=body.request_id,
                                          operator=operator)
    response.status_code = 202 if row.status == "pending" else 201 if created else 200
    return _refund(row)


@router.post("/orders/{order_id}/void", response_model=OperatorOrder, responses={
    **ORDER, 409: {"model": ErrorBody, "description": "something was paid, or the order is not open"}})
def void(order_id: str, body: VoidRequest, operator: OperatorUser, billing: BillingDep, platform: PlatformDep) -> OperatorOrder:
    """Cancel an order nobody should pay (a misread plate, a test car)."""
    return _operator_order(platform, billing.orders.void(order_id, actor=operator, reason=body.reason))


@router.post("/passes", response_model=PassRead, status_code=201, responses={
    **AUTH, 404: {"model": ErrorBody, "description": "no such car park"}, 422: {"model": ErrorBody}})
def add_pass(body: PassCreate, operator: OperatorUser, billing: BillingDep) -> PassRead:
    """A monthly pass: stays of this plate at this car park wholly within the days cost nothing."""
    return _pass(billing.add_pass(plate=body.plate, lot_id=body.lot_id, valid_from=body.valid_from, valid_to=body.valid_to,
                                  actor=operator, note=body.note))


@router.get("/passes", response_model=PassList, responses=AUTH)
def list_passes(operator: OperatorUser, billing: BillingDep, plate: str | None = None, lot_id: str | None = None) -> PassList:
    return PassList(passes=[_pass(p) for p in billing.passes(plate=plate, lot_id=lot_id)])


@router.get("/reconciliation/{day}", response_model=ReconciliationRead, responses={
    **AUTH, 502: {"model": ErrorBody, "description": "Alipay refused (e.g. the bill does not exist yet: bills are T+1)"},
    503: {"model": ErrorBody, "description": "Alipay not configured or unreachable"}})
def reconciliation(day: date, operator: OperatorUser, billing: BillingDep) -> ReconciliationRead:
    """Alipay's bill of that Shanghai day against the payments and refunds recorded here."""
    return ReconciliationRead(**billing.reconcile(day).to_dict())


@router.get("/settlement/{day}", response_model=SettlementList, responses=AUTH)
def settlement(day: date, operator: OperatorUser, billing: BillingDep,
               operator_id: str | None = Query(None, description="one car-park operator; all when unset")) -> SettlementList:
    """What each operator's car parks took that Shanghai day: payments less refunds, in fen."""
    rows = billing.settlement(day, operator_id=operator_id)
    return SettlementList(day=day, operators=[SettlementRead(operator_id=s.operator_id, payments=s.payments,
                                                             payments_fen=s.payments_fen, refunds=s.refunds,
                                                             refunds_fen=s.refunds_fen, net_fen=s.net_fen) for s in rows])
