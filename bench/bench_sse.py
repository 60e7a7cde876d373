"""How long after a sensor message do 1,000 open /v1/stream clients see the change? (target p99 <= 200 ms)

Run from the repository root: python bench/bench_sse.py [--streams 1000] [--rounds 5] [--lots 3300]
One process: the platform (SQLite, in-process live state) served by uvicorn in a thread, the sensor
change applied through the ingest pipeline from another thread, and the clients on raw sockets in the
main thread's event loop. Prints p50/p99/max of the per-stream delay; bounded by --timeout seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import platform as host
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers: message builders, an in-process server

from gateways.app import create_app  # noqa: E402
from gateways.bootstrap import Platform  # noqa: E402
from gateways.registry_import import import_registry  # noqa: E402
from parking_core.db import upgrade  # noqa: E402
from parking_core.settings import load_settings  # noqa: E402
from sensors.simulator import generate_city  # noqa: E402
from tests.browser.server import serving  # noqa: E402
from tests.factories import berth_msg  # noqa: E402


class Stream:
    """One client: a raw HTTP/1.1 connection reading the SSE bytes as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buf = b""

    @classmethod
    async def open(cls, port: int, query: str, app_key: str) -> "Stream":
        """Each stream is its own app (X-API-Key), as 1,000 phones would be: the per-client stream cap applies to each."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET /v1/stream?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-API-Key: {app_key}\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        return cls(reader, writer)

    async def until(self, marker: bytes) -> float:
        """Read until `marker` has arrived; the perf_counter time it did."""
        while marker not in self.buf:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError(f"stream closed after {self.buf[:300]!r}")
            self.buf += chunk
        at = time.perf_counter()
        self.buf = self.buf[self.buf.index(marker) + len(marker):]
        return at

    def close(self) -> None:
        self.writer.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(args: argparse.Namespace, plat: Platform, port: int, target: dict) -> list[list[float]]:
    lot_id, berths = target["id"], target["berths"]
    lon, lat = target["lon"], target["lat"]
    queries = [f"lots={lot_id}" if i % 2 else f"lat={lat}&lon={lon}&radius_m=1000" for i in range(args.streams)]
    started = time.perf_counter()
    streams: list[Stream] = []
    for start in range(0, len(queries), 100):  # connect in waves, as a listen backlog allows
        streams += await asyncio.gather(*(Stream.open(port, q, f"bench-{start + i}") for i, q in enumerate(queries[start:start + 100])))
    await asyncio.gather(*(s.until(b"event: ready") for s in streams))
    print(f"{len(streams)} streams open and past their current state in {time.perf_counter() - started:.1f} s")
    rounds = []
    for r in range(args.rounds):
        occupied = r % 2 == 0
        free = len(berths) - 1 if occupied else len(berths)
        marker = f'"lot_id":"{lot_id}","free":{free},'.encode()
        waiting = [asyncio.ensure_future(s.until(marker)) for s in streams]
        await asyncio.sleep(0.2)
        msg = berth_msg(lot_id, berths[0], occupied, r + 2, datetime.now(timezone.utc))
        sent = time.perf_counter()
        await asyncio.to_thread(plat.pipeline.process, [msg])  # the ingest's own thread, as with MQTT
        got = await asyncio.gather(*waiting)
        delays = [(t - sent) * 1000 for t in got]
        rounds.append(delays)
        print(f"round {r + 1}: p50 {pct(delays, 50):6.1f} ms  p99 {pct(delays, 99):6.1f} ms  max {max(delays):6.1f} ms")
        await asyncio.sleep(0.5)
    for s in streams:
        s.close()
    return rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lots", type=int, default=3300, help="car parks in the simulated city")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * args.streams + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    with tempfile.TemporaryDirectory() as tmp:
        plat = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp}/bench.db"), with_ingest=False)
        upgrade(plat.engine)
        city = generate_city(args.lots, seed=1)
        import_registry(plat, city)
        plat.start()
        streets = [dict(f["properties"], lon=f["geometry"]["coordinates"][0], lat=f["geometry"]["coordinates"][1])
                   for f in city["features"] if f["properties"].get("berths")]
        target = streets[0]
        now = datetime.now(timezone.utc)
        plat.pipeline.process([berth_msg(target["id"], b, False, 1, now) for b in target["berths"]])
        try:
            with serving(create_app(plat)) as base:
                port = int(base.rsplit(":", 1)[1])
                rounds = asyncio.run(asyncio.wait_for(run(args, plat, port, target), args.timeout))
        finally:
            plat.stop()
    every = [d for r in rounds for d in r]
    print(f"\n{args.streams} streams x {args.rounds} changes, city of {args.lots} car parks, "
          f"Python {host.python_version()} on {host.machine()}:")
    print(f"delay sensor message -> client: p50 {statistics.median(every):.1f} ms, p99 {pct(every, 99):.1f} ms, max {max(every):.1f} ms "
          f"(target p99 <= 200 ms: {'met' if pct(every, 99) <= 200 else 'NOT met'})")


if __name__ == "__main__":
    main()
