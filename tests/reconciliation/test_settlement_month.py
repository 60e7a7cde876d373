"""A simulated month of money (three operators, two districts, hundreds of payments and refunds over 30 days):
the statements' fen add up exactly across lines, days, operators, districts and the city; the fee follows the
stated rounding rule line by line; an operator sees only its own; CSV and the printable page say the same."""
from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, time, timedelta

from gateways.operator.permissions import OperatorKeys
from parking_core.clock import SHANGHAI
from tests.factories import feature, registry
from tests.reconciliation.money import paid_order

CITY, OP1 = "month-city-" + "c" * 20, "month-op1-" + "1" * 20
LOTS = {"A1": ("op1", "gusu"), "A2": ("op1", "sip"), "B1": ("op2", "gusu"), "C1": ("op3", "sip")}
MONTH = date(2026, 11, 1)


def _month(platform, seed: int = 11):
    """Payments at random times of each day of November 2026, some refunded (in part) the same or a later day; the
    books as the test itself adds them up: per operator and district, payments, refunds and their fees at 0.6%."""
    rng = random.Random(seed)
    expected: dict[tuple[str, str], list[int]] = {}
    with platform.uow() as uow:
        for d in range(30):
            day = MONTH + timedelta(days=d)
            for _ in range(rng.randint(5, 25)):
                lot = rng.choice(sorted(LOTS))
                operator, district = LOTS[lot]
                amount = rng.choice([100, 250, 400, 583, 1000, 1250, 2083, 4999])
                paid_at = datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)), SHANGHAI)
                refunds = ()
                if rng.random() < 0.15:
                    back = rng.randint(1, amount)
                    when = min(paid_at + timedelta(hours=rng.randint(1, 60)), datetime.combine(date(2026, 11, 30), time(23, 59), SHANGHAI))
                    refunds = ((back, when),)
                paid_order(uow.session, lot_id=lot, operator_id=operator, amount_fen=amount, paid_at=paid_at, refunds=refunds)
                e = expected.setdefault((operator, district), [0, 0, 0, 0, 0])
                e[0] += 1
                e[1] += amount
                e[4] += (amount * 6 + 500) // 1000  # 0.6%, half up, per payment
                for back, _ in refunds:
                    e[2] += 1
                    e[3] += back
                    e[4] -= (back * 6 + 500) // 1000
        uow.commit()
    return expected


def _env(api):
    platform, client = api(registry=registry(*(feature(lot, operator=op, district=district, lat=31.3 + i / 100)
                                               for i, (lot, (op, district)) in enumerate(sorted(LOTS.items())))))
    platform.operator_keys = OperatorKeys({"city": CITY, "op1": OP1})
    return platform, client, _month(platform)


def _money(values) -> dict:
    n, fen, rn, rfen, fee = values
    return {"payments": n, "payments_fen": fen, "refunds": rn, "refunds_fen": rfen, "fee_fen": fee, "net_fen": fen - rfen,
            "owed_fen": fen - rfen - fee}


def _sum(groups) -> list[int]:
    return [sum(g[i] for g in groups) for i in range(5)]


def test_a_month_adds_up_exactly_across_operators_districts_and_the_city(api):
    platform, client, expected = _env(api)
    body = client.get("/v1/operator/settlement/months/2026-11", headers={"X-Operator-Key": CITY}).json()
    assert body["total"] == _money(_sum(expected.values()))
    assert body["by_operator"] == {op: _money(_sum([v for (o, _), v in expected.items() if o == op])) for op in ("op1", "op2", "op3")}
    assert body["by_district"] == {d: _money(_sum([v for (_, dd), v in expected.items() if dd == d])) for d in ("gusu", "sip")}
    lines = body["lines"]
    assert all(line["owed_fen"] == line["payments_fen"] - line["refunds_fen"] - line["fee_fen"] for line in lines)
    assert len({line["day"] for line in lines}) == 30
    # the month is the sum of its days, each asked for on its own
    days = [client.get(f"/v1/operator/settlement/statements/{MONTH + timedelta(days=d)}", headers={"X-Operator-Key": CITY}).json()["total"]
            for d in range(30)]
    assert _sum([[t["payments"], t["payments_fen"], t["refunds"], t["refunds_fen"], t["fee_fen"]] for t in days]) == [
        body["total"][k] for k in ("payments", "payments_fen", "refunds", "refunds_fen", "fee_fen")]


def test_an_operator_sees_its_own_statement_and_no_other(api):
    platform, client, expected = _env(api)
    mine = client.get("/v1/operator/settlement/months/2026-11", headers={"X-Operator-Key": OP1}).json()
    assert {line["operator_id"] for line in mine["lines"]} == {"op1"}
    assert mine["total"] == _money(_sum([v for (o, _), v in expected.items() if o == "op1"]))
    other = client.get("/v1/operator/settlement/months/2026-11", params={"operator_id": "op2"}, headers={"X-Operator-Key": OP1})
    assert other.status_code == 404 and other.json()["field"] == "operator_id"
    assert client.get("/v1/operator/settlement/months/2026-13", headers={"X-Operator-Key": OP1}).json()["field"] == "month"


def test_the_csv_and_the_printable_page_say_what_the_api_says(api):
    platform, client, expected = _env(api)
    who = {"X-Operator-Key": CITY}
    total = client.get("/v1/operator/settlement/months/2026-11", headers=who).json()["total"]
    sheet = client.get("/v1/operator/settlement/months/2026-11", params={"format": "csv"}, headers=who)
    assert sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    last = rows[-1]
    assert last["day"] == "total" and int(last["owed_fen"]) == total["owed_fen"] and int(last["fee_fen"]) == total["fee_fen"]
    assert sum(int(r["payments_fen"]) for r in rows[:-1]) == total["payments_fen"]
    page = client.get("/v1/operator/settlement/months/2026-11", params={"format": "html"}, headers=who)
    assert page.headers["content-type"].startswith("text/html") and "<script" not in page.text
    owed = total["owed_fen"]
    assert f"{owed // 100:,}.{owed % 100:02d}" in page.text and "rounded half up" in page.text
