"""The `parking` command: run the platform, migrate, import the registry, simulate traffic."""
from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from parking_core.errors import ParkingError
from parking_core.settings import Settings, load_settings

app = typer.Typer(help="City parking platform.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
lots_app = typer.Typer(help="The city registry of car parks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(lots_app, name="lots")
from gateways.cli.devices import devices_app  # noqa: E402 - a sub-app of its own file

app.add_typer(devices_app, name="devices")
from gateways.cli.operators import operators_app  # noqa: E402 - a sub-app of its own file

app.add_typer(operators_app, name="operators")
from gateways.cli.billing_cmds import settlement_app  # noqa: E402 - a sub-app of its own file

app.add_typer(settlement_app, name="settlement")
from gateways.cli.privacy import privacy_app  # noqa: E402 - a sub-app of its own file

app.add_typer(privacy_app, name="privacy")
from gateways.cli.events import events_app  # noqa: E402 - a sub-app of its own file

app.add_typer(events_app, name="events")
console = Console(stderr=True)


@app.callback()
def _process_clock() -> None:
    """The Alipay SDK stamps requests with the host's wall clock and Alipay reads it as Shanghai
    time; our own code only uses aware datetimes, so the process runs on Shanghai time."""
    import os

    if "TZ" not in os.environ:
        os.environ["TZ"] = "Asia/Shanghai"
        time.tzset()


def _settings(**overrides) -> Settings:
    try:
        return load_settings(**overrides)  # a URL's password is shown as *** (parking_core.settings.load_validated)
    except ParkingError as exc:
        _fail(exc)


def _config():  # noqa: ANN202 - gateways.config.PlatformConfig
    """Every setting of every part, validated before anything starts: a bad one is one line naming it."""
    from gateways.config import load_config

    try:
        return load_config()
    except ParkingError as exc:
        _fail(exc)


def _fail(exc: ParkingError) -> None:
    """One line on stderr naming the setting, exit status 2: what a script or a person can act on."""
    from rich.markup import escape

    from gateways.cli.startup import one_line

    console.print(f"[bold red]error[/]: {escape(one_line(exc.message))}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


def _listen(s: Settings, host: str, port: int, *, broker: bool = True):  # noqa: ANN202 - socket.socket
    """Take the HTTP port and try every configured dependency before anything starts or is printed."""
    from gateways.cli.startup import bind_http, check_dependencies

    sock = None
    try:
        sock = bind_http(host, port)
        check_dependencies(s, broker=broker)
    except ParkingError as exc:
        if sock is not None:
            sock.close()
        _fail(exc)
    return sock


def _logging(verbose: bool) -> None:
    from gateways.cli.console import log_handler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", handlers=[log_handler(console)])
    for noisy in ("amqtt", "transitions", "uvicorn.access", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to DATABASE_URL (a SQLite file when unset)."""
    from gateways.cli.startup import named_failures
    from gateways.schema import schema_revisions, upgrade
    from parking_core.db import make_engine

    s = _settings()
    engine = make_engine(s.resolved_database_url())
    try:
        with named_failures(s):
            upgrade(engine)
            current, _ = schema_revisions(engine)
    except ParkingError as exc:
        _fail(exc)
    console.print(f"schema at revision [bold]{current}[/] on {engine.url.render_as_string(hide_password=True)}")


def _offline_platform(s: Settings):  # noqa: ANN202 - gateways.bootstrap.Platform
    """A platform without ingest for one command (import, billing), or the one-line error naming the
    setting that stops it (tariff files, database, Redis)."""
    from gateways.bootstrap import Platform
    from gateways.cli.startup import check_dependencies, named_failures

    try:
        check_dependencies(s, broker=False)
        with named_failures(s):
            return Platform(s, with_ingest=False)
    except ParkingError as exc:
        _fail(exc)


@lots_app.command("import")
def lots_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="GeoJSON FeatureCollection")) -> None:
    """Load or update car parks from a GeoJSON registry file (all or nothing)."""
    from gateways.cli.startup import named_failures
    from gateways.operator.registry_import import import_registry

    s = _settings()
    platform = _offline_platform(s)
    try:
        with named_failures(s):
            platform.check_schema()
            result = import_registry(platform, file.read_bytes())
    except ParkingError as exc:
        _fail(exc)
    finally:
        platform.stop()
    console.print(f"imported {file}: {result.created} new, {result.updated} updated car parks, {result.berths} berths")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="HTTP port"),
    workers: int = typer.Option(1, min=1, max=32, help="ingest processes sharing the MQTT load (more than 1 needs REDIS_URL and MQTT_URL); a worker that dies is restarted"),
    http_workers: int = typer.Option(1, "--http-workers", min=1, max=64, help="HTTP processes sharing the port (more than 1 needs REDIS_URL and MQTT_URL); the ingest then runs in processes of its own, so neither slows the other"),
    dev: bool = typer.Option(False, "--dev", envvar="PARKING_DEV", help="development mode: allow the demo's stand-ins (console codes and notices, embedded or open broker, generated keys)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the platform (MQTT ingest and HTTP gateways) with settings from the environment.
    Refuses to run on the demo's stand-ins unless started with --dev."""
    from gateways.cli.production import demo_parts

    _logging(verbose)
    config = _config()
    s = config.core
    sender, notifier = _messaging()
    parts = demo_parts(s, config.accounts, sender, notifier, config.retention)
    if parts and not dev:
        _fail(ParkingError("parking serve refuses to run on demo parts: " + "; ".join(parts)
                           + " (or start it with --dev, PARKING_DEV=1, for development)", field="--dev"))
    for part in parts:
        console.print(f"[bold yellow]DEVELOPMENT MODE[/] (--dev): {part}")
    if http_workers > 1:
        if not (s.redis_url and s.mqtt_url):
            _fail(ParkingError("--http-workers above 1 shares live state and the broker: set REDIS_URL and MQTT_URL", field="--http-workers", value=http_workers))
        _serve_split(s, host, port, http_workers=http_workers, ingest_workers=workers, verbose=verbose)
        return
    supervisor = None
    if workers > 1:
        if not (s.redis_url and s.mqtt_url):
            _fail(ParkingError("--workers above 1 shares live state and the broker: set REDIS_URL and MQTT_URL", field="--workers", value=workers))
        from gateways.workers import IngestSupervisor

        supervisor = IngestSupervisor(workers - 1, verbose=verbose, nice=s.ingest_nice)
    _run(s, host, port, follow=workers > 1, supervisor=supervisor, sender=sender, notifier=notifier)


def _serve_split(s: Settings, host: str, port: int, *, http_workers: int, ingest_workers: int, verbose: bool) -> None:
    """API and ingest in processes of their own, started and stopped as one command: uvicorn runs
    `http_workers` stateless HTTP processes on the one port (each reads Redis and the database and
    hears other processes' changes over the broker; uvicorn restarts one that dies), and ingest
    workers 0..N-1 (`parking ingest`) run beside them, restarted by the supervisor when they die."""
    import uvicorn

    from gateways.bootstrap import Platform
    from gateways.cli.startup import named_failures
    from gateways.workers import IngestSupervisor

    _listen(s, host, port).close()  # the port and every dependency, tried before anything starts: one line if not
    try:
        with named_failures(s):
            platform = Platform(s, with_ingest=False)
            try:
                platform.check_schema()
                platform.operator_keys.get()  # a serving platform has its operators' key (generated and logged if unset)
            finally:
                platform.stop()
    except ParkingError as exc:
        _fail(exc)
    supervisor = IngestSupervisor(ingest_workers, verbose=verbose, first_id=0, nice=s.ingest_nice).start()
    console.print(f"API on [bold]http://{host}:{port}[/] in {http_workers} processes; {ingest_workers} ingest "
                  f"process{'es' if ingest_workers > 1 else ''} of their own; Ctrl-C stops")
    try:  # uvicorn's supervisor takes SIGINT and SIGTERM: it stops its workers and returns
        uvicorn.run("gateways.http.worker:create_app_from_env", factory=True, host=host, port=port, workers=http_workers,
                    log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    finally:
        supervisor.stop()


def _messaging():  # noqa: ANN202 - (CodeSender, Notifier)
    """Codes and notices as the settings say (webhooks), else the console stand-ins."""
    from gateways.messaging import load_messaging_settings, messaging_from_settings

    try:
        return messaging_from_settings(load_messaging_settings())
    except ParkingError as exc:
        _fail(exc)


@app.command()
def ingest(
    worker_id: int = typer.Option(1, min=0, help="this worker's number; its MQTT client id is PARKING_MQTT_CLIENT_ID-N (worker 0: PARKING_MQTT_CLIENT_ID itself)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run one MQTT ingest worker without HTTP; workers split the load by shared subscription."""
    import signal

    from gateways.bootstrap import Platform

    _logging(verbose)
    s = _config().core
    if not (s.redis_url and s.mqtt_url):
        _fail(ParkingError("an ingest worker shares live state and the broker with the others: set REDIS_URL and MQTT_URL", field="REDIS_URL"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sender, notifier = _messaging()  # billing in this worker notifies drivers too
    client_id = s.mqtt_client_id if worker_id == 0 else f"{s.mqtt_client_id}-{worker_id}"  # worker 0: the session `serve` alone uses
    platform = Platform(s.model_copy(update={"mqtt_client_id": client_id}), worker_id=worker_id,
                        code_sender=sender, notifier=notifier)
    try:
        platform.start()
        import gc

        gc.freeze()  # start-up objects live for the whole run
    except ParkingError as exc:
        platform.stop()
        _fail(exc)
    console.print(f"ingest worker {worker_id} running (MQTT client {client_id})")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()


@app.command()
def demo(
    lots: int = typer.Option(3300, help="car parks in the simulated city"),
    rate: float = typer.Option(300.0, help="simulated device messages per second"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000, help="HTTP port, 1-65535 (checked with the others, so a bad one is one line too)"),
    seed: int = typer.Option(1),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run everything on embedded defaults with a simulated city publishing over MQTT."""
    _logging(verbose)
    from gateways.cli.startup import named_failures
    from gateways.schema import upgrade
    from parking_core.db import make_engine
    from sensors.simulator import generate_city

    s = _demo_settings(_config().core)
    sock = _listen(s, host, port)  # a second demo stops here, before its banner and its scripted driver
    console.print(f"[bold]demo[/]: database {s.resolved_database_url()}, live state {'Redis' if s.redis_url else 'in-process'}, broker {'MQTT_URL' if s.mqtt_url else 'embedded'}")
    try:
        with named_failures(s):
            upgrade(make_engine(s.resolved_database_url()))
    except ParkingError as exc:
        sock.close()
        _fail(exc)
    city = generate_city(lots, seed=seed)
    _run(s, host, port, city=city, rate=rate, seed=seed, local_alipay=True, sock=sock)


def _demo_settings(s: Settings) -> Settings:
    """The demo keeps its own database (demo.db in PARKING_DATA_DIR) unless DATABASE_URL is set."""
    if not s.database_url:
        s = s.model_copy(update={"database_url": f"sqlite:///{s.data_dir / 'demo.db'}"})
    return s


def _run(s: Settings, host: str, port: int, *, city: dict | None = None, rate: float = 0.0, seed: int = 1, follow: bool = False,
         local_alipay: bool = False, supervisor=None, sock=None, sender=None, notifier=None) -> None:  # noqa: ANN001
    """Start everything on `sock` (bound here when not given); any start-up failure is one line
    naming the setting or the port, and exit status 2."""
    import uvicorn

    from gateways.bootstrap import Platform, alipay_from_env
    from gateways.cli.console import live_panel
    from gateways.cli.startup import named_failures
    from gateways.http.app import create_app

    if sock is None:
        sock = _listen(s, host, port)
    gateway = None
    if local_alipay and alipay_from_env() is None:  # the demo's Alipay is chosen before the platform is built
        from gateways.cli.demo_alipay import start_demo_alipay

        gateway = start_demo_alipay(s.data_dir, notify_url=f"http://{host}:{port}/v1/payments/alipay/notify")
        console.print(f"local Alipay-compatible gateway on {gateway.url} (its books in {s.data_dir / 'demo-alipay'}: "
                      "`parking billing reconcile --demo DAY`)")
    try:
        with named_failures(s):
            messaging = {k: v for k, v in (("code_sender", sender), ("notifier", notifier)) if v is not None}
            platform = Platform(s, supervisor=supervisor, alipay=gateway.client if gateway else None, **messaging)
            platform.operator_keys.get()  # a serving platform has its operators' key (generated and logged if unset)
    except ParkingError as exc:
        if gateway is not None:
            gateway.stop()
        sock.close()
        _fail(exc)
    try:
        with named_failures(s):
            if city is not None:
                from gateways.operator.registry_import import import_registry

                platform.check_schema()
                result = import_registry(platform, city)
                console.print(f"city: {result.created + result.updated} car parks, {result.berths} sensor berths")
            platform.start()
            import gc

            gc.freeze()  # start-up objects live for the whole run: keep full collections from pausing requests
            if follow:  # other workers ingest too: their changes reach this process's stream over MQTT
                platform.follow_availability()
            if supervisor is not None:
                supervisor.start()
    except ParkingError as exc:
        platform.stop()
        if gateway is not None:
            gateway.stop()
        sock.close()
        _fail(exc)
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a service manager's stop: shut down as on Ctrl-C
    sim_thread = None
    if city is not None and rate > 0:
        from sensors.simulator import run_simulation

        sim_thread = threading.Thread(
            target=run_simulation, name="simulator", daemon=True,
            kwargs=dict(target=platform.mqtt_target, city=city, rate=rate, duration_s=None, prefix=s.topic_prefix, seed=seed, progress=False, stop_event=stop),
        )
        sim_thread.start()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=2))
    web = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True)
    web.start()
    console.print(f"API and map on [bold]http://{host}:{port}[/] (try /v1/lots/nearby?lat=31.2990&lon=120.5853, /docs); MQTT {platform.mqtt_target.host}:{platform.mqtt_target.port}; Ctrl-C stops")
    if city is not None and gateway is not None:
        from gateways.cli.demo_driver import run_demo_driver

        threading.Thread(target=run_demo_driver, args=(platform, city, f"http://{host}:{port}", console.print), name="demo-driver", daemon=True).start()
    http_died = False
    try:
        live_panel(platform, console, stop, until=lambda: not web.is_alive())
        http_died = not stop.is_set()  # the panel ended because the HTTP server did, not on request
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.should_exit = True
        web.join(5)
        if supervisor is not None:
            supervisor.stop()
        platform.stop()
        if gateway is not None:
            gateway.stop()
        console.print("stopped")
    if http_died:
        _fail(ParkingError(f"the HTTP server on port {port} of {host} stopped", field="--port", value=port))


@app.command()
def simulate(
    lots: int = typer.Option(3300, help="car parks in the simulated city"),
    rate: float = typer.Option(1000.0, help="messages per second"),
    duration: Optional[float] = typer.Option(None, help="seconds; runs until Ctrl-C when unset"),
    seed: int = typer.Option(1),
    bad_fraction: float = typer.Option(0.0, help="share of malformed messages, to exercise rejection"),
    write_registry: Optional[Path] = typer.Option(None, help="write the simulated city's registry here and exit"),
) -> None:
    """Publish simulated device traffic to MQTT_URL (the platform must have imported the same city)."""
    import orjson

    from sensors.mqtt import MqttTarget
    from sensors.simulator import generate_city, run_simulation

    city = generate_city(lots, seed=seed)
    if write_registry:
        write_registry.write_bytes(orjson.dumps(city))
        console.print(f"wrote {len(city['features'])} car parks to {write_registry}")
        return
    s = _settings()
    if not s.mqtt_url:
        _fail(ParkingError("simulate needs MQTT_URL (mqtt://user:pass@host:port) of the broker the platform listens on", field="MQTT_URL"))
    from gateways.cli.startup import check_mqtt

    try:
        check_mqtt(s)
    except ParkingError as exc:
        _fail(exc)
    counts = run_simulation(MqttTarget.from_url(s.mqtt_url), city, rate=rate, duration_s=duration, prefix=s.topic_prefix, seed=seed, bad_fraction=bad_fraction)
    console.print(f"published: {counts}")


billing_app = typer.Typer(help="Billing: reconciliation with Alipay's daily bill, settlement per operator.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")


def _day(text: str):  # noqa: ANN202
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(ParkingError(f"day {text!r} is not a date like 2026-11-22", field="day", value=text))


def _billing_fail(exc: ParkingError, s: Settings, demo: bool) -> None:
    """The error, with a pointer to --demo when the demo's database is there and was not asked for."""
    if not demo and not s.database_url and (s.data_dir / "demo.db").exists():
        exc.message = f"{exc.message} (the demo's data is in {s.data_dir / 'demo.db'}: add --demo)"
    _fail(exc)


DEMO_HELP = "the demo's data: its database (demo.db in PARKING_DATA_DIR unless DATABASE_URL is set) and, for reconcile, its Alipay stand-in"


@billing_app.command("reconcile")
def billing_reconcile(day_arg: Optional[str] = typer.Argument(None, metavar="[DAY]", help="the day, as --day"),
                      day: Optional[str] = typer.Option(None, "--day", help="a Shanghai day, YYYY-MM-DD (Alipay's bills are T+1; the demo's stand-in serves today's too); default yesterday"),
                      demo: bool = typer.Option(False, "--demo", help=DEMO_HELP)) -> None:
    """Reconcile Alipay's bill of a day with the payments and refunds recorded, keeping each difference as a case
    (resolved through the operator API, docs/RECONCILIATION.md); exit status 1 while a case of the day is open."""
    import json
    from datetime import datetime, timedelta

    from billing.alipay.bill import parse_bill_zip
    from billing.alipay.client import download_bill
    from billing.reconcile import compare
    from billing.reconciliation import DayReconciliation
    from gateways.bootstrap import alipay_from_env
    from parking_core.clock import SHANGHAI

    if day and day_arg and day != day_arg:
        _fail(ParkingError(f"two days given: {day_arg} and --day {day}", field="--day", value=day))
    when = _day(day or day_arg) if (day or day_arg) else datetime.now(SHANGHAI).date() - timedelta(days=1)
    s = _demo_settings(_settings()) if demo else _settings()
    stand_in = None
    if demo:  # the demo's stand-in, started again from the books the demo kept
        from gateways.cli.demo_alipay import start_demo_alipay

        try:
            stand_in = start_demo_alipay(s.data_dir, create=False)
        except ParkingError as exc:
            _fail(exc)
    platform = _offline_platform(s)
    try:
        platform.check_schema()
        client = stand_in.client if stand_in is not None else alipay_from_env()
        if client is None:
            raise ParkingError("reconciliation needs Alipay: set ALIPAY_APP_ID and the keys (or --demo for the demo's stand-in)",
                               field="ALIPAY_APP_ID")
        rows = parse_bill_zip(download_bill(client, bill_date=when))  # a bill with a bad line is refused whole, naming it
        with platform.uow() as uow:
            report = compare(uow.session, when, rows)
        days = DayReconciliation(platform.uow, platform.clock)
        record = days.run_day(when, rows)
        cases = [{"id": c.id, "kind": c.kind, "line": c.line, "out_trade_no": c.out_trade_no, "request_no": c.request_no,
                  "order_id": c.order_id, "operator_id": c.operator_id, "ours_fen": c.ours_fen, "alipay_fen": c.alipay_fen,
                  "status": c.status, "resolution": c.resolution, "note": c.note} for c in days.cases(when, operators=None)]
    except ParkingError as exc:
        _billing_fail(exc, s, demo)
    finally:
        if stand_in is not None:
            stand_in.stop()
        platform.stop()
    print(json.dumps(report.to_dict() | {"status": record.status, "cases": cases}, ensure_ascii=False, indent=2, default=str))
    raise typer.Exit(0 if record.status in ("balanced", "closed") else 1)


@billing_app.command("settlement")
def billing_settlement(day: str = typer.Argument(..., help="a Shanghai day, YYYY-MM-DD"),
                       operator: Optional[str] = typer.Option(None, help="one car-park operator id; all when unset"),
                       demo: bool = typer.Option(False, "--demo", help=DEMO_HELP)) -> None:
    """Each car-park operator's payments less refunds on DAY, in fen."""
    import json

    from billing.reconcile import settlement

    when = _day(day)
    s = _demo_settings(_settings()) if demo else _settings()
    platform = _offline_platform(s)
    try:
        platform.check_schema()
        with platform.uow() as uow:
            rows = settlement(uow.session, when, operator_id=operator)
    except ParkingError as exc:
        _billing_fail(exc, s, demo)
    finally:
        platform.stop()
    print(json.dumps([{**vars(r), "net_fen": r.net_fen} for r in rows], indent=2))


def main() -> None:  # pragma: no cover - the console script
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
