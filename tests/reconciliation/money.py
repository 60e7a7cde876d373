"""Books written straight into the tables (a stay, its order, its payment, refunds), for months of data in seconds."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from billing.models import Order, Payment, PaymentAttempt, Refund
from parking_core.session_models import ParkingSession

_ids = itertools.count(1)


def paid_order(db, *, lot_id: str, operator_id: str, amount_fen: int, paid_at: datetime, plate: str = "苏E00001",
               refunds: tuple[tuple[int, datetime], ...] = ()) -> Order:
    """A closed stay whose order Alipay was paid for at `paid_at`, with succeeded refunds (amount, when)."""
    n = next(_ids)
    entered, exited = paid_at - timedelta(hours=2), paid_at - timedelta(minutes=1)
    db.add(ParkingSession(id=f"S{n:010d}", lot_id=lot_id, plate=plate, source="gate", status="closed", entry_key=f"in{n}",
                          exit_key=f"out{n}", entered_at=entered, exited_at=exited, created_at=entered, updated_at=exited))
    db.flush()
    refunded = sum(a for a, _ in refunds)
    order = Order(id=f"O{n:010d}", session_id=f"S{n:010d}", lot_id=lot_id, operator_id=operator_id, plate=plate,
                  status="partially_refunded" if refunded else "paid", amount_fen=amount_fen, paid_fen=amount_fen, refunded_fen=refunded,
                  vehicle="small", new_energy=False, pass_covered=False, breakdown=[], entered_at=entered, exited_at=exited,
                  due_at=exited + timedelta(days=30), created_at=exited, updated_at=paid_at, paid_at=paid_at)
    db.add(order)
    db.flush()
    attempt = PaymentAttempt(order_id=order.id, out_trade_no=f"{order.id}-1", kind="withholding", amount_fen=amount_fen,
                             status="paid", queries=0, created_at=exited, updated_at=paid_at)
    db.add(attempt)
    db.flush()
    payment = Payment(order_id=order.id, attempt_id=attempt.id, out_trade_no=attempt.out_trade_no, trade_no=f"T{n:020d}",
                      amount_fen=amount_fen, paid_at=paid_at, recorded_at=paid_at, source="answer")
    db.add(payment)
    db.flush()
    for i, (amount, when) in enumerate(refunds):
        db.add(Refund(order_id=order.id, payment_id=payment.id, request_id=f"r{i}", out_request_no=f"R{n:010d}{i}", amount_fen=amount,
                      reason="test", requested_by="op", status="succeeded", created_at=when, completed_at=when))
    db.flush()
    return order
