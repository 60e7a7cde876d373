"""Each morning the day before is reconciled against Alipay's bill, through the operator API as the city runs it
and its people resolve it: every injected fault must be found as a case of the right class and of the right
operator (and nothing else found); each case is resolved the way its owner would (record a lost payment, refund
a duplicate, write off a trade that is not ours with a second person approving); the day must close, and
running it again must change nothing. Then the day's counts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from billing.models import Order, Payment
from billing.reconciliation import day_bounds
from parking_core.session_models import ParkingSession

RECON = "/v1/operator/reconciliation"
RESOLVE = {"alipay_only": "record", "duplicate_payment": "refund_duplicate"}  # an operator's own case, by kind


@dataclass
class DayRow:
    day: date
    stays: int = 0
    orders: int = 0
    paid: int = 0       # the day's orders paid the same day
    late: int = 0       # payments made that day for orders of earlier days
    unpaid: int = 0     # the day's orders not paid that day
    arrears: int = 0    # orders in arrears once the day is over
    faults: int = 0
    cases: int = 0
    resolved: int = 0
    status: str = "?"


def reconcile(w, people, month, day: date) -> DayRow:  # noqa: ANN001 - world.World, city.People, traffic.Month
    """Run `day` as the city, check its cases against the faults injected, resolve them, check it closed."""
    api, problems = w.api, month.problems
    city = people("city")
    faults = [f for f in month.faults if f.day == day]
    row = DayRow(day, faults=len(faults))
    r = api.post(f"{RECON}/days/{day}/run", headers=city)
    if r.status_code != 200:
        problems.append(f"{day}: run answered HTTP {r.status_code} {r.text[:200]}")
        return row
    cases = api.get(f"{RECON}/days/{day}/cases", headers=city).json()["cases"]
    row.cases = len(cases)
    expected = {(f.case, f.out_trade_no): f for f in faults if f.case}
    found = {(c["kind"], c["out_trade_no"]): c for c in cases}
    for key in expected.keys() - found.keys():
        problems.append(f"{day}: {expected[key].kind} of {key[1]} not found as a {key[0]} case")
    for key in found.keys() - expected.keys():
        problems.append(f"{day}: a {key[0]} case of {key[1]} that no fault explains")
    for key in expected.keys() & found.keys():
        if found[key]["operator_id"] != expected[key].operator:
            problems.append(f"{day}: case of {key[1]} is operator {found[key]['operator_id']}'s, not {expected[key].operator}'s")
    for c in cases:
        row.resolved += _resolve(api, people, c, problems)
    status = api.get(f"{RECON}/days/{day}", headers=city).json()
    row.status = status["status"]
    if row.status != ("closed" if cases else "balanced"):
        problems.append(f"{day}: {row.status} with {len(cases)} cases, {row.resolved} resolved")
    settled = _summary(api.get(f"{RECON}/days/{day}/cases", headers=city).json()["cases"])
    again = api.post(f"{RECON}/days/{day}/run", headers=city)
    if (again.status_code, again.json().get("status")) != (200, row.status) or _summary(
            api.get(f"{RECON}/days/{day}/cases", headers=city).json()["cases"]) != settled:
        problems.append(f"{day}: running the day again changed it: {again.status_code} {again.text[:200]}")
    _count(w, row)
    return row


def _summary(cases: list[dict]) -> list[tuple]:
    return sorted((c["id"], c["kind"], c["status"], c["resolution"]) for c in cases)


def _resolve(api, people, case: dict, problems: list[str]) -> int:  # noqa: ANN001
    """Resolve one case as its owner would; 1 when it ends resolved."""
    cid, op, kind = case["id"], case["operator_id"], case["kind"]
    url = f"{RECON}/cases/{cid}/resolve"
    if op is not None and kind in RESOLVE:
        steps = [(people(op), {"action": RESOLVE[kind]}, 200)]
        if kind == "duplicate_payment":  # the same refund asked twice (a retried click) refunds once
            steps.append((people(op), {"action": RESOLVE[kind]}, 200))
    elif op is None:  # nobody's: the city asks Alipay, proposes a write-off; the proposer may not approve it, finance does
        reason = "not a parking trade: the merchant's kiosk on the same Alipay account"
        steps = [(people("city"), {"action": "query"}, 200), (people("city"), {"action": "write_off", "reason": reason}, 200),
                 (people("city"), {"action": "approve_write_off"}, 403), (people("city", "finance"), {"action": "approve_write_off"}, 200)]
    else:
        problems.append(f"case {cid}: no resolution known for a {kind} case of {op}")
        return 0
    for who, body, want in steps:
        r = api.post(url, headers=who, json=body)
        if r.status_code != want:
            problems.append(f"case {cid} ({kind}): {body['action']} answered HTTP {r.status_code}, expected {want}: {r.text[:200]}")
            return 0
    final = api.get(f"{RECON}/cases/{cid}", headers=people("city")).json()
    return int(final["status"] == "resolved")


def _count(w, row: DayRow) -> None:  # noqa: ANN001
    start, end = day_bounds(row.day)
    with w.platform.uow() as uow:
        s = uow.session
        row.stays = s.scalar(select(func.count()).select_from(ParkingSession).where(
            ParkingSession.exited_at >= start, ParkingSession.exited_at < end))
        todays = select(Order.id).where(Order.created_at >= start, Order.created_at < end)
        row.orders = s.scalar(select(func.count()).select_from(todays.subquery()))
        row.paid = s.scalar(select(func.count(func.distinct(Payment.order_id))).where(
            Payment.paid_at >= start, Payment.paid_at < end, Payment.order_id.in_(todays)))
        row.late = s.scalar(select(func.count()).select_from(Payment).join(Order, Order.id == Payment.order_id).where(
            Payment.paid_at >= start, Payment.paid_at < end, Order.created_at < start))
        row.unpaid = row.orders - row.paid
        row.arrears = s.scalar(select(func.count()).select_from(Order).where(Order.status == "arrears"))


def next_morning(day: date):  # noqa: ANN201
    """When the day before is reconciled: 00:30 (before the payment worker's first round asks Alipay about anything)."""
    from bench.month.traffic import _at

    return _at(day + timedelta(days=1), 0, 30)
