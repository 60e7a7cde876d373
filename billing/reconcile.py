"""Reconciliation and settlement: Alipay's daily bill compared line by line with the payments and refunds we
recorded (every difference named, in fen), and what each operator's car parks took in a day net of refunds.

Days are Shanghai days, and payments and refunds are dated by Alipay's own times, as the bill dates them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.alipay.bill import BillRow, BillRowError, parse_bill_zip
from billing.alipay.client import AlipayClient, download_bill
from billing.models import Order, Payment, Refund
from parking_core.clock import SHANGHAI
from parking_core.db import UnitOfWork

REFUND = "退款"


@dataclass(frozen=True)
class Line:
    """One payment or refund as either side has it; a side that lacks it has None."""

    kind: str                # payment | refund
    out_trade_no: str
    request_no: str          # the refund's out_request_no; "" for a payment
    ours_fen: int | None
    alipay_fen: int | None
    order_id: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Reconciliation:
    day: date
    matched: list[Line] = field(default_factory=list)
    missing_ours: list[Line] = field(default_factory=list)     # in Alipay's bill, never recorded here
    missing_alipay: list[Line] = field(default_factory=list)   # recorded here, not in the bill
    mismatched: list[Line] = field(default_factory=list)       # on both sides with different amounts
    other_day: list[Line] = field(default_factory=list)        # on both sides, but we date it another day
    unreadable: list[BillRowError] = field(default_factory=list)
    alipay_net_fen: int = 0
    ours_net_fen: int = 0
    service_fee_fen: int = 0

    @property
    def balanced(self) -> bool:
        return not (self.missing_ours or self.missing_alipay or self.mismatched or self.other_day or self.unreadable)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        out["balanced"] = self.balanced
        return out


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), SHANGHAI)
    return start, start + timedelta(days=1)


def reconcile(uow: Callable[[], UnitOfWork], client: AlipayClient, day: date) -> Reconciliation:
    """Download the day's bill through the SDK and compare it with our books (bills are T+1)."""
    rows = parse_bill_zip(download_bill(client, bill_date=day))  # a bill with a bad line is rejected whole
    with uow() as unit:
        return compare(unit.session, day, rows)


def compare(db: Session, day: date, rows: list[BillRow], errors: list[BillRowError] = ()) -> Reconciliation:
    start, end = day_bounds(day)
    ours: dict[tuple[str, str, str], tuple[int, str]] = {}
    for p in db.scalars(select(Payment).where(Payment.paid_at >= start, Payment.paid_at < end)):
        ours[("payment", p.out_trade_no, "")] = (p.amount_fen, p.order_id)
    refunds = db.execute(select(Refund, Payment.out_trade_no).join(Payment, Payment.id == Refund.payment_id).where(
        Refund.status == "succeeded", Refund.completed_at >= start, Refund.completed_at < end))
    for r, out_trade_no in refunds:
        ours[("refund", out_trade_no, r.out_request_no)] = (r.amount_fen, r.order_id)
    theirs: dict[tuple[str, str, str], int] = {}
    fee = 0
    for row in rows:
        key = ("refund", row.out_trade_no, row.refund_request_no) if row.biz_type == REFUND else ("payment", row.out_trade_no, "")
        amount = -row.merchant_received_fen if row.biz_type == REFUND else row.order_amount_fen
        theirs[key] = theirs.get(key, 0) + amount
        fee += row.service_fee_fen
    elsewhere = _recorded_elsewhere(db, [k for k in theirs if k not in ours])
    result = Reconciliation(day=day, unreadable=list(errors), service_fee_fen=fee,
                            alipay_net_fen=sum(v if k[0] == "payment" else -v for k, v in theirs.items()),
                            ours_net_fen=sum(v if k[0] == "payment" else -v for k, (v, _) in ours.items()))
    for key in sorted(set(ours) | set(theirs)):
        mine, order_id = ours.get(key, (None, None))
        alipay = theirs.get(key)
        if mine is None and key in elsewhere:
            mine, order_id, when = elsewhere[key]
            result.other_day.append(Line(*key, mine, alipay, order_id, f"recorded here on {when.astimezone(SHANGHAI):%Y-%m-%d}"))
        elif mine is None:
            result.missing_ours.append(Line(*key, None, alipay))
        elif alipay is None:
            result.missing_alipay.append(Line(*key, mine, None, order_id))
        elif mine != alipay:
            result.mismatched.append(Line(*key, mine, alipay, order_id, f"differs by {alipay - mine} fen"))
        else:
            result.matched.append(Line(*key, mine, alipay, order_id))
    return result


def _recorded_elsewhere(db: Session, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], tuple[int, str, datetime]]:
    """Lines of the bill we hold under another day (a payment near midnight, a refund confirmed late)."""
    found: dict[tuple[str, str, str], tuple[int, str, datetime]] = {}
    pays = [k[1] for k in keys if k[0] == "payment"]
    if pays:
        for p in db.scalars(select(Payment).where(Payment.out_trade_no.in_(pays))):
            found[("payment", p.out_trade_no, "")] = (p.amount_fen, p.order_id, p.paid_at)
    requests = [k[2] for k in keys if k[0] == "refund"]
    if requests:
        rows = db.execute(select(Refund, Payment.out_trade_no).join(Payment, Payment.id == Refund.payment_id).where(
            Refund.out_request_no.in_(requests), Refund.status == "succeeded"))
        for r, out_trade_no in rows:
            found[("refund", out_trade_no, r.out_request_no)] = (r.amount_fen, r.order_id, r.completed_at)
    return found


@dataclass(frozen=True)
class Settlement:
    """One operator's day: payments in, refunds out, net, all in fen."""

    operator_id: str
    payments: int
    payments_fen: int
    refunds: int
    refunds_fen: int

    @property
    def net_fen(self) -> int:
        return self.payments_fen - self.refunds_fen


def settlement(db: Session, day: date, *, operator_id: str | None = None) -> list[Settlement]:
    """Per operator (of the order's car park), the day's payments less the day's refunds."""
    start, end = day_bounds(day)
    paid = select(Order.operator_id, func.count(Payment.id), func.coalesce(func.sum(Payment.amount_fen), 0)).join(
        Order, Order.id == Payment.order_id).where(Payment.paid_at >= start, Payment.paid_at < end)
    refunded = select(Order.operator_id, func.count(Refund.id), func.coalesce(func.sum(Refund.amount_fen), 0)).join(
        Order, Order.id == Refund.order_id).where(Refund.status == "succeeded", Refund.completed_at >= start, Refund.completed_at < end)
    if operator_id is not None:
        paid, refunded = paid.where(Order.operator_id == operator_id), refunded.where(Order.operator_id == operator_id)
    totals: dict[str, list[int]] = {}
    for op, n, fen in db.execute(paid.group_by(Order.operator_id)):
        totals.setdefault(op, [0, 0, 0, 0])[0:2] = [n, int(fen)]
    for op, n, fen in db.execute(refunded.group_by(Order.operator_id)):
        totals.setdefault(op, [0, 0, 0, 0])[2:4] = [n, int(fen)]
    if operator_id is not None and operator_id not in totals:
        totals[operator_id] = [0, 0, 0, 0]
    return [Settlement(op, *values) for op, values in sorted(totals.items())]


__all__ = ["Line", "Reconciliation", "Settlement", "compare", "day_bounds", "reconcile", "settlement"]
