"""Reconciliation of a 1,000,000-line Alipay bill against the platform's books on PostgreSQL: time and peak memory,
beside baselines measured the same way in the same run: unzipping the bill and splitting it with the C CSV reader
(no checks, nothing kept: the floor for any reader in Python), and reading it in full (every cell checked).

    python -m bench.bench_reconcile [--lines 1000000] [--repeat 3]

A fresh PostgreSQL database (BENCH_PG_URL) gets a day of `--lines` paid orders, inserted server-side; the bill
is that day as Alipay would list it, less 100 payments (ours only), with 100 amounts changed, 100 trades we
never issued and 10 payments taken twice. Each measurement runs in a fresh interpreter (peak RSS is that
process's own), `--repeat` times, the three interleaved so each sees the same machine; the medians are printed,
and each as a multiple of the first baseline's. Targets: <= 30 s and <= 500 MB.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.common import pay_every_order
from parking_core.clock import SHANGHAI

DAY = date(2026, 11, 23)
PLANTED = {"ours_only": 100, "amount_mismatch": 100, "alipay_only": 100, "duplicate_payment": 10}


MODES = {"split": "baseline: unzip + split with the C CSV reader (no checks)", "parse": "read the bill (every cell checked)",
         "reconcile": "reconcile the day (read + compare + cases)"}


def _amount(i: int) -> int:
    return 100 + (i * 37) % 5000


def fill(url: str, n: int) -> None:
    """n stays, orders, attempts and payments of DAY, made by PostgreSQL itself (generate_series)."""
    from sqlalchemy import text

    from parking_core.db import make_engine

    start = datetime.combine(DAY, datetime.min.time(), SHANGHAI).isoformat()
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text(f"""
            INSERT INTO parking_sessions (id, lot_id, plate, source, status, vehicle, new_energy, entered_at, exited_at, created_at, updated_at)
            SELECT 'S' || i, 'B1', 'BENCH', 'gate', 'closed', 'small', false, t - interval '2 hours', t, t, t
            FROM (SELECT i, timestamptz '{start}' + (i * 86399.0 / {n}) * interval '1 second' AS t
                  FROM generate_series(0, {n - 1}) AS i) AS g"""))
        c.execute(text(f"""
            INSERT INTO orders (id, session_id, lot_id, operator_id, plate, status, amount_fen, paid_fen, refunded_fen, vehicle,
                                new_energy, pass_covered, breakdown, entered_at, exited_at, due_at, created_at, updated_at, paid_at)
            SELECT 'O' || i, 'S' || i, 'B1', 'opb', 'BENCH', 'paid', 100 + (i * 37) % 5000, 100 + (i * 37) % 5000, 0, 'small',
                   false, false, '[]', exited_at - interval '2 hours', exited_at, exited_at + interval '30 days', exited_at,
                   exited_at, exited_at
            FROM (SELECT i, timestamptz '{start}' + (i * 86399.0 / {n}) * interval '1 second' AS exited_at
                  FROM generate_series(0, {n - 1}) AS i) AS g"""))
        pay_every_order(c)
        c.execute(text("ANALYZE"))
    engine.dispose()


def write_bill(path: Path, n: int) -> int:
    """The day's bill zip (GBK, deflated, written as a stream) with the planted differences; its line count."""
    start = datetime.combine(DAY, datetime.min.time(), SHANGHAI)
    header = ("#支付宝业务明细查询\r\n#账号：[20880000000000010156]\r\n#起始日期：[2026年11月23日 00:00:00]   终止日期：[2026年11月24日 00:00:00]\r\n"
              "#-----------------------------------------业务明细列表----------------------------------------\r\n")
    from billing.alipay.bill import COLUMNS, DETAIL_END

    def line(trade_no: str, out_trade_no: str, fen: int, i: int) -> str:
        t = (start + timedelta(seconds=int(i * 86399 / n))).strftime("%Y-%m-%d %H:%M:%S")
        y = f"{fen // 100}.{fen % 100:02d}"
        fee = (fen * 6 + 500) // 1000
        return (f"{trade_no}\t,{out_trade_no}\t,交易,停车费 B1 BENCH,{t},{t},,,,,abc***@local,{y},{y},0.00,0.00,0.00,0.00,0.00,,"
                f"0.00,0.00,,-{fee // 100}.{fee % 100:02d},0.00,\r\n")

    lines = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("20880000000000010156_20261123_业务明细.csv", "w", force_zip64=True) as raw:
            raw.write((header + ",".join(COLUMNS) + "\r\n").encode("gbk"))
            chunk: list[str] = []
            for i in range(n - PLANTED["ours_only"]):
                fen = _amount(i) + (1 if i % (n // PLANTED["amount_mismatch"]) == 1 else 0)
                chunk.append(line(f"T{i}", f"O{i}-1", fen, i))
                if i % (n // PLANTED["duplicate_payment"]) == 2:
                    chunk.append(line(f"TD{i}", f"O{i}-1", _amount(i), i))
                if len(chunk) >= 10_000:
                    raw.write("".join(chunk).encode("gbk"))
                    lines += len(chunk)
                    chunk.clear()
            chunk += [line(f"TX{k}", f"X{k}-1", 500, k) for k in range(PLANTED["alipay_only"])]
            lines += len(chunk)
            raw.write(("".join(chunk) + DETAIL_END + "\r\n").encode("gbk"))
    return lines


def child(mode: str, bill: Path, url: str | None) -> dict:
    """One measurement in this (fresh) process: split the bill, read it, or reconcile the day with it."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import sessionmaker

    from billing.alipay.bill import iter_bill_zip
    from billing.reconciliation import DayReconciliation
    from billing.reconciliation_models import ReconciliationCase
    from parking_core.db import UnitOfWork, make_engine

    data = bill.read_bytes()
    t0 = time.perf_counter()
    if mode == "split":
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(archive.infolist()[0]) as raw:
            out = {"lines": sum(1 for _ in csv.reader(io.TextIOWrapper(raw, encoding="gb18030", newline="")))}
    elif mode == "parse":
        lines = sum(1 for _ in iter_bill_zip(data))
        out = {"lines": lines}
    else:
        engine = make_engine(url)
        factory = sessionmaker(engine, expire_on_commit=False)
        record = DayReconciliation(lambda: UnitOfWork(factory), lambda: datetime.now(SHANGHAI)).run_day(DAY, iter_bill_zip(data))
        with factory() as s:
            kinds = dict(s.execute(select(ReconciliationCase.kind, func.count()).group_by(ReconciliationCase.kind)).all())
        out = {"lines": record.bill_lines, "matched": record.matched, "cases": kinds, "status": record.status}
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started. Linux keeps ru_maxrss across exec, so a child
    started from a big parent would report the parent's size; VmHWM belongs to the new address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(mode: str, bill: Path, url: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.bench_reconcile", "--child", mode, "--bill", str(bill), "--db", url],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _reset(url: str) -> None:
    from sqlalchemy import text

    from parking_core.db import make_engine

    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("DELETE FROM reconciliation_cases"))
        c.execute(text("DELETE FROM reconciliation_days"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=list(MODES))
    parser.add_argument("--bill", type=Path)
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.bill, args.db)))
        return
    from rich.table import Table

    from bench.common import console, database, prepare_database  # not in the measured children: their memory is the figure
    from parking_core.lots import LotInfo

    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp, database("postgres", Path(tmp)) as url:
        t0 = time.perf_counter()
        prepare_database(url, [LotInfo("B1", "bench car park", "off_street", "opb", "gusu", 31.3, 120.6, 1000)])
        fill(url, args.lines)
        bill = Path(tmp) / "bill.zip"
        lines = write_bill(bill, args.lines)
        console.print(f"setup: {args.lines:,} payments in PostgreSQL, a bill of {lines:,} lines "
                      f"({bill.stat().st_size / 2**20:.1f} MB zipped) in {time.perf_counter() - t0:.0f} s")
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                _reset(url)
                runs[mode].append(_run(mode, bill, url))
        last = runs["reconcile"][-1]
        table = Table(title=f"reconciling a {lines:,}-line bill on PostgreSQL (medians of {args.repeat}; the machine is shared)")
        for column in ("what", "seconds", "x baseline", "peak RSS MB", "runs (s)"):
            table.add_column(column)
        base = statistics.median(r["seconds"] for r in runs["split"])
        medians = {}
        for mode, label in MODES.items():
            secs = [r["seconds"] for r in runs[mode]]
            medians[mode] = (statistics.median(secs), statistics.median(r["peak_mb"] for r in runs[mode]))
            table.add_row(label, f"{medians[mode][0]:.1f}", f"{medians[mode][0] / base:.2f}", f"{medians[mode][1]:.0f}",
                          ", ".join(f"{s:.1f}" for s in secs))
        console.print(table)
        console.print(f"cases found: {last['cases']} (planted {PLANTED}); matched {last['matched']:,}; day {last['status']}")
        seconds, peak = medians["reconcile"]
        console.print(f"reconcile: {seconds:.1f} s ({seconds / base:.2f}x the unzip + CSV split baseline), peak {peak:.0f} MB; "
                      "targets <= 30 s and <= 500 MB: " + ("[green]met[/]" if seconds <= 30 and peak <= 500 else "[red]missed[/]"))
        if last["cases"] != PLANTED:
            raise SystemExit("the cases found are not the differences planted")


if __name__ == "__main__":
    main()
