"""Settlement (清分结算): per operator and Shanghai day, what its car parks collected, what was refunded, Alipay's
fee and what the platform owes the operator, in fen.

Rounding rule: the fee is worked out per line, never on a sum: each payment's fee is its amount times the rate
rounded half up to a whole fen, and each refund gives back its own amount times the rate, rounded the same way.
Every total (an operator's month, a district, the city) is then a sum of the same integers, so they add up
exactly whichever way they are cut. A payment counts on the day Alipay took it, a refund on the day it was made.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.models import Order, Payment, Refund
from billing.reconciliation import day_bounds
from parking_core.errors import InvalidInput
from parking_core.models import Lot

MAX_DAYS = 92


def fee_of(amount_fen: int, rate: Decimal) -> int:
    """Alipay's fee on one line: amount x rate, rounded half up to a whole fen."""
    return int((Decimal(amount_fen) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Totals:
    """Money in and out over some lines; `owed_fen` is what the platform pays the operator."""

    payments: int = 0
    payments_fen: int = 0
    refunds: int = 0
    refunds_fen: int = 0
    fee_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.payments_fen - self.refunds_fen

    @property
    def owed_fen(self) -> int:
        return self.payments_fen - self.refunds_fen - self.fee_fen

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"net_fen": self.net_fen, "owed_fen": self.owed_fen}


@dataclass(frozen=True, kw_only=True)
class StatementLine(Totals):
    """One operator's day in one district."""

    day: date
    operator_id: str
    district_id: str

    def as_dict(self) -> dict:
        return super().as_dict() | {"day": self.day.isoformat()}


def total(lines: Iterable[StatementLine]) -> Totals:
    sums = [0, 0, 0, 0, 0]
    for line in lines:
        for i, value in enumerate((line.payments, line.payments_fen, line.refunds, line.refunds_fen, line.fee_fen)):
            sums[i] += value
    return Totals(*sums)


def rollup(lines: Iterable[StatementLine], by: str) -> dict[str, Totals]:
    """Totals per operator_id, district_id or day."""
    groups: dict[str, list[StatementLine]] = defaultdict(list)
    for line in lines:
        key = getattr(line, by)
        groups[key.isoformat() if isinstance(key, date) else key].append(line)
    return {key: total(group) for key, group in sorted(groups.items())}


def statement_lines(db: Session, first: date, last: date, *, rate: Decimal,
                    operators: set[str] | None = None) -> list[StatementLine]:
    """Every (day, operator, district) with money in or out between two days inclusive; `operators` None: all."""
    if last < first or (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"a statement covers 1 to {MAX_DAYS} days, not {first} to {last}", field="day", value=f"{first}..{last}")
    lines: list[StatementLine] = []
    day = first
    while day <= last:
        lines += _day_lines(db, day, rate, operators)
        day += timedelta(days=1)
    return lines


def _day_lines(db: Session, day: date, rate: Decimal, operators: set[str] | None) -> list[StatementLine]:
    """Grouped by amount, so each line's fee is computed once per distinct amount and multiplied exactly."""
    start, end = day_bounds(day)
    paid = (select(Order.operator_id, Lot.district_id, Payment.amount_fen, func.count())
            .join(Order, Order.id == Payment.order_id).join(Lot, Lot.id == Order.lot_id)
            .where(Payment.paid_at >= start, Payment.paid_at < end))
    refunded = (select(Order.operator_id, Lot.district_id, Refund.amount_fen, func.count())
                .join(Order, Order.id == Refund.order_id).join(Lot, Lot.id == Order.lot_id)
                .where(Refund.status == "succeeded", Refund.completed_at >= start, Refund.completed_at < end))
    if operators is not None:
        paid, refunded = paid.where(Order.operator_id.in_(sorted(operators))), refunded.where(Order.operator_id.in_(sorted(operators)))
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for op, district, amount, n in db.execute(paid.group_by(Order.operator_id, Lot.district_id, Payment.amount_fen)):
        a = acc[(op, district)]
        a[0] += n
        a[1] += amount * n
        a[4] += fee_of(amount, rate) * n
    for op, district, amount, n in db.execute(refunded.group_by(Order.operator_id, Lot.district_id, Refund.amount_fen)):
        a = acc[(op, district)]
        a[2] += n
        a[3] += amount * n
        a[4] -= fee_of(amount, rate) * n
    return [StatementLine(day=day, operator_id=op, district_id=district, payments=n, payments_fen=fen, refunds=rn, refunds_fen=rfen,
                          fee_fen=fee) for (op, district), (n, fen, rn, rfen, fee) in sorted(acc.items())]


def month_bounds(month: str) -> tuple[date, date]:
    """'2026-11' -> its first and last day."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except (TypeError, ValueError):
        raise InvalidInput(f"month: {month!r} is not a month like 2026-11", field="month", value=month) from None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


__all__ = ["MAX_DAYS", "StatementLine", "Totals", "fee_of", "month_bounds", "rollup", "statement_lines", "total"]
