"""What the benchmarks share: a private Mosquitto, a database made and dropped, the backlog, the checks."""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from parking_core.events import BerthReported
from parking_core.live.memory import MemoryLiveState
from parking_core.lots import LotInfo
from sensors.broker import free_port
from sensors.messages import Rejection, parse_message
from sensors.mqtt import MqttTarget, connect, make_client

REPO = Path(__file__).resolve().parents[1]
MOSQUITTO = os.environ.get("BENCH_MOSQUITTO", "/usr/sbin/mosquitto")
SHIPPED_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SIM_PREFIX = "parking/v1"
# Settings of the shipped file the private copy replaces: where it listens, who may log in, where it writes.
_REPLACED = {
    "listener", "protocol", "max_connections", "allow_anonymous", "password_file", "acl_file", "per_listener_settings",
    "persistence_location", "log_dest", "log_type", "connection_messages", "certfile", "keyfile", "cafile", "tls_version",
}

console = Console()
if not console.is_terminal:
    console.width = 120


def bench_conf(shipped: str, data_dir: Path, port: int) -> str:
    """The shipped config with its queue and persistence settings, on a private port, anonymous, in a temp dir."""
    kept = [line for line in shipped.splitlines() if line.strip().split(" ", 1)[0] not in _REPLACED]
    kept += [
        "per_listener_settings false",
        f"persistence_location {data_dir}/",
        f"log_dest file {data_dir}/mosquitto.log",
        "log_type error",
        "log_type warning",
        "allow_anonymous true",
        f"listener {port} 127.0.0.1",
    ]
    return "\n".join(kept) + "\n"


@contextmanager
def private_mosquitto() -> Iterator[MqttTarget]:
    """A Mosquitto of the bench's own, from a temp copy of deploy/mosquitto/mosquitto.conf; stopped afterwards."""
    if not Path(MOSQUITTO).exists():
        raise SystemExit(f"{MOSQUITTO} not found: apt-get install mosquitto")
    data = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
    port = free_port()
    conf = data / "mosquitto.conf"
    conf.write_text(bench_conf(SHIPPED_CONF.read_text(), data, port))
    with running_mosquitto(data, port):
        yield MqttTarget("127.0.0.1", port, username="bench")


@contextmanager
def running_mosquitto(data: Path, port: int) -> Iterator[None]:
    """Run Mosquitto on `data/mosquitto.conf` until the block ends, then stop it and remove `data`. As root, the
    folder and its files are handed to the mosquitto user first (it drops root, and must read and write them)."""
    if os.geteuid() == 0:
        for path in (data, *data.iterdir()):
            shutil.chown(path, "mosquitto")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(data / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on port {port} after {timeout} s")


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A SQLite file in tmp, or a fresh PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare_database(url: str, lots: Sequence[LotInfo]) -> None:
    """Migrate the schema and import the registry, as `parking db upgrade` and `parking lots import` do."""
    from sqlalchemy.orm import Session

    from gateways.schema import upgrade
    from parking_core.db import make_engine
    from parking_core.registry import save_registry

    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        save_registry(s, list(lots))
        s.commit()
    engine.dispose()


def count_rows(url: str, table: str = "occupancy_events") -> int:
    from sqlalchemy import text

    from parking_core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        n = c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def backlog(city: dict, n: int, *, seed: int = 1, rate: float = 5_000, ago_s: float = 120, bad_fraction: float = 0.0) -> list[tuple[str, bytes]]:
    """`n` (or a few more) simulated messages, stamped a little in the past so none is in the future."""
    from sensors.simulator import Simulator

    out: list[tuple[str, bytes]] = []
    start = datetime.now(timezone.utc) - timedelta(seconds=ago_s)
    sim = Simulator(city, lambda t, p: out.append((t, p)), prefix=SIM_PREFIX, seed=seed, clock=lambda: start, bad_fraction=bad_fraction)
    sim.tune(rate)
    sim.emit(n)
    return out


def retopic(messages: Sequence[tuple[str, bytes]], prefix: str) -> list[tuple[str, bytes]]:
    """The same messages under another topic prefix (each run its own, so runs cannot mix)."""
    cut = len(SIM_PREFIX)
    return [(prefix + t[cut:], p) for t, p in messages]


@dataclass
class Expected:
    """What a lossless, idempotent ingest must end with for a backlog."""

    unique_accepted: int
    accepted: int
    rejected: int
    live: MemoryLiveState


def expected(lots: Sequence[LotInfo], messages: Sequence[tuple[str, bytes]], prefix: str) -> Expected:
    by_id = {lot.id: lot for lot in lots}
    berths = {lot.id: set(lot.berths) for lot in lots}
    now = datetime.now(timezone.utc)
    events, keys, rejected = [], set(), 0
    for topic, payload in messages:
        ev = parse_message(topic, payload, prefix, now=now)
        if isinstance(ev, Rejection) or ev.lot_id not in by_id or (isinstance(ev, BerthReported) and ev.berth_id not in berths[ev.lot_id]):
            rejected += 1
            continue
        events.append(ev)
        keys.add((ev.lot_id, ev.dedupe_key))
    live = MemoryLiveState()
    live.configure(lots)
    live.apply(events, settle_s=0, now=now.timestamp())
    return Expected(unique_accepted=len(keys), accepted=len(events), rejected=rejected, live=live)


def live_mismatches(reference: MemoryLiveState, live, lot_ids: Sequence[str]) -> list[str]:
    """Lots whose free count, total or known flag differ from the reference replay."""
    got = live.lots(list(lot_ids))
    want = reference.lots(list(lot_ids))
    return [i for i in lot_ids if (got[i].free, got[i].total, got[i].known) != (want[i].free, want[i].total, want[i].known)]


def connected_client(target: MqttTarget, name: str, *, on_publish=None):  # noqa: ANN001, ANN201
    """A paho client of the bench, connected with its loop running (SystemExit naming it when the broker does not answer)."""
    client = make_client(target, f"{name}-{uuid.uuid4().hex[:6]}")
    connected = threading.Event()
    if on_publish is not None:
        client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.loop_start()
    connect(client, target)
    if not connected.wait(10):
        raise SystemExit(f"{name} could not connect")
    return client


def publish_all(target: MqttTarget, messages: Sequence[tuple[str, bytes]], *, timeout: float = 300) -> float:
    """Publish at QoS 1 as fast as the broker acknowledges; seconds taken, once every PUBACK is in."""
    acked = [0]
    done = threading.Event()

    def on_publish(client, userdata, mid, reason_code=None, properties=None) -> None:  # noqa: ANN001
        acked[0] += 1
        if acked[0] >= len(messages):
            done.set()

    client = connected_client(target, "bench-pub", on_publish=on_publish)
    t0 = time.perf_counter()
    for i, (topic, payload) in enumerate(messages):
        client.publish(topic, payload, qos=1)
        if i % 2000 == 1999:  # keep paho's own queue short: it slows down when it holds many
            while i - acked[0] > 5000:
                time.sleep(0.002)
    if not done.wait(timeout):
        raise SystemExit(f"only {acked[0]} of {len(messages)} publishes acknowledged")
    took = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return took


def wait_until(predicate, timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, justify="right" if c != columns[0] else "left")
    for r in rows:
        t.add_row(*[_cell(v) for v in r])
    console.print(t)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def pay_every_order(conn) -> None:  # noqa: ANN001 - a SQLAlchemy connection in a transaction
    """One paid withholding attempt and its payment for every order in the database, made by PostgreSQL itself."""
    from sqlalchemy import text

    conn.execute(text("""
        INSERT INTO payment_attempts (order_id, out_trade_no, kind, amount_fen, status, queries, created_at, updated_at)
        SELECT id, id || '-1', 'withholding', amount_fen, 'paid', 0, exited_at, exited_at FROM orders"""))
    conn.execute(text("""
        INSERT INTO payments (order_id, attempt_id, out_trade_no, trade_no, amount_fen, paid_at, recorded_at, source)
        SELECT a.order_id, a.id, a.out_trade_no, 'T' || a.order_id, a.amount_fen, o.exited_at, o.exited_at, 'answer'
        FROM payment_attempts a JOIN orders o ON o.id = a.order_id"""))


def prepare_serve(city: dict, env: dict, tmp: Path) -> list[str]:
    """Migrate the database and import the city through the CLI, as a deployer does before `parking serve`;
    returns the CLI's command line for the serve itself."""
    import subprocess
    import sys

    import orjson

    registry = tmp / "city.geojson"
    registry.write_bytes(orjson.dumps(city))
    cli = [sys.executable, "-m", "gateways.cli.main"]
    for args in (["db", "upgrade"], ["lots", "import", str(registry)]):
        subprocess.run(cli + args, env=env, check=True, capture_output=True)
    return cli
