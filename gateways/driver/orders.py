"""Driver gateway for billing: my stays, my orders, paying one by QR code, my receipts. Only the caller's own
data: another driver's order answers 404, as an order that does not exist (nothing tells a driver what exists).

Lists page by cursor, newest first (gateways/http/paging.py): `limit`, `cursor` = the previous answer's `next_cursor`
(also its `Link: rel="next"` header), so an order made while a driver pages through neither repeats nor hides one.

Place and time are shown only for plates the caller owns verified (parking_core/plate_verification.py): an order
of a plate not yet verified shows its amount and day, no car park, no times; its stays are not listed at all."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from billing.models import Order
from billing.orders import SETTLED, OrderNotFound, kept
from gateways.driver.auth import CurrentAccount
from gateways.http.deps import BillingDep, PlatformDep
from gateways.http.errors import ErrorBody
from gateways.http.paging import NEXT_CURSOR, CursorPage, cursor_page
from parking_core.clock import local
from parking_core.errors import Forbidden
from parking_core.plate_verification import verified_plates

router = APIRouter(prefix="/v1/me", tags=["driver billing"])
OrderStatus = Literal["unpaid", "paying", "paid", "arrears", "refunded", "partially_refunded", "void"]
SIGNED_IN = {401: {"model": ErrorBody, "description": "no valid Bearer token"}}
MINE = {**SIGNED_IN, 404: {"model": ErrorBody, "description": "no such order of yours"}}


@contextmanager
def _only_mine(order_id: str) -> Iterator[None]:
    """Another driver's order is 404 like a missing one (issue 12 §8), not the 403 that confirms it exists."""
    try:
        yield
    except Forbidden:
        raise OrderNotFound(f"no order {order_id!r}", field="order_id", value=order_id) from None


class OrderRead(BaseModel):
    id: str
    session_id: str | None = Field(description="null while the plate is not verified as yours, like every place and time")
    lot_id: str | None
    lot_name: str | None
    plate: str
    status: OrderStatus
    amount_fen: int
    paid_fen: int
    refunded_fen: int
    owed_fen: int = Field(description="what is still to pay")
    day: date = Field(description="the day the stay ended (Shanghai)")
    details_hidden: bool = Field(False, description="true: the plate is not verified as yours, so where and when are not shown")
    tariff_id: str | None
    tariff_version: int | None
    entered_at: datetime | None
    exited_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    failure_reason: str | None


class OrderList(BaseModel):
    orders: list[OrderRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


class BreakdownLine(BaseModel):
    label: str
    start: datetime
    end: datetime
    units: int
    fen: int


class PaymentRead(BaseModel):
    out_trade_no: str
    trade_no: str
    amount_fen: int
    paid_at: datetime


class OrderDetail(OrderRead):
    lines: list[BreakdownLine]
    payments: list[PaymentRead]


class ReceiptList(BaseModel):
    receipts: list[OrderDetail]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


class SessionOrder(BaseModel):
    id: str
    status: OrderStatus
    amount_fen: int


class SessionRead(BaseModel):
    id: str
    lot_id: str
    lot_name: str | None
    plate: str
    status: Literal["open", "closed", "unmatched"]
    entered_at: datetime | None
    exited_at: datetime | None
    order: SessionOrder | None


class SessionList(BaseModel):
    sessions: list[SessionRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR)


class QrPay(BaseModel):
    order_id: str
    out_trade_no: str
    qr_code: str = Field(description="show as a QR code; scanning it in Alipay pays the order")
    amount_fen: int


def _lot_name(platform, lot_id: str) -> str | None:  # noqa: ANN001
    lot = platform.directory.get(lot_id)
    return lot.name if lot else None


def order_read(platform, o: Order, *, shown: bool = True) -> OrderRead:  # noqa: ANN001
    owed = max(0, o.amount_fen - o.paid_fen) if o.status not in ("void",) else 0
    money = dict(id=o.id, plate=o.plate, status=o.status, amount_fen=o.amount_fen, paid_fen=o.paid_fen, refunded_fen=o.refunded_fen,
                 owed_fen=owed, day=local(o.exited_at).date(), failure_reason=o.failure_reason)
    if not shown:
        return OrderRead(**money, details_hidden=True, session_id=None, lot_id=None, lot_name=None, tariff_id=None,
                         tariff_version=None, entered_at=None, exited_at=None, due_at=None, paid_at=None)
    return OrderRead(**money, session_id=o.session_id, lot_id=o.lot_id, lot_name=_lot_name(platform, o.lot_id),
                     tariff_id=o.tariff_id, tariff_version=o.tariff_version, entered_at=o.entered_at, exited_at=o.exited_at,
                     due_at=o.due_at, paid_at=o.paid_at)


def _verified(platform, account_id: str) -> set[str]:  # noqa: ANN001
    with platform.uow() as uow:
        return verified_plates(uow.session, account_id)


def _details(platform, billing, orders: list[Order], verified: set[str]) -> list[OrderDetail]:  # noqa: ANN001
    paid: dict[str, list[PaymentRead]] = {}
    for p in billing.payments.payments_of([o.id for o in orders if o.plate in verified]):
        paid.setdefault(p.order_id, []).append(PaymentRead(out_trade_no=p.out_trade_no, trade_no=p.trade_no,
                                                           amount_fen=p.amount_fen, paid_at=p.paid_at))
    return [OrderDetail(**order_read(platform, o, shown=o.plate in verified).model_dump(),
                        lines=[BreakdownLine(**line) for line in o.breakdown] if o.plate in verified else [],
                        payments=paid.get(o.id, [])) for o in orders]


def _order_key(o: Order) -> tuple[datetime, str]:
    return o.exited_at, o.id


@router.get("/sessions", response_model=SessionList, responses=SIGNED_IN)
def my_sessions(account_id: CurrentAccount, billing: BillingDep, platform: PlatformDep,
                page: CursorPage = cursor_page("sessions", default=50, maximum=200)) -> SessionList:
    """Stays of the plates you hold (since you bound them) and stays you were billed for, newest first; only for
    plates verified as yours (an unverified plate's debts are in /v1/me/orders, without place or time)."""
    verified = _verified(platform, account_id)
    rows = page.cut(billing.orders.sessions_of(account_id, limit=page.fetch, after=page.after, plates=verified),
                    key=lambda r: (r[0].entered_at or r[0].exited_at, r[0].id))
    return SessionList(sessions=[SessionRead(
        id=s.id, lot_id=s.lot_id, lot_name=_lot_name(platform, s.lot_id), plate=s.plate, status=s.status,
        entered_at=s.entered_at, exited_at=s.exited_at,
        order=SessionOrder(id=o.id, status=o.status, amount_fen=o.amount_fen) if o else None) for s, o in rows],
        next_cursor=page.next_cursor)


@router.get("/orders", response_model=OrderList, responses=SIGNED_IN)
def my_orders(account_id: CurrentAccount, billing: BillingDep, platform: PlatformDep,
              status: OrderStatus | None = Query(None),
              page: CursorPage = cursor_page("orders", default=100, maximum=500)) -> OrderList:
    """Your orders, newest first; unpaid orders of nobody's for plates you hold are listed too (debts follow the plate).
    Orders of a plate not verified as yours show amount and day only."""
    verified = _verified(platform, account_id)
    orders = page.cut(billing.orders.of_account(account_id, status=status, limit=page.fetch, after=page.after), key=_order_key)
    return OrderList(orders=[order_read(platform, o, shown=o.plate in verified) for o in orders], next_cursor=page.next_cursor)


@router.get("/orders/{order_id}", response_model=OrderDetail, responses=MINE)
def my_order(order_id: str, account_id: CurrentAccount, billing: BillingDep, platform: PlatformDep) -> OrderDetail:
    with billing.orders.uow() as uow, _only_mine(order_id):
        order = kept(uow.session, billing.orders.owned(uow.session, order_id, account_id))
    return _details(platform, billing, [order], _verified(platform, account_id))[0]


@router.post("/orders/{order_id}/pay", response_model=QrPay, responses={
    **MINE, 409: {"model": ErrorBody, "description": "nothing to pay, or a charge is in progress"},
    503: {"model": ErrorBody, "description": "Alipay not configured or unreachable"}})
def pay_order(order_id: str, account_id: CurrentAccount, billing: BillingDep) -> QrPay:
    """A QR code to pay an unpaid order with Alipay. The order is `paying` while the code awaits the scan (asking
    again returns the same code), `paid` when Alipay's notification arrives, and `unpaid` again when Alipay closes
    the trade or the code lapses unscanned (2 hours)."""
    with _only_mine(order_id):
        qr = billing.payments.pay_by_qr(account_id, order_id)
    return QrPay(order_id=qr.order_id, out_trade_no=qr.out_trade_no, qr_code=qr.qr_code, amount_fen=qr.amount_fen)


@router.get("/receipts", response_model=ReceiptList, responses=SIGNED_IN)
def my_receipts(account_id: CurrentAccount, billing: BillingDep, platform: PlatformDep,
                page: CursorPage = cursor_page("receipts", default=100, maximum=500)) -> ReceiptList:
    """Paid orders with the tariff's lines as priced and the payments that settled them, newest first."""
    orders = page.cut(billing.orders.of_account(account_id, status=SETTLED, limit=page.fetch, after=page.after), key=_order_key)
    return ReceiptList(receipts=_details(platform, billing, orders, _verified(platform, account_id)), next_cursor=page.next_cursor)
