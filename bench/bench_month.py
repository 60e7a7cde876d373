"""A simulated month of the platform, issue 11's "Done when": car parks of three operators in two districts join
through the operator API and go live; drivers park every day; most pay by withholding at exit, some in the app
days later, some never (arrears); Alipay loses or repeats notifications and takes one payment twice, and a trade
of the merchant's kiosk lands in the bill; each morning the day before is reconciled, every injected fault must
be found as a case of the right class and operator, the cases are resolved through the operator API (a
write-off with a second approver) and the day must close; at the end each operator's keys see only its own car
parks, orders and cases, and the statements add up exactly in fen across days, operators, districts and the city
and agree with Alipay's books.

    python -m bench.bench_month [--days 30] [--seed 11] [--broker none|dynsec]

Days pass on a clock the bench moves (a month in a minute or two). PostgreSQL + Redis when DATABASE_URL /
REDIS_URL are set (a fresh database on that server, dropped afterwards), SQLite and in-process state otherwise.
Devices' messages go into the ingest pipeline's batch handler directly (`--broker none`: the embedded defaults,
where the platform refuses device credentials because its broker cannot enforce them), or over a private
Mosquitto with the shipped dynamic-security config, each device with the credential the operator API issued it,
through the platform's own MQTT ingest (`--broker dynsec`). Prints a line per day and PASS, or FAIL with every
disagreement; exit status 0 or 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime
from datetime import time as clock_time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import console
from bench.month import books, checks, city, logs, report
from bench.month.traffic import Month, Plan
from bench.month.world import CITY_KEY, world
from parking_core.clock import SHANGHAI

FIRST = date(2026, 11, 1)


def run(days: int, seed: int, first: date = FIRST, broker: str = "none") -> tuple[bool, list[str]]:
    """The month; (passed, what disagreed)."""
    started = time.perf_counter()
    start = datetime.combine(first, clock_time(6, 0), SHANGHAI)
    with logs.kept() as log, world(start, operator_keys=city.OPERATORS, due_days=2, broker=broker) as w:
        console.print(f"[bold]month[/]: {days} days from {first}, seed {seed}, on {w.backend.name}, "
                      f"{'devices on MQTT (Mosquitto, dynamic security)' if w.broker else 'devices into the ingest pipeline'}")
        joined = city.join(w, CITY_KEY)
        console.print(f"day 1 06:00: {len(city.LOTS)} car parks of {len(city.OPERATORS)} operators joined and went live; {joined.credentials}")
        month = Month(w, joined.people, joined.send, first, Plan(days), seed=seed)
        month.problems += joined.problems
        month.drivers()
        rows, run_days = [], []
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("days", total=days)
            for n in range(1, days + 1):
                progress.update(task, description=f"day {n}: traffic")
                day = month.day(n)
                w.at(books.next_morning(day))
                progress.update(task, description=f"day {n}: reconciling")
                row = books.reconcile(w, joined.people, month, day)
                rows.append(row)
                run_days.append(day)
                progress.console.print(report.day_line(row))
                progress.advance(task)
        before = len(log.records)
        asked = checks.scope(w, joined.people, month, run_days)
        if (logged := log.refusals(before)) < asked:
            month.problems.append(f"{asked} requests outside their scope were refused but only {logged} logged")
        total = checks.statements(w, joined.people, month, run_days)
        report.month_table(rows, month.faults)
        console.print(f"scope: {asked} requests for another operator's car parks, orders, cases and statements; "
                      f"statement: {total.get('payments', 0)} payments, {total.get('payments_fen', 0)} fen collected, "
                      f"{total.get('refunds_fen', 0)} fen refunded, {total.get('fee_fen', 0)} fen fee, {total.get('owed_fen', 0)} fen owed")
        if hasattr(joined.send, "close"):
            joined.send.close()
        month.problems += [f"the platform logged an error: {e}" for e in log.errors()]
        console.print(f"{days} days in {time.perf_counter() - started:.1f} s")
        return not month.problems, month.problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30, help="days to simulate, 1-60 (default 30)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--broker", choices=("none", "dynsec"), default="none",
                    help="dynsec: devices publish over a private Mosquitto with their own credentials (default: none)")
    a = ap.parse_args(argv)
    if not 1 <= a.days <= 60:
        ap.error(f"--days must be 1 to 60, got {a.days}")
    passed, problems = run(a.days, a.seed, broker=a.broker)
    if passed:
        console.print("[bold green]PASS[/]: every fault found as its case and resolved, every day closed, "
                      "operators see only their own, statements add up")
        return 0
    for p in problems:
        console.print(f"  - {p}", markup=False)
    console.print(f"[bold red]FAIL[/]: {len(problems)} disagreements (above); the first: ", end="")
    console.print(problems[0], markup=False)
    return 1


if __name__ == "__main__":
    sys.exit(main())
