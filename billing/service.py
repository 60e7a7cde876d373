"""Billing wired onto a platform: the session hooks, the payment worker, the after-commit actions, settings.

`install_billing(platform)` is the one call the composition root makes; `Billing.stop()` undoes it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event
from sqlalchemy.orm import Session

from billing.alipay.client import AlipayClient
from billing.arrears import ArrearsAtEntry, PlateArrears, arrears_of
from billing.models import MonthlyPass
from billing.orders import AFTER_COMMIT, OrderBook, add_pass, kept, passes
from billing.payment_worker import PaymentWorker
from billing.payments import Payments
from billing.reconcile import Reconciliation, Settlement, reconcile, settlement
from billing.refunds import Refunds
from parking_core.errors import DependencyUnavailable
from parking_core.settings import load_validated
from parking_core.notify import ConsoleNotifier, Notifier

log = logging.getLogger("parking.billing")
FROM_PLATFORM: Any = object()  # install_billing: take the Alipay client the platform (or its accounts) holds


class BillingSettings(BaseSettings):
    """Billing's knobs, layered like parking_core.settings (defaults < .env < environment)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    due_days: int = Field(default=30, alias="PARKING_PAYMENT_DUE_DAYS", ge=1, le=3650)
    query_after_s: float = Field(default=60.0, alias="PARKING_PAYMENT_QUERY_AFTER_S", gt=0)
    poll_s: float = Field(default=5.0, alias="PARKING_PAYMENT_POLL_S", gt=0)
    arrears_sweep_s: float = Field(default=300.0, alias="PARKING_ARREARS_SWEEP_S", gt=0)
    threads: int = Field(default=4, alias="PARKING_PAYMENT_THREADS", ge=1, le=64)
    max_tries: int = Field(default=3, alias="PARKING_PAYMENT_MAX_TRIES", ge=1, le=20)


def load_billing_settings(**overrides: Any) -> BillingSettings:
    """Build billing's settings or raise ConfigError naming the bad variable and its value."""
    return load_validated(BillingSettings, overrides)


def _run_after_commit(session: Session) -> None:
    for action in session.info.pop(AFTER_COMMIT, None) or ():
        try:
            action()
        except Exception:  # a notice or a publish that fails must not look like a failed commit
            log.exception("after-commit action failed")


def _drop_after_rollback(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(AFTER_COMMIT, None)


@dataclass
class Billing:
    """Everything billing holds for one platform."""

    settings: BillingSettings
    orders: OrderBook
    payments: Payments
    refunds: Refunds
    worker: PaymentWorker
    arrears_at_entry: ArrearsAtEntry
    alipay: AlipayClient | None
    _undo: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def arrears(self, plate: str) -> PlateArrears:
        with self.orders.uow() as uow:
            return kept(uow.session, arrears_of(uow.session, plate, self.orders.clock()))

    def add_pass(self, **kw: Any) -> MonthlyPass:
        with self.orders.uow() as uow:
            row = add_pass(uow.session, at=self.orders.clock(), directory=self.orders.directory, **kw)
            uow.commit()
        return row

    def passes(self, **kw: Any) -> list[MonthlyPass]:
        with self.orders.uow() as uow:
            return kept(uow.session, passes(uow.session, **kw))

    def reconcile(self, day: date) -> Reconciliation:
        if self.alipay is None:
            raise DependencyUnavailable("Alipay is not configured: no bill to reconcile with", field="ALIPAY_APP_ID")
        return reconcile(self.orders.uow, self.alipay, day)

    def settlement(self, day: date, *, operator_id: str | None = None) -> list[Settlement]:
        with self.orders.uow() as uow:
            return settlement(uow.session, day, operator_id=operator_id)

    def stop(self) -> None:
        """Stop the worker and take the hooks off the platform."""
        self.worker.stop()
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def install_billing(platform: Any, *, alipay: AlipayClient | None = FROM_PLATFORM, notifier: Notifier | None = None,
                    settings: BillingSettings | None = None, start_worker: bool = True) -> Billing:
    """Hook orders onto the platform's sessions and start the payment worker; replaces billing installed before."""
    previous = getattr(platform, "billing", None)
    if previous is not None:
        previous.stop()
    settings = settings or load_billing_settings()
    accounts = getattr(platform, "accounts", None)
    if alipay is FROM_PLATFORM:
        alipay = getattr(platform, "alipay", None) or getattr(accounts, "alipay", None)
    notifier = notifier or getattr(accounts, "notifier", None) or ConsoleNotifier()
    query_after = timedelta(seconds=settings.query_after_s)
    refunds = Refunds(uow=platform.uow, clock=platform.clock, alipay=alipay, notifier=notifier, retry_after=query_after)
    worker = PaymentWorker(uow=platform.uow, clock=platform.clock, alipay=alipay, refunds=refunds, notifier=notifier,
                           query_after=query_after, max_tries=settings.max_tries, poll_s=settings.poll_s,
                           sweep_every_s=settings.arrears_sweep_s, threads=settings.threads)
    orders = OrderBook(uow=platform.uow, clock=platform.clock, directory=platform.directory, tariffs=platform.tariffs,
                       due=timedelta(days=settings.due_days), charge_due=worker.wake)  # woken only when there is a charge to make
    payments = Payments(uow=platform.uow, clock=platform.clock, orders=orders, alipay=alipay, notifier=notifier,
                        query_after=query_after)
    at_entry = ArrearsAtEntry(clock=platform.clock, publish=platform._publish, topic_prefix=platform.settings.topic_prefix,
                              notifier=notifier)
    billing = Billing(settings, orders, payments, refunds, worker, at_entry, alipay)
    book = platform.sessions
    for hooks, hook in ((book.on_closed, orders.create_for), (book.on_corrected, orders.recompute_for), (book.on_opened, at_entry)):
        hooks.append(hook)
        billing._undo.append(lambda hooks=hooks, hook=hook: hooks.remove(hook))
    factory = platform.session_factory
    for name, fn in (("after_commit", _run_after_commit), ("after_transaction_end", _drop_after_rollback)):
        if not event.contains(factory, name, fn):
            event.listen(factory, name, fn)
            billing._undo.append(lambda name=name, fn=fn: event.remove(factory, name, fn))
    billing._undo.append(lambda: setattr(platform, "billing", None))
    platform.billing = billing
    if start_worker:
        worker.start()
    return billing


__all__ = ["FROM_PLATFORM", "Billing", "BillingSettings", "install_billing", "load_billing_settings"]
