"""Billing as one declared part of the platform: its settings, its books, the payment worker.

The composition root builds it (`build_billing`) and merges `billing/handlers.py` into its handler map;
nothing is hooked on at run time.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.alipay.client import AlipayClient
from billing.arrears import ArrearsAtEntry, PlateArrears, arrears_of
from billing.events import OrderCreated, OrderRepriced
from billing.models import MonthlyPass
from billing.notices import DriverNotices
from billing.orders import OrderBook
from billing.passes import add_pass, passes
from billing.payment_worker import PaymentWorker
from billing.payments import Payments
from billing.reconcile import Reconciliation, Settlement, reconcile, settlement
from billing.refunds import Refunds
from billing.tariffs import CompiledTariff
from billing.verified_notices import OwnerOnlyDetails
from parking_core.db import UnitOfWork, kept
from parking_core.directory import Directory
from parking_core.errors import DependencyUnavailable
from parking_core.notify import Notifier
from parking_core.settings import load_validated


class BillingSettings(BaseSettings):
    """Billing's knobs, layered like parking_core.settings (defaults < .env < environment)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    due_days: int = Field(default=30, alias="PARKING_PAYMENT_DUE_DAYS", ge=1, le=3650)
    query_after_s: float = Field(default=60.0, alias="PARKING_PAYMENT_QUERY_AFTER_S", gt=0)
    poll_s: float = Field(default=5.0, alias="PARKING_PAYMENT_POLL_S", gt=0)
    arrears_sweep_s: float = Field(default=300.0, alias="PARKING_ARREARS_SWEEP_S", gt=0)
    threads: int = Field(default=4, alias="PARKING_PAYMENT_THREADS", ge=1, le=64)
    max_tries: int = Field(default=3, alias="PARKING_PAYMENT_MAX_TRIES", ge=1, le=20)
    withhold_unverified: bool = Field(default=False, alias="PARKING_WITHHOLD_UNVERIFIED")  # docs/accounts.md


def load_billing_settings(**overrides: Any) -> BillingSettings:
    """Build billing's settings or raise ConfigError naming the bad variable and its value."""
    return load_validated(BillingSettings, overrides)


@dataclass
class Billing:
    """Everything billing holds for one platform."""

    settings: BillingSettings
    orders: OrderBook
    payments: Payments
    refunds: Refunds
    worker: PaymentWorker
    arrears_at_entry: ArrearsAtEntry
    notices: DriverNotices
    alipay: AlipayClient | None

    def wake_worker(self, event: OrderCreated | OrderRepriced) -> None:
        """After commit: wake the payment worker only for an order it can charge now; anything else waits for its poll."""
        if event.charge_due:
            self.worker.wake()

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
        self.worker.stop()


def build_billing(*, uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], directory: Directory,
                  tariffs: Mapping[str, CompiledTariff], alipay: AlipayClient | None, notifier: Notifier,
                  settings: BillingSettings | None = None) -> Billing:
    """Billing's parts over one database; the worker is started by whoever runs it (`worker.start()`)."""
    settings = settings or load_billing_settings()
    query_after = timedelta(seconds=settings.query_after_s)
    refunds = Refunds(uow=uow, clock=clock, alipay=alipay, retry_after=query_after)
    worker = PaymentWorker(uow=uow, clock=clock, alipay=alipay, refunds=refunds, query_after=query_after,
                           max_tries=settings.max_tries, poll_s=settings.poll_s, sweep_every_s=settings.arrears_sweep_s,
                           threads=settings.threads, withhold_unverified=settings.withhold_unverified)
    orders = OrderBook(uow=uow, clock=clock, directory=directory, tariffs=tariffs, due=timedelta(days=settings.due_days))
    payments = Payments(uow=uow, clock=clock, orders=orders, alipay=alipay, query_after=query_after)
    return Billing(settings, orders, payments, refunds, worker, ArrearsAtEntry(clock=clock),
                   DriverNotices(OwnerOnlyDetails(notifier, uow)), alipay)  # unverified holders: amount and day only


__all__ = ["Billing", "BillingSettings", "build_billing", "load_billing_settings"]
