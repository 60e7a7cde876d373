"""Forecast error at 15/30/60 minutes on held-back days, beside the naive "same as now" forecast.

Run from the repository root: python -m bench.bench_forecast [--lots 60] [--weeks 4] [--test-days 7] [--seed 7]
Simulated history: the simulator city's lots and day rhythms (sensors/simulator), with what the simulator
lacks for forecasting added here: working days against rest days (weekends and public holidays by the
Chinese calendar), day-to-day swings per lot and city-wide, events (a concert, a sale, a closed floor) and
short-term noise. The model learns from the first `--weeks`, is scored on the next `--test-days`. Prints
figures, no asserts.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from bisect import bisect_right
from datetime import datetime, timedelta

from bench.common import table
from parking_core.clock import SHANGHAI
from parking_core.forecast import Forecaster, Observation, day_group
from sensors.simulator import generate_city, target_occupancy

STEP_S = 120
HORIZONS = (15, 30, 60)
START = datetime(2026, 4, 13, tzinfo=SHANGHAI)  # a Monday; the Labour Day holidays and a make-up Saturday fall in training


def rest_day_level(usage: str, working_level: float, hour: float) -> float:
    """How a rest day differs from a working day, by what the car park serves."""
    if usage == "office":
        return working_level * 0.25
    if usage == "commercial":
        return min(0.98, working_level * 1.15 + (0.08 if 11 <= hour < 21 else 0.0))
    if usage == "scenic":
        return min(0.98, working_level * 1.3)
    if usage == "hospital":
        return working_level * 0.7
    return min(0.98, working_level + (0.06 if 9 <= hour < 18 else 0.0))  # residential: people stay home


class Lot:
    def __init__(self, props: dict, rnd: random.Random) -> None:
        self.id, self.usage, self.total = props["id"], props["usage"], props["total"]
        self.rnd = rnd

    def history(self, start: datetime, days: int, city_swing: list[float]) -> list[tuple[float, int]]:
        """(epoch s, free) at each change, every STEP_S of `days` days."""
        rnd = self.rnd
        out: list[tuple[float, int]] = []
        noise, last_free = 0.0, None
        t0 = start.timestamp()
        for d in range(days):
            day_index = int((t0 + 28_800) // 86_400) + d
            _, working = day_group(day_index)
            swing = rnd.gauss(0, 0.06) + city_swing[d]
            events = []
            if rnd.random() < 0.08:
                events.append((rnd.uniform(8, 20), rnd.uniform(1.5, 4), rnd.uniform(0.2, 0.4)))
            if rnd.random() < 0.03:
                events.append((rnd.uniform(7, 18), rnd.uniform(2, 6), -rnd.uniform(0.15, 0.3)))
            for k in range(86_400 // STEP_S):
                t = t0 + d * 86_400 + k * STEP_S
                hour = k * STEP_S / 3600
                level = target_occupancy(self.usage, t)
                if not working:
                    level = rest_day_level(self.usage, level, hour)
                level *= 1 + swing
                for begin, length, size in events:
                    ramp = min(1.0, max(0.0, (hour - begin) * 2), max(0.0, (begin + length - hour) * 2))
                    level += size * ramp
                noise = 0.97 * noise + rnd.gauss(0, 0.01)
                occ = min(1.0, max(0.0, level + noise))
                free = self.total - round(self.total * occ)
                if free != last_free:
                    out.append((t, free))
                    last_free = free
        return out


def status_of(free: int, total: int) -> str:
    return "full" if free == 0 else "almostFull" if free <= total * 0.1 else "spacesAvailable"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=60)
    ap.add_argument("--weeks", type=int, default=4, help="weeks of history to learn from")
    ap.add_argument("--test-days", type=int, default=7, help="held-back days scored after them")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    city = generate_city(args.lots * 3, seed=args.seed)
    props = [f["properties"] for f in city["features"] if "shared_hours" not in f["properties"]][: args.lots]
    days = args.weeks * 7 + args.test_days
    city_swing = [rnd.gauss(0, 0.04) for _ in range(days)]
    lots = [Lot(p, random.Random(rnd.random())) for p in props]
    t = time.perf_counter()
    series = {lot.id: lot.history(START, days, city_swing) for lot in lots}
    gen_s = time.perf_counter() - t
    split = START + timedelta(days=args.weeks * 7)
    rows, row_id = [], 0
    for lot in lots:
        for ts, free in series[lot.id]:
            if ts >= split.timestamp():
                break
            row_id += 1
            rows.append((row_id, lot.id, datetime.fromtimestamp(ts, SHANGHAI), free, lot.total, status_of(free, lot.total)))
    t = time.perf_counter()
    forecaster = Forecaster.from_rows(rows, split, window_days=args.weeks * 7 + 1)
    learn_s = time.perf_counter() - t

    err = {h: {"model": [], "naive": [], "share_model": [], "share_naive": [], "inside": [], "conf": []} for h in HORIZONS}
    calls, predict_s = 0, 0.0
    for lot in lots:
        times = [ts for ts, _ in series[lot.id]]
        frees = [f for _, f in series[lot.id]]

        def free_at(ts: float) -> int:
            return frees[bisect_right(times, ts) - 1]

        t0 = split.timestamp()
        end = (split + timedelta(days=args.test_days)).timestamp() - max(HORIZONS) * 60
        while t0 < end:
            now = datetime.fromtimestamp(t0, SHANGHAI)
            current = free_at(t0)
            obs = Observation(free=current, total=lot.total, at=now)
            for h in HORIZONS:
                c = time.perf_counter()
                p = forecaster.predict(lot.id, now, h, current=obs)
                predict_s += time.perf_counter() - c
                calls += 1
                actual = free_at(t0 + h * 60)
                e = err[h]
                e["model"].append(abs(p.free - actual))
                e["naive"].append(abs(current - actual))
                e["share_model"].append(abs(p.free - actual) / lot.total)
                e["share_naive"].append(abs(current - actual) / lot.total)
                e["inside"].append(p.low <= actual <= p.high)
                e["conf"].append(p.confidence)
            t0 += 900

    print(f"{len(lots)} lots, {sum(lot.total for lot in lots):,} spaces; {args.weeks} weeks learnt "
          f"({len(rows):,} change rows), {args.test_days} days held back, scored every 15 min")
    print(f"generated in {gen_s:.1f} s; learnt in {learn_s:.2f} s ({learn_s / len(lots) * 1000:.1f} ms per lot); "
          f"predict {predict_s / calls * 1e6:.1f} µs per call over {calls:,} calls")
    out = []
    for h in HORIZONS:
        e = err[h]
        m, n = statistics.fmean(e["model"]), statistics.fmean(e["naive"])
        out.append((
            f"{h} min", m, n, f"{(1 - m / n) * 100:.0f} %",
            f"{statistics.fmean(e['share_model']) * 100:.2f} %", f"{statistics.fmean(e['share_naive']) * 100:.2f} %",
            f"{statistics.fmean(e['inside']) * 100:.0f} %", statistics.fmean(e["conf"]),
        ))
    table("Mean absolute error on held-back days",
          ["horizon", "model (spaces)", "naive (spaces)", "model better by", "model (share of capacity)",
           "naive (share of capacity)", "actual inside [low, high]", "mean confidence"], out)
    buckets = ((0.0, 0.6), (0.6, 0.8), (0.8, 0.9), (0.9, 1.01))
    calib = []
    for lo, hi in buckets:
        picked = [share for h in HORIZONS for share, c in zip(err[h]["share_model"], err[h]["conf"]) if lo <= c < hi]
        if picked:
            calib.append((f"{lo:.1f} - {min(hi, 1.0):.1f}", len(picked), f"{statistics.fmean(picked) * 100:.2f} %"))
    table("Does confidence track the error? All horizons", ["confidence", "forecasts", "mean absolute error (share of capacity)"], calib)
    if any(statistics.fmean(err[h]["model"]) >= statistics.fmean(err[h]["naive"]) for h in HORIZONS):
        print("the model does NOT beat the naive forecast at every horizon")
    if not math.isfinite(predict_s):
        raise SystemExit("timing failed")


if __name__ == "__main__":
    main()
