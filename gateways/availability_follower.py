"""How a process hears the changes other ingest workers make: the broker says which lot changed, the
shared live state says what it is now.

Two ingest workers publish one lot's changes in either order, two readings of a lot may carry the
same time (a passage older than the lot's last change moves the count, not the time), and this
process's own ingest may finish its commit after another worker's newer change was heard: no
message can be trusted to be the newest, but a read of Redis after the last change always is. So
every change, heard or made here, only marks its lot; one thread reads the marked lots, all in one
round trip (in a drain, hundreds of changes a second become a few reads), and passes on each lot
that is not as it last passed it on.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence

from parking_core.availability import Availability
from sensors.mqtt import MqttTarget, connect, make_client
from sensors.topics import Topics

log = logging.getLogger("parking.follower")

Read = Callable[[Sequence[str]], Iterable[tuple[str, Availability]]]


class AvailabilityFollower:
    def __init__(self, *, target: MqttTarget, topics: Topics, known: Callable[[str], bool], read: Read,
                 pass_on: Callable[[str, Availability], None]) -> None:
        self.topics, self.known, self.read, self.pass_on = topics, known, read, pass_on
        self._marked: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._passed: dict[str, tuple] = {}  # per lot, what was last passed on
        self._thread = threading.Thread(target=self._run, name="availability-follower", daemon=True)
        self.client = make_client(target)
        self.client.on_message = self._heard
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.availability_filter(), qos=1)
        self._target = target

    def start(self) -> AvailabilityFollower:
        self._thread.start()
        connect(self.client, self._target)
        self.client.loop_start()
        return self

    def mark(self, lot_id: str) -> None:
        """This lot changed: it is read and passed on soon, by the follower's thread."""
        with self._lock:
            self._marked.add(lot_id)
        self._wake.set()

    def _heard(self, client, userdata, msg) -> None:  # noqa: ANN001
        lot_id = self.topics.parse_availability(msg.topic)
        if not isinstance(lot_id, str):
            log.warning("ignoring availability on a topic not ours: %s", lot_id.reason)
        elif self.known(lot_id):  # one this process has not loaded yet: commissioning reloads the directory
            self.mark(lot_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.5):
                continue
            self._wake.clear()
            with self._lock:
                lots, self._marked = self._marked, set()
            try:
                read = list(self.read(sorted(lots)))
            except Exception:  # Redis away: mark them again, try after a pause
                log.warning("could not read %d changed lots; trying again", len(lots), exc_info=True)
                with self._lock:
                    self._marked |= lots
                self._stop.wait(1.0)
                self._wake.set()
                continue
            for lot_id, a in read:
                key = (a.free, a.total, a.status, a.updated_at)
                if self._passed.get(lot_id) != key:
                    self._passed[lot_id] = key
                    self.pass_on(lot_id, a)  # the bus's after-commit handlers: each failure is logged there

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.client.disconnect()
        self.client.loop_stop()
        self._thread.join(5)
