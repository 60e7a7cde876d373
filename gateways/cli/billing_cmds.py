"""`parking settlement day|month`: settlement statements (清分结算) from the database, as JSON, CSV or a printable page."""
from __future__ import annotations

import json
from datetime import date
from typing import Optional

import typer

settlement_app = typer.Typer(help="settlement statements per operator and day or month (docs/RECONCILIATION.md)", no_args_is_help=True)
FORMAT_HELP = "json, csv (amounts in fen, a total row) or html (a page to print)"


def _statement(first: date, last: date, operator: str | None, fmt: str, demo: bool, title: str) -> None:
    from billing.reconciliation_settings import load_reconciliation_settings
    from billing.settlement import rollup, statement_lines, total
    from billing.settlement_documents import statement_csv, statement_html
    from gateways.cli.main import _billing_fail, _demo_settings, _fail, _offline_platform, _settings
    from parking_core.errors import ParkingError

    if fmt not in ("json", "csv", "html"):
        _fail(ParkingError(f"--format {fmt!r} is not one of json, csv, html", field="--format", value=fmt))
    s = _demo_settings(_settings()) if demo else _settings()
    platform = _offline_platform(s)
    try:
        rate = load_reconciliation_settings().fee_rate
        platform.check_schema()
        with platform.uow() as uow:
            lines = statement_lines(uow.session, first, last, rate=rate, operators={operator} if operator else None)
    except ParkingError as exc:
        _billing_fail(exc, s, demo)
    finally:
        platform.stop()
    if fmt == "csv":
        typer.echo(statement_csv(lines), nl=False)
    elif fmt == "html":
        typer.echo(statement_html(lines, title=title, first=first, last=last, rate=rate, operators=[operator] if operator else None))
    else:
        typer.echo(json.dumps({"first": first.isoformat(), "last": last.isoformat(), "fee_rate": str(rate),
                               "lines": [line.as_dict() for line in lines],
                               "by_operator": {k: v.as_dict() for k, v in rollup(lines, "operator_id").items()},
                               "by_district": {k: v.as_dict() for k, v in rollup(lines, "district_id").items()},
                               "total": total(lines).as_dict()}, ensure_ascii=False, indent=2))


@settlement_app.command("day")
def day_statement(day: str = typer.Argument(..., help="a Shanghai day, YYYY-MM-DD"),
                  operator: Optional[str] = typer.Option(None, help="one operator id; all when unset"),
                  format: str = typer.Option("json", "--format", help=FORMAT_HELP),  # noqa: A002
                  demo: bool = typer.Option(False, "--demo", help="the demo's database")) -> None:
    """One day's statement: collected, refunded, Alipay's fee and owed, per operator and district, in fen."""
    from gateways.cli.main import _day

    when = _day(day)
    _statement(when, when, operator, format, demo, f"结算单 settlement statement {when}")


@settlement_app.command("month")
def month_statement(month: str = typer.Argument(..., help="a month, YYYY-MM"),
                    operator: Optional[str] = typer.Option(None, help="one operator id; all when unset"),
                    format: str = typer.Option("json", "--format", help=FORMAT_HELP),  # noqa: A002
                    demo: bool = typer.Option(False, "--demo", help="the demo's database")) -> None:
    """A month's daily statements with their totals."""
    from billing.settlement import month_bounds
    from gateways.cli.main import _fail
    from parking_core.errors import ParkingError

    try:
        first, last = month_bounds(month)
    except ParkingError as exc:
        _fail(exc)
    _statement(first, last, operator, format, demo, f"月结算单 settlement statement {month}")
