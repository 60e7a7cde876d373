"""Fees computed per second on one core, for the example rule sets and typical stays: is pricing every exit cheap?

Run: python bench/bench_tariff.py [--stays 20000] [--runs 7] [--clock wall|cpu]
Prints the median of several runs per rule set and for a mix of the format-1 and of the format-2 examples, with
the ratio of format 2 to format 1 measured in the same run; no asserts.
"""
from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from billing.tariffs import compile_tariff, compute_fee, load_tariff
from parking_core.clock import SHANGHAI

EXAMPLES = Path(__file__).resolve().parents[1] / "billing" / "tariffs" / "examples"


def stays(n: int, *, seed: int, shortest: timedelta, longest: timedelta) -> list[tuple]:
    """Entries at any second of 2024; 90 % small vehicles, a quarter new-energy."""
    rnd = random.Random(seed)
    year = datetime(2024, 1, 1, tzinfo=SHANGHAI)
    span = int((longest - shortest).total_seconds())
    out = []
    for _ in range(n):
        entered = year + timedelta(seconds=rnd.randrange(366 * 86400))
        exited = entered + shortest + timedelta(seconds=rnd.randrange(span))
        out.append((entered, exited, "large" if rnd.random() < 0.1 else "small", rnd.random() < 0.25))
    return out


# wall time, or this process's CPU time: on a shared machine whose cores are busy, waiting for a core is not
# the engine's cost, and CPU time leaves it out (main() sets it from --clock)
CLOCK = time.perf_counter


def fees_per_second(tariffs: list, workload: list[tuple], runs: int) -> float:
    """Median over runs of fees per second, cycling through the tariffs."""
    jobs = [(tariffs[i % len(tariffs)], *stay) for i, stay in enumerate(workload)]
    rates = []
    for _ in range(runs):
        start = CLOCK()
        for tariff, entered, exited, vehicle, nev in jobs:
            compute_fee(tariff, entered_at=entered, exited_at=exited, vehicle=vehicle, new_energy=nev)
        rates.append(len(jobs) / (CLOCK() - start))
    return statistics.median(rates)


def receipts_per_second(tariff, workload: list[tuple], runs: int) -> float:
    rates = []
    fees = [compute_fee(tariff, entered_at=e, exited_at=x, vehicle=v, new_energy=n) for e, x, v, n in workload]
    for _ in range(runs):
        start = CLOCK()
        for fee in fees:
            _ = fee.breakdown  # what a receipt reads: built lazily
        rates.append(len(fees) / (CLOCK() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stays", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time by the wall clock (default) or by this process's CPU time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    tariffs = {path.stem: compile_tariff(load_tariff(path)) for path in sorted(EXAMPLES.glob("*.json"))}
    typical = stays(args.stays, seed=1, shortest=timedelta(minutes=10), longest=timedelta(hours=6))
    multi_day = stays(args.stays // 4, seed=2, shortest=timedelta(days=1), longest=timedelta(days=30))

    print(f"python {platform.python_version()} on {platform.machine()}, one process, "
          f"{args.stays} stays x median of {args.runs} runs, {args.clock} clock")
    v1 = [t for t in tariffs.values() if t.format == 1]
    v2 = [t for t in tariffs.values() if t.format == 2]
    print("typical stays, 10 min - 6 h (fees/s):")
    for name, tariff in tariffs.items():
        print(f"  {name:28s} f{tariff.format} {fees_per_second([tariff], typical, args.runs):>10,.0f}")
    rates = {}
    for label, group in (("format 1", v1), ("format 2", v2)):
        rates[label] = fees_per_second(group, typical, args.runs)
        print(f"  {label + f' ({len(group)}), interleaved':28s}    {rates[label]:>10,.0f}")
    print(f"  format 2 / format 1: {rates['format 2'] / rates['format 1']:.2f}")
    print("multi-day stays, 1 - 30 days (fees/s):")
    for label, group in (("format 1", v1), ("format 2", v2)):
        print(f"  {label + f' ({len(group)}), interleaved':28s}    "
              f"{fees_per_second(group, multi_day, args.runs):>10,.0f}")
    print("receipts (Fee.breakdown) for typical stays (receipts/s):")
    for name in ("beijing_onstreet", "suzhou_onstreet_class1"):
        print(f"  {name:28s}    {receipts_per_second(tariffs[name], typical, args.runs):>10,.0f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
