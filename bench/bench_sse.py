"""How long after a sensor message do 1,000 open /v1/stream clients see the change? (target p99 <= 200 ms)

Run from the repository root: python -m bench.bench_sse [--streams 1000] [--rounds 10] [--lots 3300]
One process: the platform (SQLite, in-process live state, no MQTT) served by uvicorn in a thread; the
clients on raw non-blocking sockets read by one selector thread; each sensor change applied through
the ingest pipeline (`platform.pipeline.process`), as the MQTT ingest thread does. For every stream it
records when the change's bytes arrived, and prints p50/p99/max of the delay measured from the call
with the sensor message and from the moment the ingest handed the change to the hub, and the CPU time
the server thread spent on each fan-out (less sensitive to other load on the machine). Bounded by --timeout.
"""
from __future__ import annotations

import argparse
import os
import platform as host
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test helpers, when run as a script
# 1,000 phones behind one trusted proxy (this machine): each is its own client by X-Forwarded-For
os.environ.setdefault("PARKING_TRUSTED_PROXIES", "127.0.0.1")

from gateways.bootstrap import Platform  # noqa: E402
from gateways.http.app import create_app  # noqa: E402
from gateways.operator.registry_import import import_registry  # noqa: E402
from gateways.schema import upgrade  # noqa: E402
from parking_core.domain_events import AvailabilityChanged  # noqa: E402
from parking_core.messagebus import HandlerMap  # noqa: E402
from parking_core.settings import load_settings  # noqa: E402
from sensors.simulator import generate_city  # noqa: E402
from tests.browser.server import serving  # noqa: E402
from tests.factories import berth_msg  # noqa: E402


class Clients:
    """Many SSE clients on one selector thread: each waits for a marker and notes when it arrived."""

    def __init__(self, port: int, queries: list[str], deadline: float) -> None:
        self.sel = selectors.DefaultSelector()
        self.deadline = deadline
        self.buf: dict[socket.socket, bytes] = {}
        for i, query in enumerate(queries):  # each its own phone (X-Forwarded-For through a trusted proxy), as 1,000 phones would be
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET /v1/stream?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-Forwarded-For: 10.{i // 250}.{i % 250}.1\r\n\r\n".encode())
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.buf[s] = b""

    def wait_all(self, marker: bytes, started: threading.Event | None = None) -> list[float]:
        """perf_counter time at which each client received `marker` (blocks until all have)."""
        pending = set(self.buf)
        got: list[float] = []
        for s in list(pending):
            if self._seen(s, marker, got):
                pending.discard(s)
        if started is not None:
            started.set()
        while pending:
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{len(pending)} of {len(self.buf)} streams never received {marker!r}")
            for key, _ in self.sel.select(timeout=0.5):
                s = key.fileobj
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError(f"a stream closed: {self.buf[s][-300:]!r}")
                self.buf[s] += chunk
                if s in pending and self._seen(s, marker, got):
                    pending.discard(s)
        return got

    def _seen(self, s: socket.socket, marker: bytes, got: list[float]) -> bool:
        i = self.buf[s].find(marker)
        if i < 0:
            return False
        got.append(time.perf_counter())
        self.buf[s] = self.buf[s][i + len(marker):]
        return True

    def close(self) -> None:
        for s in self.buf:
            s.close()
        self.sel.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> str:
    return f"p50 {statistics.median(ms):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  max {max(ms):6.1f} ms"


def run(args: argparse.Namespace, plat: Platform, port: int, target: dict, handed: list[float]) -> tuple[list[float], list[float], list[float]]:
    lot_id, berths = target["id"], target["berths"]
    queries = [f"lots={lot_id}" if i % 2 else f"lat={target['lat']}&lon={target['lon']}&radius_m=1000" for i in range(args.streams)]
    server = next(t for t in threading.enumerate() if t.name == f"uvicorn-{port}")
    server_cpu = lambda: time.clock_gettime(time.pthread_getcpuclockid(server.ident))  # noqa: E731
    t0 = time.perf_counter()
    clients = Clients(port, queries, deadline=time.monotonic() + args.timeout)
    try:
        clients.wait_all(b"event: ready")
        print(f"{args.streams} streams open and past their current state in {time.perf_counter() - t0:.1f} s")
        from_message: list[float] = []
        from_hub: list[float] = []
        server_ms: list[float] = []
        for r in range(args.rounds):
            occupied = r % 2 == 0
            free = len(berths) - 1 if occupied else len(berths)
            marker = f'"lot_id":"{lot_id}","free":{free},'.encode()
            result: list[float] = []
            listening = threading.Event()
            reader = threading.Thread(target=lambda: result.extend(clients.wait_all(marker, listening)))
            reader.start()
            listening.wait()
            time.sleep(0.2)
            msg = berth_msg(lot_id, berths[0], occupied, r + 2, datetime.now(timezone.utc))
            cpu = server_cpu()
            sent = time.perf_counter()
            plat.pipeline.process([msg])  # here, the ingest thread
            reader.join(args.timeout)
            cpu_ms = (server_cpu() - cpu) * 1000
            if len(result) != args.streams:
                raise TimeoutError(f"round {r + 1}: {len(result)} of {args.streams} streams got the change")
            a = [(t - sent) * 1000 for t in result]
            b = [(t - handed[-1]) * 1000 for t in result]
            from_message += a
            from_hub += b
            server_ms.append(cpu_ms)
            print(f"round {r + 1:2d}: from the sensor message {summary(a)} | from the hand-off {summary(b)} | server CPU {cpu_ms:5.1f} ms")
            time.sleep(0.3)
        return from_message, from_hub, server_ms
    finally:
        clients.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--lots", type=int, default=3300, help="car parks in the simulated city")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds the whole run may take")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * args.streams + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2 * args.streams + 256, hard), hard))

    with tempfile.TemporaryDirectory() as tmp:
        city = generate_city(args.lots, seed=1)
        first = next(f for f in city["features"] if f["properties"].get("berths"))
        target = {**first["properties"], "lon": first["geometry"]["coordinates"][0], "lat": first["geometry"]["coordinates"][1]}
        handed: list[float] = []  # when the hub was handed each change (an AvailabilityChanged handler after the hub's)
        timed = HandlerMap(after_commit={AvailabilityChanged: [lambda e: handed.append(time.perf_counter()) if e.lot_id == target["id"] else None]})
        plat = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp}/bench.db"), with_ingest=False, more_handlers=timed)
        upgrade(plat.engine)
        import_registry(plat, city)
        plat.start()
        plat.pipeline.process([berth_msg(target["id"], b, False, 1, datetime.now(timezone.utc)) for b in target["berths"]])
        try:
            with serving(create_app(plat)) as base:
                from_message, from_hub, server_ms = run(args, plat, int(base.rsplit(":", 1)[1]), target, handed)
        finally:
            plat.stop()
    print(f"\n{args.streams} streams x {args.rounds} changes, city of {args.lots} car parks, Python {host.python_version()}, "
          f"{host.machine()}, load average {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}:")
    print(f"  delay from the sensor message: {summary(from_message)}  (target p99 <= 200 ms: {'met' if pct(from_message, 99) <= 200 else 'NOT met'})")
    print(f"  delay from the ingest's hand-off to the hub: {summary(from_hub)}")
    print(f"  CPU time of the server thread per change sent to all {args.streams} streams: median {statistics.median(server_ms):.1f} ms")


if __name__ == "__main__":
    main()
