"""100,000 generated MQTT messages of every payload type, valid and broken, through the whole
ingest (parse → live state → event log → stays → orders) on the embedded platform.

Checks what issue 12 asks of the parsers under fuzzing: no crash (no `internal error`
rejection), every bad message rejected with a reason, every valid one accepted. Prints the
rejection reasons by kind, the rate through the pipeline and, as the baseline in the same run,
the rate of parsing alone over the same messages.

    python -m bench.bench_fuzz_messages [--messages 100000] [--batch 500]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test strategies, when run as a script

from bench.common import console  # noqa: E402
from sensors.messages import Rejection, parse_message  # noqa: E402
from tests.sensors.test_every_valid_message import NOW, PREFIX, invalid_message, valid  # noqa: E402

DRAW = 20  # messages per hypothesis example: small, so no example outgrows hypothesis' buffer


def generate(n: int, batch: int) -> list[list[tuple[bool, tuple[str, bytes]]]]:
    """n messages in batches, about one in three broken, drawn by hypothesis (no shrinking, no database)."""
    drawn: list = []
    broken = invalid_message().map(lambda m: (False, m))
    mixed = st.integers(0, 2).flatmap(lambda k: broken if k == 0 else valid.map(lambda m: (True, m)))  # one in three broken

    @settings(max_examples=-(-n // DRAW), deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(mixed, min_size=DRAW, max_size=DRAW))
    def draw(b):
        drawn.extend(b)

    with console.status(f"generating {n:,} messages"):
        draw()
    drawn = drawn[:n]
    return [drawn[i:i + batch] for i in range(0, len(drawn), batch)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()

    from gateways.bootstrap import Platform
    from gateways.operator.registry_import import import_registry
    from gateways.schema import upgrade
    from parking_core.settings import load_settings
    from tests.factories import FrozenClock, city_registry

    batches = generate(args.messages, args.batch)
    flat = [m for b in batches for m in b]
    bad = sum(1 for ok, _ in flat if not ok)

    t0 = time.perf_counter()
    parsed = [parse_message(t, p, PREFIX, now=NOW) for _, (t, p) in flat]
    parse_s = time.perf_counter() - t0

    tmp = tempfile.mkdtemp(prefix="fuzz-")
    published: list[tuple[str, bytes, bool]] = []
    platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp}/fuzz.db", PARKING_DATA_DIR=tmp),
                        clock=FrozenClock(NOW), with_ingest=False, publish_sink=lambda t, p, r: published.append((t, p, r)))
    upgrade(platform.engine)
    import_registry(platform, city_registry())
    platform.start()
    reasons: Counter[str] = Counter()
    wrong: list[str] = []
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("through the pipeline", total=len(flat))
        for b in batches:
            published.clear()
            platform.pipeline.process([m for _, m in b])
            got = [orjson.loads(p)["reason"] for t, p, _ in published if "/rejected/" in t]
            expected = sum(1 for ok, _ in b if not ok)
            if len(got) != expected:
                wrong.append(f"batch: {len(got)} rejections for {expected} broken messages")
            for r in got:
                reasons[r.split(":")[0]] += 1
                if not r or "internal error" in r:
                    wrong.append(r)
            progress.advance(task, len(b))
    pipe_s = time.perf_counter() - t0
    stats = platform.pipeline.stats
    platform.stop()

    parse_rejected = sum(1 for r in parsed if isinstance(r, Rejection))
    console.print(f"[bold]{len(flat):,} messages[/] ({len(flat) - bad:,} valid, {bad:,} broken) at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    console.print(f"parse only (baseline): {len(flat) / parse_s:,.0f} msg/s, {parse_rejected:,} rejected by the parser "
                  f"(the rest of the broken ones name a lot the registry lacks)")
    console.print(f"whole pipeline: {len(flat) / pipe_s:,.0f} msg/s ({pipe_s / parse_s:.1f}× the parse time); "
                  f"received {stats.received:,}, rejected {stats.rejected:,}")
    for reason, n in reasons.most_common(12):
        console.print(f"  {n:>7,}  {reason}")
    ok = not wrong and stats.received == len(flat) and stats.rejected == bad
    console.print("[green]every broken message rejected with a reason, every valid one taken, no internal error[/]" if ok
                  else f"[red]FAILED[/]: {wrong[:5]} received={stats.received} rejected={stats.rejected} broken={bad}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
