"""The payment worker: charges orders through withholding agreements after the exit has committed, asks
Alipay about charges that stay pending, retries unconfirmed refunds, and turns overdue orders into arrears.

Everything it must do is found in the database (orders due a charge, attempts due a query), so a restart
loses nothing; the wake-up after an exit only makes it start at once. Several workers may run: each claims
orders with SELECT ... FOR UPDATE SKIP LOCKED and moves them to `paying` before asking Alipay.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from billing.alipay.client import (
    AlipayClient,
    AlipayError,
    AlipayRefused,
    AlipayTradeNotFound,
    trade_cancel,
    trade_pay_withholding,
    trade_query,
)
from billing.arrears import sweep_overdue
from billing.events import OrderLeftUnpaid
from billing.models import Order, PaymentAttempt
from billing.order_tx import move, write_lock
from billing.payments import fail_attempt, lock_attempt, new_attempt, settle, subject_of
from billing.refunds import Refunds
from parking_core.accounts import agreement_of
from parking_core.db import UnitOfWork
from parking_core.plate_verification import is_verified_owner

log = logging.getLogger("parking.billing.worker")


@dataclass(frozen=True)
class Claim:
    """An order moved to `paying`, with the attempt to send."""

    order_id: str
    out_trade_no: str
    amount_fen: int
    agreement_no: str
    subject: str


@dataclass
class PaymentWorker:
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    alipay: AlipayClient | None
    refunds: Refunds
    query_after: timedelta = timedelta(seconds=60)  # a charge pending this long is asked about
    max_tries: int = 3                              # withholding attempts per order that never reached Alipay
    poll_s: float = 5.0
    sweep_every_s: float = 300.0
    threads: int = 4
    batch: int = 100
    withhold_unverified: bool = False               # charge holders who have not proved the plate is theirs
    _wake: threading.Event = field(default_factory=threading.Event, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _last_sweep: float = field(default=float("-inf"), repr=False)

    # -- the thread ---------------------------------------------------------------------------------
    def start(self) -> PaymentWorker:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="charge")
        self._thread = threading.Thread(target=self._loop, name="payment-worker", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """An order is due a charge (its exit committed): look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                sweep = time.monotonic() - self._last_sweep >= self.sweep_every_s
                self.run_once(sweep=sweep)
            except Exception:  # keep going; the next round finds the same work in the database
                log.exception("payment worker round failed")
            self._wake.wait(self.poll_s)

    # -- one round -----------------------------------------------------------------------------------
    def run_once(self, *, sweep: bool = True) -> dict[str, int]:
        """Charge what is due, query what is pending, retry refunds, and (if asked) sweep overdue orders."""
        done = {"charged": 0, "queried": 0, "refunds_retried": 0, "arrears": 0}
        if self.alipay is not None:
            while True:
                claims = self._claim()
                if not claims:
                    break
                done["charged"] += len(claims)
                self._each(self._charge, claims)
            done["queried"] = self.query_pending()
            done["refunds_retried"] = self.refunds.retry_pending()
        if sweep:
            self._last_sweep = time.monotonic()
            while True:  # in batches, one transaction each, until a batch comes back short
                with self.uow() as uow:
                    n = sweep_overdue(uow, self.clock(), limit=self.batch)
                    uow.commit()
                done["arrears"] += n
                if n < self.batch:
                    break
        return done

    def _each(self, fn: Callable, items: list) -> None:
        if self._pool is None or len(items) == 1:
            for item in items:
                fn(item)
        else:
            list(self._pool.map(fn, items))

    # -- charging ------------------------------------------------------------------------------------
    def _claim(self) -> list[Claim]:
        """Orders due a charge, moved to `paying` with a new attempt, committed before Alipay is asked."""
        now = self.clock()
        claims: list[Claim] = []
        with self.uow() as uow:
            db = uow.session
            write_lock(db)
            due = db.scalars(select(Order).where(Order.status == "unpaid", Order.next_charge_at <= now)
                             .order_by(Order.next_charge_at).limit(self.batch).with_for_update(skip_locked=True))
            for order in list(due):
                order.next_charge_at = None
                agreement = agreement_of(db, order.account_id) if order.account_id else None
                unproven = not self.withhold_unverified and order.account_id and not is_verified_owner(db, order.account_id, order.plate)
                if agreement is None or unproven:
                    order.failure_reason = ("plate not verified as yours: pay in the app" if agreement and unproven
                                            else "no active withholding agreement: pay in the app")
                    uow.record(OrderLeftUnpaid(order.id, order.account_id, order.lot_id, order.amount_fen - order.paid_fen,
                                               order.due_at, order.failure_reason, tried=False))
                    continue
                owed = order.amount_fen - order.paid_fen
                attempt = new_attempt(db, order, kind="withholding", amount_fen=owed, now=now,
                                      query_at=now + self.query_after, agreement_no=agreement[0])
                move(db, order, "paying", actor="worker", reason=f"withholding charge {attempt.out_trade_no}", at=now)
                claims.append(Claim(order.id, attempt.out_trade_no, owed, agreement[0], subject_of(order)))
            uow.commit()
        return claims

    def _charge(self, claim: Claim) -> None:
        try:
            result = trade_pay_withholding(self.alipay, out_trade_no=claim.out_trade_no, amount_fen=claim.amount_fen,
                                           subject=claim.subject, agreement_no=claim.agreement_no)
        except AlipayRefused as exc:
            if exc.sub_code == "ACQ.TRADE_HAS_SUCCESS":
                self._query(claim.out_trade_no)
            else:
                self._fail(claim.out_trade_no, f"{exc.sub_code}: {exc.sub_msg or exc.msg}")
            return
        except AlipayError as exc:  # unreachable or outcome unknown: the query round settles it
            log.warning("charge %s outcome unknown: %s", claim.out_trade_no, exc.message)
            return
        if result.status != "paid":
            return  # processing: the notification or a later query settles it
        if result.total_amount_fen != claim.amount_fen:  # Alipay's word on the amount is checked like a notification's
            with self.uow() as uow:
                order, attempt = lock_attempt(uow.session, claim.out_trade_no)
                order.review = f"Alipay answered {claim.out_trade_no} paid for {result.total_amount_fen} fen, we asked {claim.amount_fen} fen: check it"
                attempt.next_query_at = None
                uow.commit()
            return
        with self.uow() as uow:
            found = lock_attempt(uow.session, claim.out_trade_no)
            settle(uow, *found, trade_status="TRADE_SUCCESS", trade_no=result.trade_no, amount_fen=result.total_amount_fen,
                   paid_at=result.gmt_payment, buyer_id=result.buyer_user_id, source="answer", now=self.clock())
            uow.commit()

    def _fail(self, out_trade_no: str, reason: str, *, retry: bool = False) -> None:
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            order, attempt = lock_attempt(db, out_trade_no)
            tries = db.scalar(select(func.count()).select_from(PaymentAttempt).where(
                PaymentAttempt.order_id == order.id, PaymentAttempt.kind == "withholding"))
            again = now if retry and tries < self.max_tries else None
            fail_attempt(uow, order, attempt, reason=reason, now=now, retry_at=again)
            uow.commit()

    # -- pending attempts ------------------------------------------------------------------------------
    def query_pending(self) -> int:
        """Ask Alipay about attempts pending past their query time; each asked less often as it stays pending."""
        now = self.clock()
        with self.uow() as uow:
            numbers = list(uow.session.scalars(select(PaymentAttempt.out_trade_no).where(
                PaymentAttempt.status == "pending", PaymentAttempt.next_query_at <= now)
                .order_by(PaymentAttempt.next_query_at).limit(self.batch)))
        self._each(self._query, numbers)
        return len(numbers)

    def _query(self, out_trade_no: str) -> None:
        try:
            status = trade_query(self.alipay, out_trade_no=out_trade_no)
        except AlipayTradeNotFound:  # a charge that has not reached Alipay (yet), or a QR code nobody scanned in time
            try:  # before charging again under a new number, make sure this one can never complete late
                trade_cancel(self.alipay, out_trade_no=out_trade_no)
            except AlipayError as exc:
                log.warning("cancel of %s failed, asking again later before any new charge: %s", out_trade_no, exc.message)
                self._later(out_trade_no)
                return
            self._fail(out_trade_no, "Alipay has no such trade (its number is now cancelled)", retry=True)
            return
        except AlipayError as exc:
            log.warning("query of %s failed: %s", out_trade_no, exc.message)
            self._later(out_trade_no)
            return
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            order, attempt = lock_attempt(db, out_trade_no)
            if status.total_amount_fen != attempt.amount_fen:
                order.review = f"Alipay holds {out_trade_no} for {status.total_amount_fen} fen, we asked {attempt.amount_fen} fen: check it"
                attempt.next_query_at = None
            else:
                outcome = settle(uow, order, attempt, trade_status=status.trade_status, trade_no=status.trade_no,
                                 amount_fen=status.total_amount_fen, paid_at=status.paid_at, buyer_id=status.buyer_user_id,
                                 source="query", now=now)
                if outcome == "waiting":
                    _back_off(attempt, now, self.query_after)
            uow.commit()

    def _later(self, out_trade_no: str) -> None:
        with self.uow() as uow:
            found = lock_attempt(uow.session, out_trade_no)
            if found is not None and found[1].status == "pending":
                _back_off(found[1], self.clock(), self.query_after)
            uow.commit()


def _back_off(attempt: PaymentAttempt, now: datetime, base: timedelta) -> None:
    """Ask again after base, 2x, 4x ... up to a day."""
    attempt.queries += 1
    attempt.next_query_at = now + min(base * 2 ** min(attempt.queries, 16), timedelta(days=1))
    attempt.updated_at = now
