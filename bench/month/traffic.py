"""A day of traffic and money, and the faults injected into it, each written down with the case (if any) the
next morning's reconciliation must find for it.

Cars enter and leave through the gate cameras' messages (`send`: into the ingest pipeline's batch handler, or over
MQTT into the platform's own ingest, bench/month/broker.py), an hourly step at a time, each step's entries and
exits stamped at most the clock the bench has moved to. Drivers with a withholding agreement are charged by the payment
worker after their exit; drivers without one pay in the app by QR code (`Payments.pay_by_qr`, what
`POST /v1/me/orders/{id}/pay` calls) the same evening or days later, some from arrears; unregistered plates never
pay. Faults, all from the local Alipay's own controls: notifications lost (every try dropped), notifications
sent twice, one payment taken twice, and a trade of the merchant's other business (not ours) in the bill."""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from alipay_standin import NotifyPolicy
from bench.month.city import LOTS, operator_of
from bench.month.world import QUIET
from billing.alipay.client import build_client, trade_precreate
from billing.models import Order, Payment
from parking_core.clock import SHANGHAI
from tests.factories import passage_msg

LOST = NotifyPolicy(drop_first=8, time_scale=2e-6)  # all of Alipay's 8 tries lost: the platform never hears
TWICE = NotifyPolicy(duplicates=1, time_scale=2e-6)  # acknowledged, then sent again (same notify_id)
FIRST_STEP, LAST_STEP = 8, 23  # the day runs in hourly steps, 08:00 to 23:00; a lost notification at 23:30


@dataclass(frozen=True)
class Fault:
    day: date                # the Alipay day it is in, whose reconciliation must find it
    kind: str                # lost_notification | duplicate_notification | duplicate_payment | foreign_trade
    out_trade_no: str
    operator: str | None
    case: str | None         # the case kind it must be found as; None: the platform absorbs it (no case)


@dataclass
class Visit:
    lot: str
    plate: str
    payer: str               # withholding | app | never
    entered_at: datetime
    exited_at: datetime
    driver: object = None    # tests.billing_flow.conftest.Driver
    pay_on: date | None = None
    lost: bool = False       # its app payment's notification is lost
    order_id: str | None = None


@dataclass
class Plan:
    """Which days carry which faults (by day number, 1-based)."""

    days: int
    duplicate_payment_day: int = 0
    foreign_trade_day: int = 0

    def __post_init__(self) -> None:
        self.duplicate_payment_day = self.duplicate_payment_day or (self.days + 1) // 2
        self.foreign_trade_day = self.foreign_trade_day or max(1, self.days * 2 // 3)

    def lost_notification(self, n: int) -> bool:
        return n % 3 == 1

    def duplicate_notification(self, n: int) -> bool:
        return n % 3 == 2 or n == self.days == 1

    def operator_refund(self, n: int) -> bool:
        return n % 5 == 3


@dataclass
class Month:
    """The traffic's state across days: drivers, visits, app payments due, faults injected."""

    w: object                # world.World
    people: object           # city.People
    send: object             # city.Joined.send: the devices' messages into the platform
    first: date
    plan: Plan
    seed: int = 11
    visits_per_lot: tuple[int, int] = (5, 9)
    withholding_drivers: int = 40
    app_drivers: int = 12
    visits: list[Visit] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    payers: dict[str, list] = field(default_factory=dict)
    _plates: itertools.count = field(default_factory=lambda: itertools.count(10_001))
    _events: itertools.count = field(default_factory=lambda: itertools.count(1))
    lot_of_order: dict[str, str] = field(default_factory=dict)
    _deliveries_seen: int = 0
    _twins_seen: set[str] = field(default_factory=set)

    def drivers(self) -> None:
        """Signed-in drivers with a proved plate: most with a withholding agreement, some paying in the app."""
        env = self.w.env
        self.payers = {"withholding": [env.driver(f"苏E{next(self._plates)}") for _ in range(self.withholding_drivers)],
                       "app": [env.driver(f"苏E{next(self._plates)}", agreement=False) for _ in range(self.app_drivers)]}

    # -- one day --------------------------------------------------------------------------------------

    def day(self, n: int) -> date:
        """Run day number n (1-based): its traffic, payments and faults. The clock ends at 23:30 of that day."""
        day = self.first + timedelta(days=n - 1)
        rng = random.Random(f"{self.seed}-{n}")
        todays = self._plan_visits(day, rng, lost=self.plan.lost_notification(n))
        self.visits += todays
        twice_step = self._busiest_withholding_step(todays) if self.plan.duplicate_notification(n) else None
        dup_step = self._busiest_withholding_step(todays) if n == self.plan.duplicate_payment_day else None
        prev = _at(day, FIRST_STEP - 1)
        for hour in range(FIRST_STEP, LAST_STEP + 1):
            now = _at(day, hour)
            self.w.at(now)
            self._passages(todays, prev, now)
            for v in self._app_payments(day, hour):
                self._pay_in_app(v)
            if hour == 15 and n == self.plan.foreign_trade_day:
                self._foreign_trade(day)
            if hour == 20 and self.plan.operator_refund(n):
                self._operator_refund(day, n)
            if hour == twice_step:
                self.w.gw.set_notify_policy(TWICE)
            if hour == dup_step:
                self.w.gw.duplicate_next_payments(1)
            self.w.env.work()
            self.w.gw.set_notify_policy(QUIET)
            self._collect_faults(day)
            prev = now
        self.w.at(_at(day, LAST_STEP, 30))
        lost = [v for v in todays if v.lost]
        self.w.gw.set_notify_policy(LOST)
        for v in lost:
            self._pay_in_app(v)
        self.w.gw.wait_idle(10)
        self.w.gw.set_notify_policy(QUIET)
        self._collect_faults(day, lost={_out_trade_no(self.w, v.order_id) for v in lost})
        if twice_step is not None and not any(f.kind == "duplicate_notification" and f.day == day for f in self.faults):
            self.problems.append(f"{day}: no notification was sent twice although asked")
        return day

    def _plan_visits(self, day: date, rng: random.Random, *, lost: bool) -> list[Visit]:
        free = {k: rng.sample(v, len(v)) for k, v in self.payers.items()}  # each driver parks at most once a day
        out = []
        for lot, _, _ in LOTS:
            for _ in range(rng.randint(*self.visits_per_lot)):
                payer = rng.choices(("withholding", "app", "never"), weights=(70, 18, 12))[0]
                if payer != "never" and not free[payer]:
                    payer = "never"
                driver = free[payer].pop() if payer != "never" else None
                plate = driver.plate if driver else f"苏F{next(self._plates)}"  # an unregistered car: nobody to charge
                entered = _at(day, 7) + timedelta(seconds=rng.randint(60, 11 * 3600))
                exited = min(entered + timedelta(minutes=rng.randint(60, 360)), _at(day, 22, 59))
                v = Visit(lot, plate, payer, entered, exited, driver)
                if payer == "app":
                    v.pay_on = day + timedelta(days=rng.choice((0, 1, 1, 2, 3, 4)))
                out.append(v)
        if lost:
            app = [v for v in out if v.payer == "app"] or self._force_app(out)
            app[0].pay_on, app[0].lost = day, True
        return out

    def _force_app(self, visits: list[Visit]) -> list[Visit]:
        """A day that must lose a notification needs a driver paying in the app: the day's first visit becomes one."""
        used = {v.driver.account_id for v in visits if v.driver}
        driver = next(d for d in self.payers["app"] if d.account_id not in used)
        v = next(v for v in visits if v.payer != "app")
        v.payer, v.driver, v.plate = "app", driver, driver.plate
        return [v]

    @staticmethod
    def _busiest_withholding_step(visits: list[Visit]) -> int | None:
        """The hourly step in which the payment worker charges the most drivers (None: nobody to charge today)."""
        hours = [_step_of(v.exited_at) for v in visits if v.payer == "withholding"]
        return max(set(hours), key=lambda h: (hours.count(h), -h)) if hours else None

    def _passages(self, visits: list[Visit], prev: datetime, now: datetime) -> None:
        """The step's gate passages, in time order, through the ingest; each exit's order found."""
        events = [(v.entered_at, "in", v) for v in visits if prev < v.entered_at <= now]
        events += [(v.exited_at, "out", v) for v in visits if prev < v.exited_at <= now]
        events.sort(key=lambda e: e[0])
        if not events:
            return
        self.send([passage_msg(v.lot, d, f"m{next(self._events)}", d, v.plate, t) for t, d, v in events])
        exits = {(v.lot, v.plate): v for t, d, v in events if d == "out"}
        with self.w.platform.uow() as uow:
            for oid, lot, plate in uow.session.execute(select(Order.id, Order.lot_id, Order.plate).where(
                    Order.exited_at > prev, Order.exited_at <= now)):
                if (v := exits.pop((lot, plate), None)) is not None:
                    v.order_id = oid
                    self.lot_of_order[oid] = lot
        for v in exits.values():
            self.problems.append(f"no order for {v.plate}'s exit from {v.lot} at {v.exited_at:%Y-%m-%d %H:%M}")

    def _app_payments(self, day: date, hour: int) -> list[Visit]:
        """Late payers pay at noon; those paying the same evening at 23:00 (after every exit); lost ones at 23:30."""
        return [v for v in self.visits if v.payer == "app" and v.pay_on == day and v.order_id and not v.lost
                and hour == (LAST_STEP if v.exited_at.date() == day else 12)]

    def _pay_in_app(self, v: Visit) -> None:
        """The driver asks for a QR code for the order and pays it (the scan happens at Alipay)."""
        qr = self.w.platform.billing.payments.pay_by_qr(v.driver.account_id, v.order_id)
        self.w.gw.pay_precreated(qr.out_trade_no)

    def _foreign_trade(self, day: date) -> None:
        """The merchant's kiosk takes a payment on the same Alipay account: in the bill, not ours."""
        kiosk = build_client(self.w.gw.client_settings(notify_url=None))
        number = f"KIOSK{day:%Y%m%d}001"
        trade_precreate(kiosk, out_trade_no=number, amount_fen=1250, subject="便利店 矿泉水")
        self.w.gw.pay_precreated(number)
        self.faults.append(Fault(day, "foreign_trade", number, None, "alipay_only"))

    def _operator_refund(self, day: date, n: int) -> None:
        """An operator's staff gives back 1 CNY of one of today's paid orders (goodwill): no fault, a refund line."""
        op = sorted({op for _, op, _ in LOTS})[n % 3]
        paid = [v for v in self.visits if v.order_id and v.exited_at.date() == day and v.payer == "withholding"
                and operator_of(v.lot) == op]
        if not paid:
            return
        r = self.w.api.post(f"/v1/operator/orders/{paid[0].order_id}/refund", headers=self.people(op),
                            json={"amount_fen": 100, "reason": "goodwill: the barrier was slow", "request_id": f"goodwill-{day}"})
        if r.status_code != 201:
            self.problems.append(f"{op}'s refund of {paid[0].order_id}: HTTP {r.status_code} {r.text[:200]}")

    def _collect_faults(self, day: date, lost: set[str] = frozenset()) -> None:
        """What the local Alipay actually did since the last look: notifications sent twice or lost, payments twinned."""
        deliveries = self.w.gw.deliveries()
        new, self._deliveries_seen = deliveries[self._deliveries_seen:], len(deliveries)
        for d in new:
            number, status = d.params.get("out_trade_no"), d.params.get("trade_status")
            if not number or status != "TRADE_SUCCESS" or "refund_fee" in d.params:
                continue
            acks = sum(a.outcome == "acknowledged" for a in d.attempts)
            if acks >= 2:
                self.faults.append(Fault(day, "duplicate_notification", number, self.operator_of_trade(number), None))
                self._paid_once(number)
            elif number in lost:
                if acks or d.state != "gave_up":
                    self.problems.append(f"{number}: the notification meant to be lost was {d.state} ({acks} acknowledged)")
                else:
                    self.faults.append(Fault(day, "lost_notification", number, self.operator_of_trade(number), "alipay_only"))
        with self.w.gw.gateway.ledger.lock:
            twins = [t for t in self.w.gw.gateway.ledger.trades.values() if t.twin_of and t.trade_no not in self._twins_seen]
        for t in twins:
            self._twins_seen.add(t.trade_no)
            self.faults.append(Fault(t.paid_at.date(), "duplicate_payment", t.out_trade_no, self.operator_of_trade(t.out_trade_no),
                                     "duplicate_payment"))

    def operator_of_trade(self, out_trade_no: str) -> str | None:
        """Our trade numbers are `{order id}-{n}`; anything else is nobody's."""
        lot = self.lot_of_order.get(out_trade_no.rsplit("-", 1)[0])
        return operator_of(lot) if lot else None

    def _paid_once(self, out_trade_no: str) -> None:
        with self.w.platform.uow() as uow:
            n = uow.session.scalar(select(func.count()).select_from(Payment).where(Payment.out_trade_no == out_trade_no))
        if n != 1:
            self.problems.append(f"{out_trade_no}: notified twice, recorded {n} times")


def _out_trade_no(w, order_id: str) -> str:  # noqa: ANN001
    from billing.models import PaymentAttempt

    with w.platform.uow() as uow:
        return uow.session.scalars(select(PaymentAttempt.out_trade_no).where(PaymentAttempt.order_id == order_id)
                                   .order_by(PaymentAttempt.id.desc())).first()


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    if hour == 24:
        return datetime.combine(day + timedelta(days=1), time(0, minute), SHANGHAI)
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def _step_of(t: datetime) -> int:
    """The hourly step (its end hour) that carries an event at t."""
    return t.hour + (1 if (t.minute, t.second, t.microsecond) != (0, 0, 0) else 0)
