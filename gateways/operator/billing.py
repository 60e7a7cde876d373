"""Operator gateway for billing: orders and their history, refunds, voiding, monthly passes, the daily
reconciliation against Alipay's bill and per-operator settlement."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from billing.models import MonthlyPass, Order
from billing.orders import OrderNotFound
from gateways.driver.orders import BreakdownLine, OrderRead, OrderStatus, PaymentRead, order_read
from gateways.http.deps import BillingDep, PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.approvals import ApprovalRead, approval_read, approvals_of
from gateways.operator.paging import PageDep
from gateways.operator.permissions import (
    OperatorPrincipal,
    check_action,
    check_read,
    log_refusal,
    lot_for_action,
    lot_for_read,
    operator_for_read,
    readable_lots,
    require_city,
    scope_clause,
)
from gateways.operator.refund_read import RefundRead, refund_read
from parking_core.errors import Forbidden

router = APIRouter(prefix="/v1/operator", tags=["operator billing"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
ORDER = {**AUTH, 404: {"model": ErrorBody, "description": "no such order (or not yours)"},
         403: {"model": ErrorBody, "description": "you may read this order but not act on it (a district, a role too low)"}}


class OperatorOrder(OrderRead):
    account_id: str | None
    operator_id: str
    review: str | None = Field(description="why a person must decide (e.g. a refund after a correction)")
    review_amount_fen: int | None


class OperatorOrderList(BaseModel):
    orders: list[OperatorOrder]
    next_offset: int | None = Field(None, description="pass as `offset` for the next page; null on the last")


class AttemptRead(BaseModel):
    out_trade_no: str
    kind: Literal["withholding", "qr"]
    amount_fen: int
    status: Literal["pending", "paid", "failed", "closed"]
    trade_no: str | None
    failure_reason: str | None
    created_at: datetime


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
    next_offset: int | None = None


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


def _pass(p: MonthlyPass) -> PassRead:
    return PassRead(id=p.id, plate=p.plate, lot_id=p.lot_id, valid_from=p.valid_from, valid_to=p.valid_to, note=p.note,
                    created_by=p.created_by, created_at=p.created_at)


def _missing(order_id: str) -> OrderNotFound:
    return OrderNotFound(f"no order {order_id!r}", field="order_id", value=order_id)


def scoped_order(p, platform, billing, order_id: str, *, act: str | None = None) -> Order:  # noqa: ANN001
    """The order if p may read it (else 404, as for an unknown one); with `act`, 403 unless p may change it with that role."""
    o = billing.orders.get(order_id)
    if act is None:
        check_read(p, platform, lot_id=o.lot_id, operator_id=o.operator_id, missing=_missing(order_id))
    else:
        check_action(p, platform, lot_id=o.lot_id, operator_id=o.operator_id, missing=_missing(order_id), role=act)
    return o


@router.get("/orders", response_model=OperatorOrderList, responses=AUTH)
def orders(p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep, page: PageDep, status: OrderStatus | None = None,
           lot_id: str | None = None, plate: str | None = None,
           review: bool | None = Query(None, description="true: only orders awaiting a decision")) -> OperatorOrderList:
    """Your car parks' orders, newest first (`status=unpaid`, `arrears`, `paying` ... filter them)."""
    from parking_core.plates import normalize_plate

    q = select(Order)
    if (cond := scope_clause(p, platform, lot_column=Order.lot_id, operator_column=Order.operator_id)) is not None:
        q = q.where(cond)
    if lot_id is not None:
        lot_for_read(p, platform, lot_id)
        q = q.where(Order.lot_id == lot_id)
    if status is not None:
        q = q.where(Order.status == status)
    if plate is not None:
        q = q.where(Order.plate == normalize_plate(plate))
    if review is not None:
        q = q.where(Order.review.is_not(None) if review else Order.review.is_(None))
    with platform.uow() as uow:
        found = list(uow.session.scalars(q.order_by(Order.created_at.desc(), Order.id.desc()).offset(page.offset).limit(page.limit)))
        uow.session.expunge_all()  # detached: the closing rollback must not expire them
    return OperatorOrderList(orders=[_operator_order(platform, o) for o in found], next_offset=page.next_offset(len(found)))


@router.get("/orders/{order_id}", response_model=OperatorOrderDetail, responses=ORDER)
def order(order_id: str, p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep) -> OperatorOrderDetail:
    """An order with every attempt, payment, refund and audit line."""
    o = scoped_order(p, platform, billing, order_id)
    return OperatorOrderDetail(
        **_operator_order(platform, o).model_dump(), lines=[BreakdownLine(**line) for line in o.breakdown],
        attempts=[AttemptRead(out_trade_no=a.out_trade_no, kind=a.kind, amount_fen=a.amount_fen, status=a.status, trade_no=a.trade_no,
                              failure_reason=a.failure_reason, created_at=a.created_at) for a in billing.payments.attempts_of(order_id)],
        payments=[PaymentRead(out_trade_no=p.out_trade_no, trade_no=p.trade_no, amount_fen=p.amount_fen, paid_at=p.paid_at)
                  for p in billing.payments.payments_of([order_id])],
        refunds=[refund_read(r) for r in billing.refunds.of_order(order_id)],
        audit=[AuditRead(actor=a.actor, action=a.action, from_status=a.from_status, to_status=a.to_status,
                         old_amount_fen=a.old_amount_fen, new_amount_fen=a.new_amount_fen, reason=a.reason, at=a.at)
               for a in billing.orders.audit_of(order_id)],
    )


@router.post("/orders/{order_id}/refund", response_model=RefundRead | ApprovalRead, status_code=201, responses={
    **ORDER, 200: {"model": RefundRead, "description": "this request_id was already refunded"},
    202: {"model": RefundRead | ApprovalRead,
          "description": "sent, Alipay has not confirmed it yet (repeat the request later); or, above "
                         "PARKING_REFUND_APPROVAL_ABOVE_FEN, an approval (`approval_id`) waiting for another person with role finance"},
    409: {"model": ErrorBody, "description": "more than may be refunded, request_id reused with another amount, or Alipay refused"}})
def refund(order_id: str, body: RefundCreate, p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep,
           response: Response) -> RefundRead | ApprovalRead:
    """Refund all or part of a paid order through Alipay (out_request_no per refund); role staff. A refund that takes
    the order's refunded total above the approval limit waits for a second person (role finance)."""
    scoped_order(p, platform, billing, order_id, act="staff")
    outcome = approvals_of(platform, billing).request(order_id, amount_fen=body.amount_fen, reason=body.reason,
                                                      request_id=body.request_id, actor=p)
    if outcome.approval is not None:
        response.status_code = 202
        return approval_read(outcome.approval)
    row = outcome.refund
    response.status_code = 202 if row.status == "pending" else 201 if outcome.created else 200
    return refund_read(row)


@router.post("/orders/{order_id}/void", response_model=OperatorOrder, responses={
    **ORDER, 409: {"model": ErrorBody, "description": "something was paid, or the order is not open"}})
def void(order_id: str, body: VoidRequest, p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep) -> OperatorOrder:
    """Cancel an order nobody should pay (a misread plate, a test car); role staff. Audited (`order.void`) in the
    void's own transaction (billing/order_tx.py)."""
    scoped_order(p, platform, billing, order_id, act="staff")
    o = billing.orders.void(order_id, actor=p, reason=body.reason)
    return _operator_order(platform, o)


@router.post("/passes", response_model=PassRead, status_code=201, responses={
    **AUTH, 404: {"model": ErrorBody, "description": "no such car park (or not yours)"},
    403: {"model": ErrorBody, "description": "a district, or a role below staff"}, 422: {"model": ErrorBody}})
def add_pass(body: PassCreate, p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep) -> PassRead:
    """A monthly pass: stays of this plate at this car park wholly within the days cost nothing. Role staff. Audited
    (`pass.add`) in the transaction that records it (billing/passes.py)."""
    lot_for_action(p, platform, body.lot_id)
    row = billing.add_pass(plate=body.plate, lot_id=body.lot_id, valid_from=body.valid_from, valid_to=body.valid_to,
                           actor=p, note=body.note)
    return _pass(row)


@router.get("/passes", response_model=PassList, responses=AUTH)
def list_passes(p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep, page: PageDep,
                plate: str | None = None, lot_id: str | None = None) -> PassList:
    """Passes at your car parks."""
    if lot_id is not None:
        lot_for_read(p, platform, lot_id)
    allowed = readable_lots(p, platform)
    rows = [r for r in billing.passes(plate=plate, lot_id=lot_id) if allowed is None or r.lot_id in allowed]
    shown = rows[page.offset:page.offset + page.limit]
    return PassList(passes=[_pass(r) for r in shown], next_offset=page.next_offset(len(shown)))


@router.get("/reconciliation/{day}", response_model=ReconciliationRead, responses={
    **AUTH, 403: {"model": ErrorBody, "description": "the bill covers every operator: only the city reconciles it"},
    502: {"model": ErrorBody, "description": "Alipay refused (e.g. the bill does not exist yet: bills are T+1)"},
    503: {"model": ErrorBody, "description": "Alipay not configured or unreachable"}})
def reconciliation(day: date, p: OperatorPrincipal, billing: BillingDep) -> ReconciliationRead:
    """Alipay's bill of that Shanghai day against the payments and refunds recorded here (the city, role finance)."""
    require_city(p, "finance", what="day", value=day.isoformat(), why="Alipay's bill covers every operator; the city reconciles it")
    return ReconciliationRead(**billing.reconcile(day).to_dict())


@router.get("/settlement/{day}", response_model=SettlementList, responses={
    **AUTH, 403: {"model": ErrorBody, "description": "a district: settlement is per operator (see /v1/operator/figures)"},
    404: {"model": ErrorBody, "description": "operator_id is not yours"}})
def settlement(day: date, p: OperatorPrincipal, billing: BillingDep, platform: PlatformDep,
               operator_id: str | None = Query(None, description="one car-park operator; all you may see when unset")) -> SettlementList:
    """What each operator's car parks took that Shanghai day: payments less refunds, in fen. An operator sees its own."""
    if p.kind == "district":
        log_refusal(p, 403, "operator_id", operator_id)
        raise Forbidden("operator_id: settlement is per operator; a district reads its car parks' daily figures",
                        field="operator_id", value=operator_id)
    if p.kind == "operator":
        operator_id = operator_for_read(p, platform, operator_id) if operator_id is not None else p.org_id
    rows = billing.settlement(day, operator_id=operator_id)
    return SettlementList(day=day, operators=[SettlementRead(operator_id=s.operator_id, payments=s.payments,
                                                             payments_fen=s.payments_fen, refunds=s.refunds,
                                                             refunds_fen=s.refunds_fen, net_fen=s.net_fen) for s in rows])
