"""The end of the month: each operator's people see only their own car parks, orders and cases through the
operator API (another's is 404 to read, 403 to act on); the settlement statements add up exactly in fen across
days, operators, districts and the city, and say what Alipay's own books (the local Alipay's ledger) say
the platform collected and refunded, per operator and district."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from bench.month.city import LOTS, OPERATORS, lots_of
from billing.reconciliation import DUPLICATE_REFUND_PREFIX

RECON = "/v1/operator/reconciliation"
FIELDS = ("payments", "payments_fen", "refunds", "refunds_fen", "fee_fen", "net_fen", "owed_fen")


def scope(w, people, month, days: list[date]) -> int:  # noqa: ANN001 - world.World, city.People, traffic.Month
    """Every operator against every other: what it lists, reads and may change. The number of requests made."""
    api, problems, asked = w.api, month.problems, 0
    orders_of = defaultdict(list)
    for oid, lot in month.lot_of_order.items():
        orders_of[next(op for lt, op, _ in LOTS if lt == lot)].append(oid)
    cases = {}  # id -> operator (None: nobody's)
    for d in days:
        for c in api.get(f"{RECON}/days/{d}/cases", headers=people("city")).json()["cases"]:
            cases[c["id"]] = c["operator_id"]
    for op in OPERATORS:
        me = people(op)

        def want(r, status: int, what: str) -> None:  # noqa: ANN001
            nonlocal asked
            asked += 1
            if r.status_code != status:
                problems.append(f"{op}: {what}: HTTP {r.status_code}, expected {status}")

        listed = {lot["id"] for lot in api.get("/v1/operator/lots", headers=me).json()["lots"]}
        if listed != set(lots_of(op)):
            problems.append(f"{op} lists car parks {sorted(listed)}, not its own {lots_of(op)}")
        seen = _all_orders(api, me)
        if {o["lot_id"] for o in seen} - set(lots_of(op)) or len(seen) != len(orders_of[op]):
            problems.append(f"{op} lists {len(seen)} orders at {sorted({o['lot_id'] for o in seen})}; it has {len(orders_of[op])}")
        mine = [c for d in days for c in api.get(f"{RECON}/days/{d}/cases", headers=me).json()["cases"]]
        if {c["operator_id"] for c in mine} - {op} or len(mine) != sum(1 for o in cases.values() if o == op):
            problems.append(f"{op} sees {len(mine)} cases of {sorted({str(c['operator_id']) for c in mine})}")
        mine_month = api.get(f"/v1/operator/settlement/months/{days[0]:%Y-%m}", headers=me).json()
        if {line["operator_id"] for line in mine_month["lines"]} - {op}:
            problems.append(f"{op}'s statement has lines of {sorted({line['operator_id'] for line in mine_month['lines']})}")
        for other in OPERATORS:
            if other == op:
                continue
            lot = lots_of(other)[0]
            want(api.get(f"/v1/operator/lots/{lot}/commissioning", headers=me), 404, f"read {other}'s car park {lot}")
            want(api.get(f"/v1/operator/lots/{lot}/devices", headers=me), 404, f"read {other}'s devices at {lot}")
            if orders_of[other]:
                oid = orders_of[other][0]
                want(api.get(f"/v1/operator/orders/{oid}", headers=me), 404, f"read {other}'s order {oid}")
                want(api.post(f"/v1/operator/orders/{oid}/refund", headers=me,
                              json={"amount_fen": 1, "reason": "not mine", "request_id": f"x-{op}"}), 403, f"refund {other}'s order {oid}")
            want(api.get("/v1/operator/settlement/months/" + f"{days[0]:%Y-%m}", params={"operator_id": other}, headers=me),
                 404, f"read {other}'s statement")
        for cid, owner in cases.items():
            if owner != op:
                want(api.get(f"{RECON}/cases/{cid}", headers=me), 404, f"read {owner or 'nobody'}'s case {cid}")
                want(api.post(f"{RECON}/cases/{cid}/resolve", headers=me, json={"action": "query"}), 404,
                     f"act on {owner or 'nobody'}'s case {cid}")
        at_other = api.get("/v1/operator/orders", params={"lot_id": lots_of(next(o for o in OPERATORS if o != op))[0]}, headers=me)
        if at_other.status_code == 200 and at_other.json()["orders"]:
            problems.append(f"{op} lists another operator's orders when it names the car park")
    return asked


def _all_orders(api, headers: dict) -> list[dict]:  # noqa: ANN001
    out, offset = [], 0
    while offset is not None:
        page = api.get("/v1/operator/orders", params={"limit": 1000, "offset": offset}, headers=headers).json()
        out += page["orders"]
        offset = page["next_offset"]
    return out


def statements(w, people, month, days: list[date]) -> dict:  # noqa: ANN001
    """Each month touched: lines, operators, districts and days sum to the total; the total is Alipay's. The city's total."""
    api, problems = w.api, month.problems
    expected = _alipay_books(w, month)
    months = sorted({(d.year, d.month) for d in days})
    grand = {}
    for y, m in months:
        name = f"{y:04d}-{m:02d}"
        body = api.get(f"/v1/operator/settlement/months/{name}", headers=people("city", "finance")).json()
        total = body["total"]
        grand = total
        for what, parts in (("lines", body["lines"]), ("operators", body["by_operator"].values()),
                            ("districts", body["by_district"].values())):
            if (got := _sum(parts)) != total:
                problems.append(f"{name}: the {what} add up to {got}, the total says {total}")
        for part in [*body["lines"], *body["by_operator"].values(), *body["by_district"].values(), total]:
            if part["owed_fen"] != part["payments_fen"] - part["refunds_fen"] - part["fee_fen"]:
                problems.append(f"{name}: owed is not payments - refunds - fee in {part}")
        first = date(y, m, 1)
        month_days = [first + timedelta(days=i) for i in range(31) if (first + timedelta(days=i)).month == m]
        by_day = [api.get(f"/v1/operator/settlement/statements/{d}", headers=people("city", "finance")).json()["total"]
                  for d in month_days]
        if (got := _sum(by_day)) != total:
            problems.append(f"{name}: its days add up to {got}, the month says {total}")
        for op in OPERATORS:
            own = api.get(f"/v1/operator/settlement/months/{name}", headers=people(op, "finance")).json()["total"]
            if own != body["by_operator"].get(op, own):
                problems.append(f"{name}: {op}'s own statement {own} is not the city's line for it {body['by_operator'].get(op)}")
        for key, want in expected.get(name, {}).items():
            kind, who = key
            got = (body["by_operator"] if kind == "operator" else body["by_district"] if kind == "district" else {"": total}).get(who)
            if got is None or {k: got[k] for k in FIELDS} != want:
                problems.append(f"{name}: {kind} {who or 'city'}: the statement says {got}, Alipay's books {want}")
    return grand


def _sum(parts) -> dict:  # noqa: ANN001
    parts = list(parts)
    return {k: sum(p[k] for p in parts) for k in FIELDS}


def _fee(fen: int) -> int:
    return (fen * 6 + 500) // 1000  # PARKING_SETTLEMENT_FEE_RATE 0.006, per line, half up (docs/RECONCILIATION.md)


def _alipay_books(w, month) -> dict:  # noqa: ANN001
    """Per month: ('operator', op), ('district', d) and ('city', '') -> the money Alipay took and gave back for our
    trades, leaving out what is not ours (the kiosk) and a duplicate taking with its refund (never in our books)."""
    ledger = w.gw.gateway.ledger
    books: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(FIELDS, 0)))
    district = {lot: d for lot, _, d in LOTS}

    def add(when, out_trade_no: str, fen: int, refund: bool) -> None:  # noqa: ANN001
        lot = month.lot_of_order.get(out_trade_no.rsplit("-", 1)[0])
        if lot is None:
            return
        op = next(o for lt, o, _ in LOTS if lt == lot)
        for key in (("operator", op), ("district", district[lot]), ("city", "")):
            m = books[f"{when:%Y-%m}"][key]
            if refund:
                m["refunds"] += 1
                m["refunds_fen"] += fen
                m["fee_fen"] -= _fee(fen)
            else:
                m["payments"] += 1
                m["payments_fen"] += fen
                m["fee_fen"] += _fee(fen)
            m["net_fen"] = m["payments_fen"] - m["refunds_fen"]
            m["owed_fen"] = m["net_fen"] - m["fee_fen"]

    with ledger.lock:
        trades = list(ledger.trades.values())
        refunds = list(ledger.refunds.values())
    by_trade_no = {t.trade_no: t for t in trades}
    for t in trades:
        if t.paid_at is not None and not t.twin_of:
            add(t.paid_at, t.out_trade_no, t.total_fen, False)
    for r in refunds:
        t = by_trade_no[r.trade_no]
        if not t.twin_of and not r.out_request_no.startswith(DUPLICATE_REFUND_PREFIX):
            add(r.refunded_at, t.out_trade_no, r.amount_fen, True)
    return {k: dict(v) for k, v in books.items()}
