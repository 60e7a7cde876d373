"""The one composition root: settings in, a running platform out. Tests build their own.

Nothing connects at import; `Platform.start()` connects, `stop()` lets go, in reverse.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.orm import Session, sessionmaker

from parking_core.availability import Availability, AvailabilityRules
from billing.alipay.client import AlipayClient
from billing.tariffs import CompiledTariff
from billing.tariffs.catalog import load_tariff_catalog
from billing.tariffs.versions import TariffBook
from gateways.first_use import OnFirstUse
from gateways.operator.permissions import load_operator_keys
from parking_core.accounts import Accounts, load_account_settings
from parking_core.db import UnitOfWork, make_engine
from gateways.schema import schema_revisions
from parking_core.directory import Directory
from parking_core.errors import ConfigError
from parking_core.events import BerthReported, DeviceEvent, PassageReported
from parking_core.live import LiveState, open_live_state
from parking_core.notify import CodeSender, ConsoleNotifier, ConsoleSender, Notifier
from parking_core.registry import load_lots
from parking_core.sessions import SessionBook
from parking_core.settings import Settings
from sensors.broker import EmbeddedBroker, embedded_password
from sensors.mqtt import MqttIngest, MqttTarget, Publisher
from sensors.pipeline import IngestPipeline
from sensors.worker_status import WorkerBoard
from gateways.workers import IngestSupervisor

log = logging.getLogger("parking")


@dataclass
class Platform:
    settings: Settings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    with_ingest: bool = True
    with_billing: bool = True  # orders for closed stays; the payment worker runs with the ingest
    event_listeners: list[Callable[[Sequence[DeviceEvent]], None]] = field(default_factory=list)
    publish_sink: Callable[[str, bytes, bool], None] | None = None  # tests: capture instead of MQTT
    availability_listeners: list[Callable[[str, Availability], None]] = field(default_factory=list)
    code_sender: CodeSender = field(default_factory=ConsoleSender)  # an SMS provider in production
    notifier: Notifier = field(default_factory=ConsoleNotifier)  # driver notices: unpaid orders, arrears, disputes
    alipay: AlipayClient | None = None  # None: no agreement signing or charging (billing may build it from AlipaySettings.from_env())
    worker_id: int = 0  # this process's number among the ingest workers (0: the one that serves HTTP)
    supervisor: IngestSupervisor | None = None  # `serve --workers N`: the other ingest processes, kept running

    def __post_init__(self) -> None:
        s = self.settings
        self.engine = make_engine(s.resolved_database_url())
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.live: LiveState = open_live_state(s.redis_url, prefix=s.redis_prefix)
        self.directory = Directory()
        self.sessions = SessionBook(clock=self.clock)
        self.tariffs: dict[str, CompiledTariff] = TariffBook(load_tariff_catalog(s.tariffs_path), uow=self.uow)
        account_settings = load_account_settings()
        self.accounts = Accounts.from_settings(account_settings, data_dir=s.data_dir, uow=self.uow, clock=self.clock,
                                               sender=self.code_sender, notifier=self.notifier)  # its key file: on first use
        self.operator_keys = OnFirstUse(lambda: load_operator_keys(account_settings, s.data_dir))
        self.broker: EmbeddedBroker | None = None
        self.mqtt_target: MqttTarget | None = None
        self.publisher: Publisher | None = None
        self.ingest: MqttIngest | None = None
        self.pipeline: IngestPipeline | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.worker_board: WorkerBoard | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

    def check_schema(self) -> None:
        """Refuse to run on a database the migrations have not brought up to date."""
        current, head = schema_revisions(self.engine)
        if current != head:
            raise ConfigError(
                f"database schema is at revision {current or 'none'}, the code needs {head}: run `parking db upgrade`",
                field="DATABASE_URL",
                value=self.engine.url.render_as_string(hide_password=True),
            )

    def reload_directory(self, *, configure_live: bool = True) -> None:
        with self.uow() as uow:
            lots = load_lots(uow.session)
        self.directory.replace(lots)
        if configure_live:
            self.live.configure(lots)

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        if self.publish_sink is not None:
            self.publish_sink(topic, payload, retain)
        if self.publisher is not None:
            self.publisher(topic, payload, retain)

    def _on_events(self, session: Session, events: Sequence[DeviceEvent]) -> None:
        """Inside the ingest's transaction: stays (and, through billing's hooks, orders) commit
        with the event log, so a batch that fails leaves neither half-written."""
        self.apply_sessions(session, events)
        for listener in self.event_listeners:
            listener(events)

    def apply_sessions(self, session: Session, events: Sequence[DeviceEvent]) -> None:
        relevant = [e for e in events if isinstance(e, (PassageReported, BerthReported))]
        if relevant:
            self.sessions.apply(session, relevant)

    def record_sessions(self, events: Sequence[DeviceEvent]) -> None:
        """Open and close parking sessions (and orders) for these events in a transaction of their own."""
        with self.uow() as uow:
            self.apply_sessions(uow.session, events)
            uow.commit()

    def _on_availability(self, lot_id: str, a: Availability) -> None:
        for listener in self.availability_listeners:
            listener(lot_id, a)

    def start(self) -> "Platform":
        s = self.settings
        self.check_schema()
        was_ready = self.live.is_configured()  # Redis that outlived us is current; memory never is
        self.reload_directory(configure_live=was_ready)  # otherwise rebuild() configures, under its lock
        if s.mqtt_url:
            self.mqtt_target = MqttTarget.from_url(s.mqtt_url)
        elif self.with_ingest:
            self.broker = EmbeddedBroker(port=_embedded_port(), password=embedded_password()).start()
            self.mqtt_target = MqttTarget.from_url(self.broker.url, v5=False)
            log.info("embedded MQTT broker on %s", self.broker.display_url)
        self.pipeline = IngestPipeline(
            directory=self.directory, live=self.live, uow_factory=self.uow, publish=self._publish,
            topic_prefix=s.topic_prefix, settle_s=s.debounce_s, rules=AvailabilityRules.from_settings(s),
            clock=self.clock, on_events=self._on_events, on_availability=self._on_availability,
        )
        if not was_ready:
            self.pipeline.rebuild()
        if self.with_billing:
            from billing.service import install_billing

            if self.alipay is None and (client := alipay_from_env()) is not None:
                self.use_alipay(client)
            install_billing(self, start_worker=self.with_ingest)
        if self.with_ingest:
            self.publisher = Publisher(self.mqtt_target)
            self.ingest = MqttIngest(
                self.pipeline.process, self.mqtt_target, topic_prefix=s.topic_prefix, client_id=s.mqtt_client_id,
                shared_group="parking" if self.mqtt_target.v5 else None,
                batch_size=s.ingest_batch_size, flush_ms=s.ingest_flush_ms,
            ).start()
            if s.redis_url:
                self.worker_board = WorkerBoard(s.redis_url, s.redis_prefix, report_s=s.worker_report_s)
                if self.supervisor is not None:
                    self.worker_board.forget()
            self._ticker = threading.Thread(target=self._tick_loop, name="ticker", daemon=True)
            self._ticker.start()
        return self

    def _tick_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.pipeline.tick(self.settings.heartbeat_timeout_s)
            except Exception:  # keep ticking; the log says what broke
                log.exception("tick failed")
            self._report_worker()

    def ingest_status(self) -> dict:
        """This process's ingest: running, connected, how far behind, what it did."""
        ingest, stats = self.ingest, self.pipeline.stats if self.pipeline else None
        status = {"worker": self.worker_id, "pid": os.getpid(), "running": bool(ingest and ingest.alive()),
                  "connected": bool(ingest and ingest.connected.is_set()),
                  "lag_s": ingest.lag_s() if ingest else 0.0, "queued": ingest.queued() if ingest else 0,
                  "batch_failures": ingest.failures if ingest else 0}
        if stats is not None:
            status.update(stats.as_dict())
            status["internal_errors"] = stats.reasons.get("internal error", 0)
            status["reasons"] = dict(stats.reasons)
        return status

    def _report_worker(self) -> None:
        if self.worker_board is None:
            return
        try:
            self.worker_board.report(self.worker_id, self.ingest_status())
        except Exception as exc:  # Redis away: /healthz says so through live state; keep ingesting
            log.warning("worker %d could not report its status: %s", self.worker_id, exc.__class__.__name__)

    def workers_status(self) -> list[dict]:
        """Every ingest worker as /healthz shows it: reports from Redis merged with the supervisor's view."""
        if self.worker_board is None:
            return [{**self.ingest_status(), "alive": bool(self.ingest and self.ingest.alive())}] if self.ingest else []
        try:
            reports = self.worker_board.read()
        except Exception as exc:
            return [{"worker": "all", "alive": False, "error": f"worker reports unreadable: {exc.__class__.__name__}"}]
        procs = {w["id"]: w for w in self.supervisor.status()} if self.supervisor else {}
        expected = ({self.worker_id} if self.ingest is not None else set()) | (set(procs) if self.supervisor else set(reports))
        out = []
        for wid in sorted(expected):
            entry = {"worker": wid, **reports.get(wid, {"alive": False, "error": "no report yet"})}
            if wid == self.worker_id and self.ingest is not None:
                entry.update(self.ingest_status(), alive=self.ingest.alive())
            if wid in procs:
                entry.update(pid=procs[wid]["pid"], restarts=procs[wid]["restarts"], last_exit_code=procs[wid]["last_exit_code"])
                entry["alive"] = entry["alive"] and procs[wid]["running"]
            out.append(entry)
        return out

    def follow_availability(self) -> None:
        """Hear every lot's availability from the broker, so changes other worker processes
        ingest reach this process's listeners (the live stream, signs) too."""
        import orjson

        from sensors.mqtt import connect, make_client

        def on_message(client, userdata, msg) -> None:  # noqa: ANN001
            lot_id = msg.topic.split("/")[-2]
            try:
                body = orjson.loads(msg.payload)
                a = Availability(free=int(body["free"]), total=int(body["total"]), status=str(body["status"]),
                                 updated_at=datetime.fromisoformat(body["ts"]))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed availability message on %s", msg.topic)
                return
            self._on_availability(lot_id, a)

        self._follower = make_client(self.mqtt_target)
        self._follower.on_message = on_message
        self._follower.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{self.settings.topic_prefix}/lots/+/availability", qos=1)
        connect(self._follower, self.mqtt_target)
        self._follower.loop_start()

    def use_alipay(self, client: AlipayClient) -> None:
        """Point agreement signing and charging at this Alipay (the local gateway in the demo)."""
        from urllib.parse import urljoin

        self.alipay = client
        self.accounts.alipay = client
        if self.accounts.agreement_notify_url is None and client.settings.notify_url:
            self.accounts.agreement_notify_url = urljoin(client.settings.notify_url, "agreement-notify")

    def stop(self) -> None:
        self._stop.set()
        if getattr(self, "billing", None) is not None:
            self.billing.stop()
        if getattr(self, "_follower", None) is not None:
            self._follower.disconnect()
            self._follower.loop_stop()
        if self._ticker:
            self._ticker.join(5)
        if self.worker_board is not None:
            try:
                self.worker_board.report(self.worker_id, {**self.ingest_status(), "running": False})
            except Exception:
                pass
            self.worker_board.close()
        if self.ingest:
            self.ingest.stop()
        if self.publisher:
            self.publisher.close()
        if self.broker:
            self.broker.stop()
        self.live.close()
        self.engine.dispose()


def alipay_from_env() -> AlipayClient | None:
    """The real Alipay when ALIPAY_APP_ID and keys are set, else None (no agreements, no charging)."""
    import os

    from billing.alipay.client import AlipaySettings, build_client

    if not os.environ.get("ALIPAY_APP_ID"):
        return None
    return build_client(AlipaySettings.from_env())


def _embedded_port() -> int:
    """PARKING_EMBEDDED_MQTT_PORT (1884 by default; 1883 is usually a real broker's). Never another
    port: the devices and `parking simulate` are pointed at this one, so a busy port stops start-up."""
    from sensors.broker import embedded_port

    return embedded_port()
