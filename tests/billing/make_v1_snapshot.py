"""Writes tests/billing/data/v1_snapshot.json: what the format-1 examples priced before format 2 existed.

Run once, before changing the engine: python -m tests.billing.make_v1_snapshot. The test
test_v1_snapshot.py re-prices the same stays and asserts every amount and receipt line is unchanged.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from billing.tariffs import compile_tariff, compute_fee, load_tariff
from parking_core.clock import SHANGHAI

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "billing" / "tariffs" / "examples"
OUT = Path(__file__).parent / "data" / "v1_snapshot.json"
V1 = ["beijing_onstreet", "nantong_onstreet", "residential_monthly_pass", "suzhou_offstreet", "tongzhou_shared_lot"]


def stays(seed: int, n: int) -> list[tuple[int, int, str, bool, bool]]:
    """(entry s since 2024-01-01 Shanghai, stay s, vehicle, new energy, pass): short, long, whole-minute stays."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        entry = rnd.randrange(366 * 86400) if i % 2 else rnd.randrange(366 * 288) * 300
        kind = i % 4
        stay = (rnd.randrange(8 * 3600) if kind == 0 else rnd.randrange(600) * 60 + rnd.choice([-1, 0, 1])
                if kind == 1 else rnd.randrange(4 * 86400) if kind == 2 else rnd.randrange(40 * 86400))
        out.append((entry, max(0, stay), "large" if rnd.random() < 0.3 else "small", rnd.random() < 0.4,
                    rnd.random() < 0.03))
    return out


def price(tariff, entry: int, stay: int, vehicle: str, nev: bool, covered: bool) -> dict:
    entered = datetime(2024, 1, 1, tzinfo=SHANGHAI) + timedelta(seconds=entry)
    fee = compute_fee(tariff, entered_at=entered, exited_at=entered + timedelta(seconds=stay), vehicle=vehicle,
                      new_energy=nev, pass_covered=covered)
    if stay > 2 * 86400:  # receipts of long stays repeat their days: keep the file small
        return {"fen": fee.amount_fen}
    return {"fen": fee.amount_fen,
            "lines": [[b.label, b.start.isoformat(), b.end.isoformat(), b.units, b.fen] for b in fee.breakdown]}


def main() -> None:
    cases = []
    for k, stem in enumerate(V1):
        tariff = compile_tariff(load_tariff(EXAMPLES / f"{stem}.json"))
        for s in stays(k, 400):
            cases.append({"tariff": stem, "stay": list(s), **price(tariff, *s)})
    OUT.write_text(json.dumps(cases, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{len(cases)} stays written to {OUT}")


if __name__ == "__main__":
    main()
