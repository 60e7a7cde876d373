"""Billing's handler map: what billing does when a stay or an order changes. Merged with the other
packages' maps in gateways/bootstrap.py, the one place that says what reacts to what."""
from __future__ import annotations

from typing import TYPE_CHECKING

from billing.events import (
    ArrearsFoundAtEntry,
    OrderCreated,
    OrderFellIntoArrears,
    OrderLeftUnpaid,
    OrderRepriced,
    PaymentRecorded,
    RefundRecorded,
)
from billing.plate_owner_moves import DebtNotices, PlateDebtsMoved, move_debts
from parking_core.domain_events import StayCorrected, VehicleEntered, VehicleExited
from parking_core.messagebus import HandlerMap
from parking_core.plate_verification_events import PlateOwnerChanged

if TYPE_CHECKING:
    from billing.service import Billing


def billing_handlers(b: Billing) -> HandlerMap:
    return HandlerMap(
        inside={  # in the stay's transaction: the order exists with the exit, or neither does
            VehicleEntered: [b.arrears_at_entry],      # what the entering plate owes → ArrearsFoundAtEntry
            VehicleExited: [b.orders.create_for],      # the stay's order, priced → OrderCreated
            StayCorrected: [b.orders.recompute_for],   # re-priced, or flagged for a refund → OrderRepriced
            PlateOwnerChanged: [move_debts],           # the plate's open debts follow its verified owner → PlateDebtsMoved
        },
        after_commit={  # once committed; never after a rollback
            OrderCreated: [b.wake_worker],             # only when the order has a charge to make
            OrderRepriced: [b.wake_worker],
            PaymentRecorded: [b.notices.order_paid],
            OrderLeftUnpaid: [b.notices.order_unpaid],
            RefundRecorded: [b.notices.order_refunded],
            OrderFellIntoArrears: [b.notices.order_in_arrears],
            ArrearsFoundAtEntry: [b.notices.arrears_at_entry],
            PlateDebtsMoved: [DebtNotices(b.notices.notifier).debts_moved],
        },
    )
