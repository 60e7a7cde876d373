"""Operator gateway for settlement (清分结算): statements per operator and day, or a month, as JSON, CSV or a
printable HTML page. An operator gets its own; a district its operators'; the city every operator's, with the
district and city totals (which add up exactly: billing/settlement.py)."""
from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from billing.reconciliation_settings import reconciliation_settings
from billing.settlement import month_bounds, rollup, statement_lines, total
from billing.settlement_documents import statement_csv, statement_html
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.permissions import OperatorPrincipal, operator_for_read, readable_operators

router = APIRouter(prefix="/v1/operator/settlement", tags=["operator settlement"])
RESPONSES = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"},
             404: {"model": ErrorBody, "description": "no such operator (or not yours)"},
             422: {"model": ErrorBody, "description": "a bad day, month or format"},
             200: {"content": {"text/csv": {}, "text/html": {}}, "description": "JSON, or the CSV / printable page asked for"}}
Format = Literal["json", "csv", "html"]


class Money(BaseModel):
    payments: int
    payments_fen: int
    refunds: int
    refunds_fen: int
    fee_fen: int = Field(description="Alipay's fee: per line, amount x rate rounded half up, refunds giving theirs back")
    net_fen: int
    owed_fen: int = Field(description="what the platform pays the operator: payments - refunds - fee")


class Line(Money):
    day: date
    operator_id: str
    district_id: str


class StatementRead(BaseModel):
    first: date
    last: date
    fee_rate: str
    lines: list[Line] = Field(description="per day, operator and district")
    by_operator: dict[str, Money]
    by_district: dict[str, Money]
    total: Money


def _statement(p, platform, first: date, last: date, operator_id: str | None, fmt: Format, title: str):  # noqa: ANN001, ANN202
    operators = {operator_for_read(p, platform, operator_id)} if operator_id else readable_operators(p, platform)
    rate = reconciliation_settings(platform).fee_rate
    with platform.uow() as uow:
        lines = statement_lines(uow.session, first, last, rate=rate, operators=operators)
    if fmt == "csv":
        name = f"settlement_{operator_id or 'all'}_{first}_{last}.csv"
        return Response(statement_csv(lines), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    if fmt == "html":
        return HTMLResponse(statement_html(lines, title=title, first=first, last=last, rate=rate,
                                           operators=sorted(operators) if operators is not None else None))
    return StatementRead(first=first, last=last, fee_rate=str(rate), lines=[Line(**line.as_dict()) for line in lines],
                         by_operator={k: Money(**v.as_dict()) for k, v in rollup(lines, "operator_id").items()},
                         by_district={k: Money(**v.as_dict()) for k, v in rollup(lines, "district_id").items()},
                         total=Money(**total(lines).as_dict()))


@router.get("/statements/{day}", response_model=StatementRead, responses=RESPONSES)
def day_statement(day: date, p: OperatorPrincipal, platform: PlatformDep,
                  operator_id: str | None = Query(None, description="one operator; unset: every one you may see"),
                  format: Format = Query("json")):  # noqa: A002, ANN201
    """One Shanghai day: collected, refunded, Alipay's fee and owed, per operator and district, in fen."""
    return _statement(p, platform, day, day, operator_id, format, f"结算单 settlement statement {day}")


@router.get("/months/{month}", response_model=StatementRead, responses=RESPONSES)
def month_statement(month: str, p: OperatorPrincipal, platform: PlatformDep,
                    operator_id: str | None = Query(None, description="one operator; unset: every one you may see"),
                    format: Format = Query("json")):  # noqa: A002, ANN201
    """A month's daily statements (month like 2026-11) with their totals."""
    first, last = month_bounds(month)
    return _statement(p, platform, first, last, operator_id, format, f"月结算单 settlement statement {month}")
