"""Reconciliation that closes: a day's Alipay bill, streamed, against the payments and refunds recorded here;
every difference kept as a case (reconciliation_resolve.py resolves them), and the day `open` until each is.

Running a day again finds the same differences under the same keys: resolved cases stay as they were, open ones
are updated, and an open case whose difference has gone (a late notification recorded it meanwhile) is resolved
as `gone`. The bill is read to its end before anything is written, so a rejected bill changes nothing.
Days are Shanghai days, and lines are dated by Alipay's own times, as the bill dates them.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import compress, islice, repeat
from operator import eq, ne, not_
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from billing.alipay.bill import BillChunk, BillRow, BillStream
from billing.models import Order, Payment, PaymentAttempt, Refund
from billing.reconciliation_models import ReconciliationCase, ReconciliationDay
from parking_core.audit import Actor, record_audit
from parking_core.clock import SHANGHAI
from parking_core.db import UnitOfWork
from parking_core.errors import InvalidInput, NotFound

REFUND = "退款"
DUPLICATE_REFUND_PREFIX = "DUP"  # out_request_no of the refund of a duplicate: DUP + case id
_MATCHED: Any = object()  # marks a line of ours the bill has shown (no amount, whatever the bill says, is it)


class DayNotReconciled(NotFound):
    code = "reconciliation_day_not_found"


class CaseNotFound(NotFound):
    code = "reconciliation_case_not_found"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), SHANGHAI)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Difference:
    """One line on which the bill and our books disagree, before it is a case."""

    kind: str
    line: str                 # payment | refund
    out_trade_no: str
    trade_no: str = ""
    request_no: str = ""
    ours_fen: int | None = None
    alipay_fen: int | None = None
    alipay_at: datetime | None = None
    order_id: str | None = None
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.line}:{self.out_trade_no}:{self.request_no}:{self.trade_no}"[:200]


@dataclass
class Comparison:
    """The outcome of one pass over the bill."""

    day: date
    bill_lines: int = 0
    matched: int = 0
    alipay_net_fen: int = 0
    ours_net_fen: int = 0
    service_fee_fen: int = 0
    differences: list[Difference] = field(default_factory=list)


def compare_day(db: Session, day: date, rows: Iterable[BillRow]) -> Comparison:
    """Stream the bill against the day's payments (by out_trade_no) and refunds (by out_request_no). Our side is
    held as two dicts of integers; the bill's side is never held whole: a BillStream is read a chunk of columns at
    a time, and a chunk's payments are matched in bulk (its refunds, and any payment that does not simply match,
    one by one), so a million lines cost a few list operations per chunk rather than a loop in Python."""
    start, end = day_bounds(day)
    pays = _amounts_by_key(db, Payment.out_trade_no, Payment.amount_fen, Payment.paid_at >= start, Payment.paid_at < end)
    refunds = _amounts_by_key(db, Refund.out_request_no, Refund.amount_fen, Refund.status == "succeeded",
                              Refund.completed_at >= start, Refund.completed_at < end)
    tally = _Tally(pays, refunds)
    ours_net = sum(pays.values()) - sum(refunds.values())
    chunks = rows.chunks() if isinstance(rows, BillStream) else map(BillChunk.of_rows, _batched(rows, 10_000))
    for chunk in chunks:
        tally.add(chunk)
    result = Comparison(day, bill_lines=tally.lines, matched=tally.matched, alipay_net_fen=tally.net, ours_net_fen=ours_net,
                        service_fee_fen=tally.fee)
    result.differences = tally.mismatched + _classify_payments(db, tally.extra_pays, pays) + _classify_refunds(db, tally.extra_refunds)
    result.differences += [Difference("ours_only", "payment", k, ours_fen=v, note="recorded here, not in Alipay's bill of the day")
                           for k, v in pays.items() if v is not _MATCHED]
    result.differences += _ours_only_refunds(db, [k for k, v in refunds.items() if v is not _MATCHED])
    _attach_orders(db, result.differences)
    return result


def _amounts_by_key(db: Session, key, amount, *where) -> dict[str, int]:  # noqa: ANN001 - columns and conditions
    """key -> amount of the rows `where` selects. The database joins them into one string (key US amount RS key ...),
    split here in a few C calls: a million rows as a million row objects would cost seconds. A key holding one of
    the two separators would break the count, and the rows are then read one by one instead."""
    joined = (func.group_concat if db.get_bind().dialect.name == "sqlite" else func.string_agg)(
        key + _UNIT + cast(amount, String), _RECORD)
    count, text = db.execute(select(func.count(), joined).where(*where)).one()
    if not count:
        return {}
    found: dict[str, int] = {}
    if text is not None and text.count(_RECORD) == count - 1 and text.count(_UNIT) == count:  # None: a key or amount is NULL
        start = 0
        while start < len(text):  # a few MB at a time, so the pieces are never all alive at once
            end = text.find(_RECORD, start + 4_000_000)
            end = len(text) if end < 0 else end
            flat = text[start:end].replace(_RECORD, _UNIT).split(_UNIT)
            found.update(zip(flat[0::2], map(int, flat[1::2])))
            start = end + 1
        return found
    for batch in db.connection().execute(select(key, amount).where(*where).execution_options(yield_per=50_000)).partitions():
        found.update(batch)
    return found


_UNIT, _RECORD = "\x1f", "\x1e"  # ASCII's unit and record separators: in no trade or request number of ours


def _batched(rows: Iterable[BillRow], size: int) -> Iterator[list[BillRow]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


class _Tally:
    """One pass over the bill's chunks against our two dicts: a line of ours the bill has shown becomes _MATCHED."""

    def __init__(self, pays: dict[str, int], refunds: dict[str, int]) -> None:
        self.pays, self.refunds = pays, refunds
        self.lines = self.matched = self.net = self.fee = 0
        self.mismatched: list[Difference] = []
        self.extra_pays: dict[str, list[tuple[str, int, datetime | None]]] = {}
        self.extra_refunds: list[BillRow] = []

    def add(self, chunk: BillChunk) -> None:
        self.lines += chunk.size
        self.fee += sum(chunk.column("service_fee_fen"))
        kinds = chunk.column("biz_type")
        numbers, amounts = chunk.column("out_trade_no"), chunk.column("order_amount_fen")
        refunded = REFUND in kinds
        if refunded:
            is_pay = list(map(ne, kinds, repeat(REFUND)))
            numbers, amounts = list(compress(numbers, is_pay)), list(compress(amounts, is_pay))
        self.net += sum(amounts)
        mine = list(map(self.pays.get, numbers))
        if len(set(numbers)) == len(numbers):  # distinct here, so no line of this chunk can affect another
            agree = list(map(eq, mine, amounts))
            self.pays.update(zip(compress(numbers, agree), repeat(_MATCHED)))
            self.matched += agree.count(True)
            odd = list(compress(range(len(numbers)), map(not_, agree)))
        else:
            odd = range(len(numbers))
        if odd:
            rows = list(compress(range(chunk.size), is_pay)) if refunded else range(chunk.size)
            for i in odd:
                self._payment(chunk.row(rows[i]))
        if refunded:
            for i in compress(range(chunk.size), map(not_, is_pay)):
                self._refund(chunk.row(i))

    def _payment(self, row: BillRow) -> None:
        number, amount = row.out_trade_no, row.order_amount_fen
        mine = self.pays.get(number)
        if mine is None or mine is _MATCHED:
            self.extra_pays.setdefault(number, []).append((row.trade_no, amount, row.completed_at))
            return
        self.pays[number] = _MATCHED
        if mine != amount:
            self.mismatched.append(Difference("amount_mismatch", "payment", number, row.trade_no, "", mine, amount,
                                              row.completed_at, note=f"differs by {amount - mine} fen"))
        else:
            self.matched += 1

    def _refund(self, row: BillRow) -> None:
        amount = -row.merchant_received_fen
        self.net -= amount
        mine = self.refunds.get(row.refund_request_no)
        if mine is None or mine is _MATCHED:
            self.extra_refunds.append(row)
            return
        self.refunds[row.refund_request_no] = _MATCHED
        if mine != amount:
            self.mismatched.append(Difference("amount_mismatch", "refund", row.out_trade_no, row.trade_no, row.refund_request_no,
                                              mine, amount, row.completed_at, note=f"differs by {amount - mine} fen"))
        else:
            self.matched += 1


def _classify_payments(db: Session, extra: dict[str, list[tuple[str, int, datetime | None]]],
                       pays: dict[str, int]) -> list[Difference]:
    """Bill payments not matched one to one: a repeat is a duplicate; the rest we hold another day, know as a
    trade whose payment we never recorded, or do not know at all."""
    if not extra:
        return []
    numbers = list(extra)
    elsewhere = {p.out_trade_no: p for p in _in_chunks(db, select(Payment), Payment.out_trade_no, numbers)}
    attempts = {a.out_trade_no: a for a in _in_chunks(db, select(PaymentAttempt), PaymentAttempt.out_trade_no, numbers)}
    found: list[Difference] = []
    for number, lines in extra.items():
        if pays.get(number) is _MATCHED:
            repeats = lines
        else:
            (trade_no, amount, at), repeats = lines[0], lines[1:]
            paid = elsewhere.get(number)
            attempt = attempts.get(number)
            if paid is not None:
                found.append(Difference("other_day", "payment", number, trade_no, "", paid.amount_fen, amount, at,
                                        note=f"recorded here on {paid.paid_at.astimezone(SHANGHAI):%Y-%m-%d}"))
            elif attempt is not None and attempt.status in ("failed", "closed", "expired"):
                found.append(Difference("status_mismatch", "payment", number, trade_no, "", None, amount, at,
                                        note=f"paid at Alipay, {attempt.status} here"))
            else:
                why = "a trade of ours whose payment was never recorded" if attempt is not None else "not a trade number of ours"
                found.append(Difference("alipay_only", "payment", number, trade_no, "", None, amount, at, note=f"paid at Alipay: {why}"))
        for trade_no, amount, at in repeats:
            found.append(Difference("duplicate_payment", "payment", number, trade_no, "", None, amount, at,
                                    note=f"the same out_trade_no paid again at Alipay under trade {trade_no}"))
    return found


def _classify_refunds(db: Session, extra: list[BillRow]) -> list[Difference]:
    """Bill refunds we did not record that day: our own refund of a duplicate, one dated here another day,
    one still pending or failed here, or one made outside the platform."""
    if not extra:
        return []
    numbers = [row.refund_request_no for row in extra]
    ours = {r.out_request_no: r for r in _in_chunks(db, select(Refund), Refund.out_request_no, numbers)}
    dup_ids = [n[len(DUPLICATE_REFUND_PREFIX):] for n in numbers if n.startswith(DUPLICATE_REFUND_PREFIX)]
    duplicates = set(_in_chunks(db, select(ReconciliationCase.id).where(ReconciliationCase.resolution == "refunded"),
                                ReconciliationCase.id, dup_ids)) if dup_ids else set()
    found: list[Difference] = []
    for row in extra:
        amount, number = -row.merchant_received_fen, row.refund_request_no
        if number.startswith(DUPLICATE_REFUND_PREFIX) and number[len(DUPLICATE_REFUND_PREFIX):] in duplicates:
            continue  # the refund a resolved duplicate case made: expected, and not a payment of ours
        mine = ours.get(number)
        if mine is not None and mine.status == "succeeded":
            found.append(Difference("other_day", "refund", row.out_trade_no, row.trade_no, number, mine.amount_fen, amount,
                                    row.completed_at, mine.order_id,
                                    note=f"recorded here on {mine.completed_at.astimezone(SHANGHAI):%Y-%m-%d}"))
        elif mine is not None:
            found.append(Difference("status_mismatch", "refund", row.out_trade_no, row.trade_no, number, None, amount,
                                    row.completed_at, mine.order_id, note=f"refunded at Alipay, {mine.status} here"))
        else:
            found.append(Difference("alipay_only", "refund", row.out_trade_no, row.trade_no, number, None, amount, row.completed_at,
                                    note="refunded at Alipay, not through the platform"))
    return found


def _ours_only_refunds(db: Session, numbers: list[str]) -> list[Difference]:
    if not numbers:
        return []
    rows = db.execute(select(Refund, Payment.out_trade_no).join(Payment, Payment.id == Refund.payment_id)
                      .where(Refund.out_request_no.in_(numbers)))
    return [Difference("ours_only", "refund", out_trade_no, "", r.out_request_no, r.amount_fen, None, None, r.order_id,
                       note="refunded here, not in Alipay's bill of the day") for r, out_trade_no in rows]


def _attach_orders(db: Session, found: list[Difference]) -> None:
    """Fill in the order of each payment difference from its trade number (ours only when we issued it)."""
    numbers = [d.out_trade_no for d in found if d.order_id is None]
    orders = dict(_in_chunks(db, select(PaymentAttempt.out_trade_no, PaymentAttempt.order_id), PaymentAttempt.out_trade_no,
                             numbers, tuples=True)) if numbers else {}
    for i, d in enumerate(found):
        if d.order_id is None and d.out_trade_no in orders:
            found[i] = Difference(d.kind, d.line, d.out_trade_no, d.trade_no, d.request_no, d.ours_fen, d.alipay_fen, d.alipay_at,
                                  orders[d.out_trade_no], d.note)


def _in_chunks(db: Session, query, column, values: list, *, tuples: bool = False) -> list:  # noqa: ANN001
    """`query WHERE column IN values`, a thousand at a time (a parameter list has limits)."""
    out: list = []
    for i in range(0, len(values), 1000):
        chunk = query.where(column.in_(values[i:i + 1000]))
        out += db.execute(chunk).all() if tuples else list(db.scalars(chunk))
    return out


@dataclass
class DayReconciliation:
    """Runs days and reads them; resolving is reconciliation_resolve.Resolutions."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]

    def run_day(self, day: date, rows: Iterable[BillRow], *, actor: Actor | None = None) -> ReconciliationDay:
        """Compare the day's bill rows (read to the end before anything is written) and keep every difference as a case.
        A person's run (`actor`) is audited in the same transaction; the daily run is the platform's own."""
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InvalidInput(f"day must be a date, got {day!r}", field="day", value=str(day))
        with self.uow() as uow:
            db = uow.session
            existing = db.get(ReconciliationDay, day)
            if existing is not None and existing.status == "closed":  # every case resolved: running it again changes nothing
                db.expunge_all()
                return existing
            result = compare_day(db, day, rows)
            now = self.clock()
            record = db.get(ReconciliationDay, day, with_for_update=True) or ReconciliationDay(day=day, runs=0)
            if record.status == "closed":  # closed while this run read the bill
                db.expunge_all()
                return record
            record.bill_lines, record.matched = result.bill_lines, result.matched
            record.alipay_net_fen, record.ours_net_fen, record.service_fee_fen = (result.alipay_net_fen, result.ours_net_fen,
                                                                                   result.service_fee_fen)
            record.runs, record.last_run_at, record.status = record.runs + 1, now, record.status or "open"
            db.add(record)
            db.flush()
            _keep_cases(db, day, result.differences, now)
            refresh_status(db, record, now)
            if actor is not None:
                record_audit(db, actor=actor, action="reconciliation.run", subject=f"reconciliation_day:{day}", operator_id=None,
                             before=None, after={"status": record.status, "bill_lines": record.bill_lines}, at=now)
            uow.commit()
            db.refresh(record)
            db.expunge_all()  # kept as read: the unit of work's closing rollback must not expire it
            return record

    def day(self, day: date) -> ReconciliationDay:
        with self.uow() as uow:
            record = uow.session.get(ReconciliationDay, day)
            if record is None:
                raise DayNotReconciled(f"{day} has not been reconciled yet", field="day", value=day.isoformat())
            uow.session.expunge_all()
            return record

    def cases(self, day: date, *, operators: set[str] | None, status: str | None = None) -> list[ReconciliationCase]:
        """The day's cases an actor may see: `operators` None is the city (all, including trades of nobody's)."""
        with self.uow() as uow:
            q = select(ReconciliationCase).where(ReconciliationCase.day == day)
            if operators is not None:
                q = q.where(ReconciliationCase.operator_id.in_(sorted(operators)))
            if status is not None:
                q = q.where(ReconciliationCase.status == status)
            found = list(uow.session.scalars(q.order_by(ReconciliationCase.kind, ReconciliationCase.key)))
            uow.session.expunge_all()
            return found

    def case_counts(self, day: date, *, operators: set[str] | None) -> dict[str, int]:
        with self.uow() as uow:
            q = select(ReconciliationCase.status, func.count()).where(ReconciliationCase.day == day)
            if operators is not None:
                q = q.where(ReconciliationCase.operator_id.in_(sorted(operators)))
            return dict(uow.session.execute(q.group_by(ReconciliationCase.status)).all())


def _keep_cases(db: Session, day: date, found: list[Difference], now: datetime) -> None:
    """Same difference, same case: new ones added, open ones refreshed, resolved ones left alone, open ones gone resolved."""
    cases = {c.key: c for c in db.scalars(select(ReconciliationCase).where(ReconciliationCase.day == day).with_for_update())}
    operators = dict(db.execute(select(Order.id, Order.operator_id).where(
        Order.id.in_({d.order_id for d in found if d.order_id}))).all()) if found else {}
    seen = set()
    for d in found:
        seen.add(d.key)
        case = cases.get(d.key)
        if case is None:
            db.add(ReconciliationCase(
                id=f"RC{uuid.uuid4().hex[:24]}", day=day, key=d.key, kind=d.kind, line=d.line, out_trade_no=d.out_trade_no,
                trade_no=d.trade_no, request_no=d.request_no, order_id=d.order_id, operator_id=operators.get(d.order_id),
                ours_fen=d.ours_fen, alipay_fen=d.alipay_fen, alipay_at=d.alipay_at, note=d.note, status="open",
                resolution_note="", created_at=now, updated_at=now))
        elif case.status != "resolved" and (case.ours_fen, case.alipay_fen, case.note) != (d.ours_fen, d.alipay_fen, d.note):
            case.ours_fen, case.alipay_fen, case.note, case.updated_at = d.ours_fen, d.alipay_fen, d.note, now
    for key, case in cases.items():
        if key not in seen and case.status != "resolved":
            case.status, case.resolution, case.resolved_by, case.resolved_at, case.updated_at = "resolved", "gone", "reconciliation", now, now
            case.resolution_note = f"no longer a difference when the day was run again at {now.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
    db.flush()


def refresh_status(db: Session, record: ReconciliationDay, now: datetime) -> None:
    """`balanced` when the bill showed no difference, `closed` once every case found is resolved, else `open`."""
    counts = dict(db.execute(select(ReconciliationCase.status, func.count()).where(ReconciliationCase.day == record.day)
                             .group_by(ReconciliationCase.status)).all())
    unresolved = sum(n for s, n in counts.items() if s != "resolved")
    if unresolved:
        record.status, record.closed_at = "open", None
    elif counts:
        if record.status != "closed":
            record.status, record.closed_at = "closed", now
    else:
        record.status = "balanced"


__all__ = ["CaseNotFound", "Comparison", "DayNotReconciled", "Difference", "DayReconciliation", "compare_day", "day_bounds",
           "refresh_status"]
