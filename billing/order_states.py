"""The order state machine: which states may follow which, in one table."""
from __future__ import annotations

from parking_core.errors import Conflict

OPEN = ("unpaid", "arrears")  # owed and not being charged
SETTLED = ("paid", "partially_refunded", "refunded")
TRANSITIONS: dict[str, frozenset[str]] = {
    "unpaid": frozenset({"paying", "paid", "arrears", "void"}),
    "paying": frozenset({"paid", "unpaid"}),
    "arrears": frozenset({"paying", "paid", "void"}),
    "paid": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"refunded"}),
    "refunded": frozenset(),
    "void": frozenset(),
}
BY_PEOPLE = frozenset({"void"})  # states only a person's decision moves an order to: each such move is in the audit log


class InvalidTransition(Conflict):
    code = "invalid_order_transition"


def check_transition(old: str, new: str) -> None:
    """The one rule of which order states may follow which; raises naming both."""
    if new not in TRANSITIONS.get(old, ()):
        allowed = ", ".join(sorted(TRANSITIONS.get(old, ()))) or "nothing"
        raise InvalidTransition(f"order status {old!r} cannot become {new!r} (allowed: {allowed})", field="status", value=new)
