"""A settlement statement as the operator keeps it: CSV for its books, and a self-contained HTML page to print."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from html import escape

from billing.settlement import StatementLine, Totals, rollup, total

CSV_COLUMNS = ("day", "operator_id", "district_id", "payments", "payments_fen", "refunds", "refunds_fen", "fee_fen", "net_fen", "owed_fen")


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals, for people (files and pages keep fen too)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def statement_csv(lines: Sequence[StatementLine]) -> str:
    """One row per day, operator and district, then a `total` row; amounts in fen."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        d = line.as_dict()
        writer.writerow([d[c] for c in CSV_COLUMNS])
    t = total(lines).as_dict()
    writer.writerow(["total", "", "", *(t[c] for c in CSV_COLUMNS[3:])])
    return out.getvalue()


_STYLE = """body{font:14px/1.4 system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #999;padding:.3em .5em}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tfoot td{font-weight:bold}
.meta{color:#444}@media print{body{margin:0}button{display:none}}"""


def statement_html(lines: Sequence[StatementLine], *, title: str, first: date, last: date, rate: Decimal,
                   operators: Sequence[str] | None = None) -> str:
    """A printable page: the days, a total, and how the fee was worked out; no scripts, no external files."""
    rows = "".join(_row(line.day.isoformat(), line.operator_id, line.district_id, line) for line in lines)
    by_operator = rollup(lines, "operator_id")
    summary = "".join(_row("", op, "", t) for op, t in by_operator.items())
    t = total(lines)
    head = ("<tr><th>day</th><th>operator</th><th>district</th><th class=n>payments</th><th class=n>collected (CNY)</th>"
            "<th class=n>refunds</th><th class=n>refunded (CNY)</th><th class=n>Alipay fee (CNY)</th><th class=n>owed (CNY)</th></tr>")
    scope = ", ".join(operators) if operators else "every operator"
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p class=meta>{escape(first.isoformat())} to {escape(last.isoformat())} (Shanghai days) · {escape(scope)} · "
        f"fee rate {escape(str(rate))}, per line, rounded half up to the fen · amounts in CNY, fen in the CSV</p>"
        f"<table><thead>{head}</thead><tbody>{rows}</tbody><tfoot>{_row('total', '', '', t)}</tfoot></table>"
        f"<h2>Per operator</h2><table><thead>{head}</thead><tbody>{summary}</tbody></table>"
        "</body></html>"
    )


def _row(day: str, operator_id: str, district_id: str, t: StatementLine | Totals) -> str:
    cells = [escape(day), escape(operator_id), escape(district_id)]
    numbers = [str(t.payments), yuan(t.payments_fen), str(t.refunds), yuan(t.refunds_fen), yuan(t.fee_fen), yuan(t.owed_fen)]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "".join(f"<td class=n>{n}</td>" for n in numbers) + "</tr>"


__all__ = ["CSV_COLUMNS", "statement_csv", "statement_html", "yuan"]
