"""MQTT plumbing (paho-mqtt 2): client from a URL, and the consumer that feeds the pipeline.

The consumer acknowledges a message only after its batch went through the pipeline
(manual ack), with a persistent session: a crash or restart re-delivers what was not
finished, and the pipeline's idempotence makes the re-delivery harmless.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensors.topics import topics_of

log = logging.getLogger("parking.mqtt")
SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 20_000


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    v5: bool = True

    @classmethod
    def from_url(cls, url: str, *, v5: bool = True) -> "MqttTarget":
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            v5=v5,
        )


def make_client(target: MqttTarget, client_id: str | None = None, *, persistent: bool = False, manual_ack: bool = False) -> mqtt.Client:
    """A configured, not yet connected client."""
    client_id = client_id or f"parking-{uuid.uuid4().hex[:8]}"
    if target.v5:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    else:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=not persistent, manual_ack=manual_ack)
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def connect(client: mqtt.Client, target: MqttTarget, *, persistent: bool = False, keepalive: int = 30) -> None:
    """Connect (MQTT 5: clean_start False and a week's session expiry when persistent)."""
    if target.v5:
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        if persistent:
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        client.connect(target.host, target.port, keepalive=keepalive, clean_start=not persistent, properties=props)
    else:
        client.connect(target.host, target.port, keepalive=keepalive)


class MqttIngest:
    """Subscribes to device topics, batches messages, hands each batch over, then acks it."""

    def __init__(
        self,
        handle: Callable[[Sequence[tuple[str, bytes]]], None],
        target: MqttTarget,
        *,
        topic_prefix: str,
        client_id: str,
        shared_group: str | None = None,
        batch_size: int = 500,
        flush_ms: float = 0.0,
    ) -> None:
        self.handle = handle
        self.target = target
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.filters = topics_of(topic_prefix).device_filters(shared_group)
        self.client = make_client(target, client_id, persistent=True, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.processed = 0
        self.failures = 0
        self._holding_since: float | None = None

    # -- paho callbacks (network thread) -------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        self.connected.set()
        client.subscribe([(t, 1) for t in self.filters])
        log.info("MQTT connected to %s:%s (session present: %s)", self.target.host, self.target.port, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        self._queue.put((msg.topic, msg.payload, msg.mid, msg.qos, time.monotonic()))

    # -- batching (worker thread) --------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if not batch:
                continue
            self._holding_since = batch[0][4]
            self._handle_until_done([(t, p) for t, p, _, _, _ in batch])
            for _, _, mid, qos, _ in batch:
                if qos > 0:
                    self.client.ack(mid, qos)
            self._holding_since = None
            self.processed += len(batch)

    def _handle_until_done(self, messages: list[tuple[str, bytes]]) -> None:
        """Hand the batch over until it goes through; never drop it, never ack it unhandled.
        The pipeline retries outages itself and dead-letters bad messages, so landing here
        means a bug outside any one message: keep trying, and the lag on /healthz shows it."""
        delay = 0.5
        while True:
            try:
                self.handle(messages)
                return
            except Exception:
                self.failures += 1
                log.exception("ingest batch of %d failed; trying again in %.1f s (the messages stay unacknowledged)", len(messages), delay)
                if self._stop.wait(delay):
                    raise SystemExit from None  # stopping: the broker re-delivers the batch to the next run
                delay = min(delay * 2, 30.0)

    def lag_s(self) -> float:
        """Age of the oldest message received and not yet acknowledged (0 when idle)."""
        held = self._holding_since
        if held is None:
            return 0.0
        return round(time.monotonic() - held, 3)

    def queued(self) -> int:
        return self._queue.qsize()

    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _take(self) -> list:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.flush_s
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
        return batch

    def start(self, wait_s: float = 10.0) -> "MqttIngest":
        self._worker = threading.Thread(target=self._run_guarded, name="ingest-batches", daemon=True)
        self._worker.start()
        connect(self.client, self.target, persistent=True)
        self.client.loop_start()
        if not self.connected.wait(wait_s):
            log.warning("MQTT broker %s:%s not answering yet; still trying", self.target.host, self.target.port)
        return self

    def _run_guarded(self) -> None:
        try:
            self._run()
        except SystemExit:
            pass
        except Exception:  # a bug in the batching itself: stop acking so nothing is lost, and say so loudly
            log.exception("ingest worker stopped; unacknowledged messages stay with the broker")
            self.client.disconnect()

    def stop(self) -> None:
        self._stop.set()
        if self._worker:
            self._worker.join(10)
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    """Thread-safe QoS 1 publishing on one connection (availability, rejections)."""

    def __init__(self, target: MqttTarget, client_id: str | None = None) -> None:
        self.target = target
        self.client = make_client(target, client_id)
        self.client.loop_start()
        connect(self.client, target)

    def __call__(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
