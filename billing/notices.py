"""What billing tells a driver, after the change it is about has committed (after-commit handlers)."""
from __future__ import annotations

from dataclasses import dataclass

from billing.events import (
    ArrearsFoundAtEntry,
    OrderFellIntoArrears,
    OrderLeftUnpaid,
    PaymentRecorded,
    RefundRecorded,
)
from parking_core.clock import local
from parking_core.notify import Notifier


@dataclass(frozen=True)
class DriverNotices:
    notifier: Notifier

    def order_paid(self, e: PaymentRecorded) -> None:
        if e.account_id is not None:
            self.notifier.notify(e.account_id, "order_paid", f"paid {e.amount_fen} fen for parking at {e.lot_id}",
                                 {"order_id": e.order_id, "amount_fen": e.amount_fen, "lot_id": e.lot_id})

    def order_unpaid(self, e: OrderLeftUnpaid) -> None:
        if e.account_id is None:
            return
        due = f"{local(e.due_at):%Y-%m-%d %H:%M}"  # people read Shanghai time
        message = (f"could not charge {e.owed_fen} fen for parking ({e.reason}); pay it in the app before {due} (Shanghai)" if e.tried
                   else f"parking at {e.lot_id} cost {e.owed_fen} fen; pay it in the app before {due} (Shanghai)")
        self.notifier.notify(e.account_id, "unpaid_order", message,
                             {"order_id": e.order_id, "amount_fen": e.owed_fen, "due_at": e.due_at.isoformat(), "reason": e.reason})

    def order_refunded(self, e: RefundRecorded) -> None:
        if e.account_id is not None:
            self.notifier.notify(e.account_id, "order_refunded", f"{e.amount_fen} fen refunded: {e.reason}",
                                 {"order_id": e.order_id, "amount_fen": e.amount_fen, "reason": e.reason})

    def order_in_arrears(self, e: OrderFellIntoArrears) -> None:
        if e.account_id is not None:
            self.notifier.notify(e.account_id, "arrears", f"parking order {e.order_id} ({e.owed_fen} fen, {e.lot_id}) is overdue and now in arrears",
                                 {"order_id": e.order_id, "amount_fen": e.owed_fen, "lot_id": e.lot_id})

    def arrears_at_entry(self, e: ArrearsFoundAtEntry) -> None:
        for account_id in e.account_ids:
            self.notifier.notify(account_id, "arrears_at_entry",
                                 f"plate {e.plate} entered {e.lot_id} owing {e.total_fen} fen on {e.count} order(s)",
                                 {"plate": e.plate, "lot_id": e.lot_id, "count": e.count, "total_fen": e.total_fen})
