"""Ingest and query throughput at 1, 2 and 4 workers on the production configuration (PostgreSQL,
Redis, Mosquitto), each beside its baseline from the same run: the ingest beside a bare paho
subscriber draining the same backlog, the HTTP workers beside Redis's own GEOSEARCH.

It runs the two benches that measure one worker count each (bench_ingest, bench_nearby_guidance)
once per count, in processes of their own, and sets their medians side by side, with the gain
over one worker. docs/SCALING.md works from these figures.

    python -m bench.bench_workers                 # 1, 2, 4 workers
    python -m bench.bench_workers --counts 1 2 --messages 20000 --duration 8
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import console, table


def _run(module: str, args: list[str], out: Path) -> dict | None:
    cmd = [sys.executable, "-m", module, *args, "--json", str(out)]
    console.print(f"[dim]$ {' '.join(cmd[1:])}[/]")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0 or not out.exists():
        console.print(f"[red]{module} failed ({done.returncode})[/]\n" + done.stdout[-3000:])
        return None
    return json.loads(out.read_text())


def _row(rows: list[dict], what: str, mode_has: str) -> dict | None:
    return next((r for r in rows if r["what"] == what and mode_has in r["load"]), None)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--messages", type=int, default=40_000, help="ingest backlog per run")
    ap.add_argument("--runs", type=int, default=3, help="ingest runs per worker count (median)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP run")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true")
    args = ap.parse_args(argv)
    ingest, http = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        for n in args.counts:
            if not args.skip_ingest:
                ingest[n] = _run("bench.bench_ingest", ["--redis", "--pg", "--workers", str(n), "--messages", str(args.messages),
                                                        "--runs", str(args.runs)], Path(tmp) / f"ingest{n}.json")
            if not args.skip_http:
                http[n] = _run("bench.bench_nearby_guidance", ["--workers", str(n), "--duration", str(args.duration),
                                                               "--nearby-rates", "1000", "--guidance-rates", "100"],
                               Path(tmp) / f"http{n}.json")
    if ingest:
        one = (ingest.get(args.counts[0]) or {}).get("platform_per_s")
        rows = []
        for n, r in ingest.items():
            if r is None:
                rows.append((n, "failed", "", "", "", ""))
                continue
            gain = f"{r['platform_per_s'] / one:.2f}x" if one else "-"
            rows.append((n, r["bare_per_s"], r["platform_per_s"], r["ratio"], gain, "yes" if r["zero_loss"] else "NO"))
        table("ingest on PostgreSQL + Redis + Mosquitto, events/s (medians)",
              ["workers", "bare subscriber", "platform", "platform/bare", f"vs {args.counts[0]} worker", "zero loss"], rows)
    if http:
        rows = []
        base = None
        for n, r in http.items():
            if r is None:
                rows.append((n, "failed", "", "", "", "", ""))
                continue
            near, near5 = _row(r["rows"], "nearby", "closed"), _row(r["rows"], "nearby5", "closed")
            geo, guide = _row(r["rows"], "geosearch", "closed"), _row(r["rows"], "guidance", "open")
            base = base or near["rps"]
            rows.append((n, near["rps"], near["p99"], near5["rps"], geo["rps"], f"{near['rps'] / geo['rps']:.2f}",
                         f"{near['rps'] / base:.2f}x", guide["p99"] if guide else "-"))
        table("HTTP on PostgreSQL + Redis (200 sensor updates/s meanwhile); closed loop (wrk)",
              ["workers", "nearby 1 km req/s", "p99 ms", "nearby 5 km req/s", "GEOSEARCH req/s", "nearby/GEOSEARCH",
               f"vs {args.counts[0]} worker", "guidance p99 ms @100/s"], rows)
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
