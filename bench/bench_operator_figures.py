"""An operator's daily figures for a car park with a year of history, on PostgreSQL: p50 and p99
of `GET /v1/operator/lots/{id}/figures?from=DAY` for days spread over the year, beside a baseline
measured the same way in the same run (`GET /v1/lots/{id}`, the cheapest read of the same car park).

    python -m bench.bench_operator_figures [--lots 11] [--stays-per-day 300] [--requests 300] [--repeat 3]

A fresh PostgreSQL database (BENCH_PG_URL) gets a year of closed stays, paid orders and payments for
each car park, and its availability every 5 minutes, all made by PostgreSQL itself (generate_series).
Each of `--repeat` measurements is `--requests` of each kind, interleaved in three rounds so both see the same
machine; the medians of the repeats' p50 and p99 are printed, and the figures' p99 as a multiple of the
baseline's. Target (issue 11): p99 <= 100 ms.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.common import console, database, median, pay_every_order, percentile, table
from parking_core.clock import SHANGHAI

KEY = "bench-operator-key-0123456789"
FIRST = date(2025, 12, 1)
DAYS = 365


def fill(url: str, lots: list[str], per_day: int) -> int:
    """A year of stays, orders, attempts, payments and availability per lot; the number of stays."""
    from sqlalchemy import text

    from parking_core.db import make_engine

    start = datetime.combine(FIRST, datetime.min.time(), SHANGHAI).isoformat()
    n = per_day * DAYS
    engine = make_engine(url)
    with engine.begin() as c:
        for lot in lots:
            series = f"""(SELECT i, timestamptz '{start}' + (i * {DAYS * 86400.0 / n}) * interval '1 second' AS t
                          FROM generate_series(0, {n - 1}) AS i) AS g"""
            c.execute(text(f"""
                INSERT INTO parking_sessions (id, lot_id, plate, source, status, vehicle, new_energy, entered_at, exited_at, created_at, updated_at)
                SELECT '{lot}S' || i, '{lot}', 'BENCH', 'gate', 'closed', 'small', false, t, t + (30 + i % 240) * interval '1 minute', t, t
                FROM {series}"""))
            c.execute(text(f"""
                INSERT INTO orders (id, session_id, lot_id, operator_id, plate, status, amount_fen, paid_fen, refunded_fen, vehicle,
                                    new_energy, pass_covered, breakdown, entered_at, exited_at, due_at, created_at, updated_at, paid_at)
                SELECT '{lot}O' || i, '{lot}S' || i, '{lot}', 'op1', 'BENCH', 'paid', 100 + (i * 37) % 5000, 100 + (i * 37) % 5000, 0,
                       'small', false, false, '[]', t, t + (30 + i % 240) * interval '1 minute', t + interval '30 days', t, t,
                       t + (30 + i % 240) * interval '1 minute'
                FROM {series}"""))
            c.execute(text(f"""
                INSERT INTO availability_changes (lot_id, ts, free, total, status)
                SELECT '{lot}', timestamptz '{start}' + i * interval '5 minutes', 100 + (i * 7) % 300, 400, 'available'
                FROM generate_series(0, {DAYS * 288 - 1}) AS i"""))
        pay_every_order(c)
        c.execute(text("ANALYZE"))
    engine.dispose()
    return n * len(lots)


def timed(client, path: str, headers: dict, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path() if callable(path) else path, headers=headers)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lots", type=int, default=11)
    ap.add_argument("--stays-per-day", type=int, default=300)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from gateways.operator.registry_import import import_registry
    from gateways.schema import upgrade
    from parking_core.settings import load_settings

    lots = [f"F{i}" for i in range(args.lots)]
    city = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.6 + i * 0.001, 31.3]},
         "properties": {"id": lot, "name": f"Lot {lot}", "kind": "off_street", "operator": "op1", "district": "gusu", "total": 400}}
        for i, lot in enumerate(lots)]}
    tmp = Path(tempfile.mkdtemp(prefix="figures-"))
    os.environ["PARKING_OPERATOR_KEYS"] = f"op1:{KEY}"  # operators' keys are an accounts setting, read from the environment
    with database("postgres", tmp) as url:
        platform = Platform(load_settings(DATABASE_URL=url, PARKING_DATA_DIR=str(tmp), PARKING_OPERATOR_KEYS=f"op1:{KEY}",
                                          PARKING_RATE_LIMIT_PER_MIN="0"), with_ingest=False)
        upgrade(platform.engine)
        import_registry(platform, city)
        with console.status(f"a year of history for {len(lots)} car parks"):
            t0 = time.perf_counter()
            stays = fill(url, lots, args.stays_per_day)
            fill_s = time.perf_counter() - t0
        platform.start()
        client = TestClient(create_app(platform))
        headers = {"X-Operator-Key": KEY}
        rng = random.Random(1)
        day = lambda: f"/v1/operator/lots/F0/figures?from={FIRST + timedelta(days=rng.randrange(DAYS))}"  # noqa: E731
        timed(client, day, headers, 20)  # warm-up
        timed(client, "/v1/lots/F0", {}, 20)
        runs: dict[str, list[list[float]]] = {"figures": [], "baseline": []}
        for _ in range(args.repeat):
            figures, baseline = [], []
            for _ in range(3):  # interleaved rounds: both see the same machine
                figures += timed(client, day, headers, args.requests // 3)
                baseline += timed(client, "/v1/lots/F0", {}, args.requests // 3)
            runs["figures"].append(figures)
            runs["baseline"].append(baseline)
        platform.stop()
    console.print(f"{stays:,} stays, orders and payments over {DAYS} days in {len(lots)} car parks (filled in {fill_s:.0f} s), "
                  f"PostgreSQL, {datetime.now():%Y-%m-%d %H:%M}")
    rows, p99s = [], {}
    for kind, request in (("figures", "GET /v1/operator/lots/F0/figures?from=DAY"), ("baseline", "GET /v1/lots/F0 (baseline)")):
        each = [percentile(r, 99) for r in runs[kind]]
        p99s[kind] = median(each)
        rows.append([request, sum(map(len, runs[kind])), f"{median([median(r) for r in runs[kind]]):.1f}", f"{p99s[kind]:.1f}",
                     ", ".join(f"{x:.1f}" for x in each)])
    table(f"operator daily figures, one car park, a day of a year (medians of {args.repeat})",
          ["request", "n", "p50 ms", "p99 ms", "p99 of each run"], rows)
    p99 = p99s["figures"]
    console.print(f"figures p99 {p99:.1f} ms ({p99 / p99s['baseline']:.1f}× the baseline's p99); target ≤ 100 ms: "
                  + ("[green]met[/]" if p99 <= 100 else "[red]missed[/]"))


if __name__ == "__main__":
    main()
