"""What the month prints: a line per day as it closes (under a rich progress bar), the month as a table, a verdict."""
from __future__ import annotations

from bench.common import table

COLUMNS = ("day", "stays", "orders", "paid", "late", "unpaid", "arrears", "faults", "cases", "resolved", "status")


def day_line(row) -> str:  # noqa: ANN001 - books.DayRow
    return (f"{row.day}  stays {row.stays:3d}  orders {row.orders:3d}  paid {row.paid:3d}  late {row.late:2d}  unpaid {row.unpaid:2d}  "
            f"arrears {row.arrears:3d}  faults {row.faults}  cases {row.cases}  resolved {row.resolved}  {row.status}")


def month_table(rows: list, faults: list) -> None:  # noqa: ANN001
    table("the month, day by day", COLUMNS, [[str(r.day), r.stays, r.orders, r.paid, r.late, r.unpaid, r.arrears, r.faults, r.cases,
                                              r.resolved, r.status] for r in rows]
          + [["total", *(sum(getattr(r, c) for r in rows) for c in COLUMNS[1:6]), rows[-1].arrears if rows else 0,
              sum(r.faults for r in rows), sum(r.cases for r in rows), sum(r.resolved for r in rows),
              f"{sum(r.status in ('closed', 'balanced') for r in rows)}/{len(rows)} closed"]])
    kinds: dict[str, int] = {}
    for f in faults:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    table("faults injected", ("fault", "count", "found as"), [[k, n, _found_as(k)] for k, n in sorted(kinds.items())])


def _found_as(kind: str) -> str:
    return {"lost_notification": "alipay_only case, resolved by record", "duplicate_notification": "no case: recorded once",
            "duplicate_payment": "duplicate_payment case, resolved by refund_duplicate",
            "foreign_trade": "alipay_only case (nobody's), written off with a second approver"}[kind]
