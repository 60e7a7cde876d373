"""Notices to a holder who has not proved the plate is theirs say the amount and the day only: never the car
park, never a time (a stranger who bound someone's plate must not learn where the car is or was).

A Notifier in front of the real one, so billing's notices (billing/notices.py) stay as they are for verified owners."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from billing.models import Order
from parking_core.clock import local
from parking_core.db import UnitOfWork
from parking_core.notify import Notifier
from parking_core.plate_verification import verified_plates

_ABOUT_ORDERS = {
    "order_paid": "paid {fen} fen for parking on {day}",
    "unpaid_order": "parking on {day} cost {fen} fen; pay it in the app",
    "order_refunded": "{fen} fen refunded for parking on {day}",
    "arrears": "parking on {day} ({fen} fen) is overdue and now in arrears",
}


@dataclass(frozen=True)
class OwnerOnlyDetails:
    notifier: Notifier
    uow: Callable[[], UnitOfWork]

    def notify(self, account_id: str, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        data = dict(data or {})
        if kind in _ABOUT_ORDERS and data.get("order_id"):
            with self.uow() as uow:
                order = uow.session.get(Order, data["order_id"])
                shown = order is None or order.plate in verified_plates(uow.session, account_id)
                if not shown:
                    day, fen = f"{local(order.exited_at):%Y-%m-%d}", data.get("amount_fen", order.amount_fen - order.paid_fen)
                    message, data = _ABOUT_ORDERS[kind].format(fen=fen, day=day), {"order_id": order.id, "amount_fen": fen, "day": day}
        elif kind == "arrears_at_entry" and data.get("plate"):
            with self.uow() as uow:
                shown = data["plate"] in verified_plates(uow.session, account_id)
            if not shown:  # the entry is happening now: the car park would say where the car is
                message = f"plate {data['plate']} owes {data['total_fen']} fen on {data['count']} order(s); pay it in the app"
                data = {"plate": data["plate"], "count": data["count"], "total_fen": data["total_fen"]}
        self.notifier.notify(account_id, kind, message, data)


__all__ = ["OwnerOnlyDetails"]
