"""The one composition root: settings in, a running platform out. Tests build their own.

Nothing connects at import; `Platform.start()` connects, `stop()` lets go, in reverse.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy.orm import sessionmaker

from billing.alipay.client import AlipayClient
from billing.events import ArrearsFoundAtEntry
from billing.handlers import billing_handlers
from billing.service import Billing, BillingSettings, build_billing
from billing.tariffs import CompiledTariff
from billing.tariffs.catalog import load_tariff_catalog
from billing.tariffs.versions import TariffBook
from gateways.availability_follower import AvailabilityFollower
from gateways.citizen.hub import Hub
from gateways.citizen.sign_board import SignBoard
from gateways.first_use import OnFirstUse
from gateways.operator.commissioning_watch import CommissioningWatch
from gateways.operator.permissions import load_operator_keys
from gateways.schema import schema_revisions
from gateways.workers import IngestSupervisor
from parking_core.accounts import Accounts, load_account_settings
from parking_core.availability import Availability, AvailabilityRules, read_availability
from parking_core.daily import DailySchedule
from parking_core.db import UnitOfWork, make_engine
from parking_core.directory import Directory
from parking_core.domain_events import AvailabilityChanged
from parking_core.errors import ConfigError
from parking_core.event_log_partitions import daily_event_log, event_log_maintenance
from parking_core.events import DeviceEvent
from parking_core.live import LiveState, open_live_state
from parking_core.messagebus import HandlerMap, MessageBus, merge
from parking_core.notify import CodeSender, ConsoleNotifier, ConsoleSender, Notifier
from parking_core.registry import load_lots
from parking_core.settings import Settings
from parking_core.stays import StayBook
from sensors.broker import EmbeddedBroker, embedded_password
from sensors.device_credentials import device_access_of
from sensors.mqtt import MqttIngest, MqttTarget, Publisher
from sensors.pipeline import IngestPipeline
from sensors.topics import Topics
from sensors.worker_status import WorkerBoard

log = logging.getLogger("parking")


@dataclass
class Platform:
    settings: Settings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    with_ingest: bool = True  # the MQTT ingest, and with it the ticker and the payment worker
    publish_sink: Callable[[str, bytes, bool], None] | None = None  # tests: capture instead of MQTT
    code_sender: CodeSender = field(default_factory=ConsoleSender)  # an SMS provider in production
    notifier: Notifier = field(default_factory=ConsoleNotifier)  # driver notices: unpaid orders, arrears, disputes
    alipay: AlipayClient | None = None  # None: the real Alipay when ALIPAY_APP_ID is set, else no agreements or charging
    billing_settings: BillingSettings | None = None  # None: from the environment
    more_handlers: HandlerMap = field(default_factory=HandlerMap)  # tests: handlers of their own, run after the platform's
    worker_id: int = 0  # this process's number among the ingest workers (0: the one that serves HTTP)
    supervisor: IngestSupervisor | None = None  # `serve --workers N`: the other ingest processes, kept running

    def __post_init__(self) -> None:
        s = self.settings
        if self.alipay is None:
            self.alipay = alipay_from_env()
        self.engine = make_engine(s.resolved_database_url())
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.live: LiveState = open_live_state(s.redis_url, prefix=s.redis_prefix)
        self.directory = Directory()
        self.stays = StayBook(clock=self.clock)
        self.tariffs: dict[str, CompiledTariff] = TariffBook(load_tariff_catalog(s.tariffs_path), uow=self.uow)
        self.billing: Billing = build_billing(uow=self.uow, clock=self.clock, directory=self.directory, tariffs=self.tariffs,
                                              alipay=self.alipay, notifier=self.notifier, settings=self.billing_settings)
        self.hub = Hub(clock=self.clock)  # the live streams' fan-out (gateways/citizen/stream.py)
        self.sign_board = SignBoard(self)  # the guidance signs: loaded when the platform starts
        self.topics = Topics(s.topic_prefix)
        self.bus = MessageBus(self.handlers())
        account_settings = load_account_settings()
        self.accounts = Accounts.from_settings(account_settings, data_dir=s.data_dir, uow=self.uow, clock=self.clock,
                                               sender=self.code_sender, notifier=self.notifier)  # its key file: on first use
        self.operator_keys = OnFirstUse(lambda: load_operator_keys(account_settings, s.data_dir))
        self.device_access = OnFirstUse(lambda: device_access_of(self))  # devices' broker credentials (docs/DEVICES.md)
        self.commissioning_watch = CommissioningWatch(self)  # car parks going live (swept while an HTTP app serves)
        self.broker: EmbeddedBroker | None = None
        self.mqtt_target: MqttTarget | None = None
        self.publisher: Publisher | None = None
        self.ingest: MqttIngest | None = None
        self.pipeline: IngestPipeline | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._follower: AvailabilityFollower | None = None  # while other workers ingest too (follow_availability)
        self.worker_board: WorkerBoard | None = None
        self.event_log_daily: DailySchedule | None = None

    def handlers(self) -> HandlerMap:
        """What reacts to what, for the whole platform. Billing's map (billing/handlers.py) says what an entry,
        an exit and a correction do to orders, and which events wake the payment worker or tell a driver."""
        return merge(
            billing_handlers(self.billing),
            HandlerMap(after_commit={
                ArrearsFoundAtEntry: [self._tell_gate],                          # the car park's gate hears what the plate owes
                AvailabilityChanged: [self._stream_availability, self._republish_signs],  # live streams, guidance signs
            }),
            self.more_handlers,
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.bus)

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

    # -- after-commit handlers of the composition root ----------------------------------------------
    def _tell_gate(self, e: ArrearsFoundAtEntry) -> None:
        payload = orjson.dumps({"plate": e.plate, "count": e.count, "total_fen": e.total_fen, "orders": list(e.order_ids),
                                "session_id": e.stay_id, "ts": e.at.isoformat()})
        self._publish(self.topics.arrears(e.lot_id), payload, False)

    def _stream_availability(self, e: AvailabilityChanged) -> None:
        self.hub.publish(e.lot_id, e.availability)

    def _republish_signs(self, e: AvailabilityChanged) -> None:
        self.sign_board.on_availability(e.lot_id, e.availability)

    def _availability_published(self, lot_id: str, a: Availability) -> None:
        """The ingest published a change it committed: its after-commit handlers run. While other workers
        ingest too, the change only marks the lot: the follower passes on what Redis holds after it."""
        if self._follower is not None:
            self._follower.mark(lot_id)
        else:
            self.bus.handle_committed([AvailabilityChanged(lot_id, a)])

    def record_stays(self, events: Sequence[DeviceEvent]) -> None:
        """Open and close stays (and, through the handlers, orders) for these events in a transaction of their own."""
        with self.uow() as uow:
            self.stays.apply(uow, events)
            uow.commit()

    def start(self) -> Platform:
        s = self.settings
        self.check_schema()
        was_ready = self.live.is_configured()  # Redis that outlived us is current; memory never is
        self.reload_directory(configure_live=was_ready)  # otherwise rebuild() configures, under its lock
        self.sign_board.load_configured()
        if s.mqtt_url:
            self.mqtt_target = MqttTarget.from_url(s.mqtt_url)
        elif self.with_ingest:
            self.broker = EmbeddedBroker(port=_embedded_port(), password=embedded_password()).start()
            self.mqtt_target = MqttTarget.from_url(self.broker.url, v5=False)
            log.info("embedded MQTT broker on %s", self.broker.display_url)
        self.pipeline = IngestPipeline(
            directory=self.directory, live=self.live, uow_factory=self.uow, publish=self._publish,
            topic_prefix=s.topic_prefix, settle_s=s.debounce_s, rules=AvailabilityRules.from_settings(s),
            clock=self.clock, on_events=self.stays.apply, on_availability=self._availability_published,
        )
        if not was_ready:
            self.pipeline.rebuild()
        if self.with_ingest:
            self.billing.worker.start()
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
            if self.worker_id == 0:  # one process of a deployment: `serve`'s own ingest, or `serve --http-workers`' worker 0
                job = event_log_maintenance(self.uow, self.clock)  # partitions ahead, old months retired (PARKING_EVENT_LOG_*)
                self.event_log_daily = daily_event_log(job).start()
        elif s.redis_url:  # an API-only process (`serve --http-workers`): its /healthz reads the ingest workers' reports
            self.worker_board = WorkerBoard(s.redis_url, s.redis_prefix, report_s=s.worker_report_s)
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
                  "subscribed": bool(ingest and ingest.subscribed.is_set()),  # the broker holds messages for it from now on
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
        """Hear every lot's availability from the broker, so changes other worker processes ingest
        reach this process's handlers (the live stream, signs) too (gateways/availability_follower.py)."""
        def read(lot_ids):  # noqa: ANN001, ANN202
            for info, a in read_availability(self.directory.lots, self.live, lot_ids, self.clock(), self.pipeline.rules):
                yield info.id, a

        self._follower = AvailabilityFollower(
            target=self.mqtt_target, topics=self.topics, known=lambda lot_id: lot_id in self.directory.lots, read=read,
            pass_on=lambda lot_id, a: self.bus.handle_committed([AvailabilityChanged(lot_id, a)]),
        ).start()

    def stop(self) -> None:
        self._stop.set()
        if self.event_log_daily is not None:
            self.event_log_daily.stop()
        self.commissioning_watch.stop()
        self.billing.stop()
        if self._follower is not None:
            self._follower.stop()
        if self._ticker:
            self._ticker.join(5)
        if self.worker_board is not None:
            if self.ingest is not None:  # an API-only process only reads the board
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
    """The real Alipay when ALIPAY_APP_ID and keys are set (environment or .env), else None (no agreements, no charging)."""
    from billing.alipay.client import build_client, load_alipay_settings

    settings = load_alipay_settings()
    return build_client(settings) if settings is not None else None


def _embedded_port() -> int:
    """PARKING_EMBEDDED_MQTT_PORT (1884 by default; 1883 is usually a real broker's). Never another
    port: the devices and `parking simulate` are pointed at this one, so a busy port stops start-up."""
    from sensors.broker import embedded_port

    return embedded_port()
