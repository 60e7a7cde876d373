"""Device traffic for a simulated city (contract section 2), cheap enough to drive load tests.

Time is simulated: `advance(dt)` emits what the city's devices send in the next `dt`
seconds. Berth sensors turn over towards a target occupancy that follows the day
(commercial, residential, office, hospital and scenic rhythms), heartbeat round-robin,
gate cameras report passages of plates that later leave, counting car parks report
totals. Devices misbehave as real ones do: flapping, duplicates, late delivery and, when
asked, malformed messages for the dead-letter topic.
"""
from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

import orjson

from sensors.simulator.plates import PlateMaker
from sensors.topics import Topics

Publish = Callable[[str, bytes], None]
OFFSET_S = 8 * 3600  # devices stamp Beijing time, +08:00
EPOCH_2020 = 1577836800
# Target occupancy per hour of the day (0..23), by what the car park serves.
RHYTHM = {
    "commercial": (0.20, 0.12, 0.08, 0.06, 0.06, 0.06, 0.10, 0.20, 0.40, 0.65, 0.82, 0.88, 0.85, 0.78, 0.80, 0.82, 0.80, 0.82, 0.88, 0.92, 0.88, 0.70, 0.50, 0.32),
    "residential": (0.92, 0.93, 0.93, 0.93, 0.93, 0.92, 0.88, 0.72, 0.55, 0.48, 0.45, 0.45, 0.48, 0.47, 0.46, 0.48, 0.52, 0.62, 0.76, 0.85, 0.89, 0.91, 0.92, 0.92),
    "office": (0.05, 0.04, 0.04, 0.04, 0.04, 0.05, 0.08, 0.30, 0.75, 0.92, 0.94, 0.93, 0.85, 0.90, 0.93, 0.92, 0.88, 0.70, 0.35, 0.18, 0.12, 0.08, 0.06, 0.05),
    "hospital": (0.30, 0.28, 0.26, 0.26, 0.26, 0.30, 0.45, 0.75, 0.95, 0.97, 0.97, 0.92, 0.80, 0.85, 0.90, 0.88, 0.80, 0.65, 0.50, 0.45, 0.40, 0.36, 0.33, 0.31),
    "scenic": (0.04, 0.03, 0.03, 0.03, 0.03, 0.04, 0.06, 0.12, 0.35, 0.62, 0.80, 0.85, 0.86, 0.88, 0.88, 0.82, 0.70, 0.50, 0.35, 0.30, 0.25, 0.15, 0.08, 0.05),
}
USAGES = tuple(RHYTHM)
CHANGE_PER_BERTH_S = 1 / 2400  # a sensor berth changes about 1.5 times an hour
PASSAGE_PER_SPACE_S = 4 / 86400  # a gated space sees two cars (in and out) a day
MAX_SILENCE_S = 600.0  # thinned heartbeats still come this often, inside the platform's 900 s default
MIN_ACTIVITY = 0.1  # below this share of natural changes, thin everything alike


def target_occupancy(usage: str, at_epoch: float) -> float:
    """The share of spaces taken at this Beijing wall-clock moment, interpolated hour to hour."""
    curve = RHYTHM.get(usage, RHYTHM["commercial"])
    h = ((at_epoch + OFFSET_S) % 86400) / 3600
    i = int(h)
    return curve[i] + (curve[(i + 1) % 24] - curve[i]) * (h - i)


class _Stamp:
    """RFC 3339 with the +08:00 offset; the seconds part is cached because it repeats."""

    def __init__(self) -> None:
        self._sec = -1
        self._head = ""

    def __call__(self, t: float) -> str:
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            self._head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec + OFFSET_S))
        return f"{self._head}.{int((t - sec) * 1000):03d}+08:00"


class _GatedLot:
    __slots__ = ("id", "usage", "total", "gates", "passage_topics", "inside", "n")

    def __init__(self, lot_id: str, usage: int, total: int, gates: list[str], topics: Topics) -> None:
        self.id, self.usage, self.total, self.gates = lot_id, usage, total, gates
        self.passage_topics = [topics.passages(lot_id, g) for g in gates]
        self.inside: list[tuple[str, str]] = []
        self.n = 0


class _CountingLot:
    __slots__ = ("id", "usage", "total", "occupied", "topic")

    def __init__(self, lot_id: str, usage: int, total: int, occupied: int, topics: Topics) -> None:
        self.id, self.usage, self.total, self.occupied = lot_id, usage, total, occupied
        self.topic = topics.counts(lot_id)


class Simulator:
    """Publishes a city's device messages; every valid one is accepted by the platform's parser.

    `counts` tells what went out: state, heartbeat, passage, counts and bad messages, plus
    duplicate (extra copies); these add up to `published`. `late` (held back, delivered
    later), `flaps` (occupied-free-occupied bursts), `misreads` (an exit plate read one
    character off) and `unread_plates` (a berth camera that read no plate) are shares of the above.
    """

    def __init__(
        self,
        city: dict,
        publish: Publish,
        *,
        prefix: str = "parking/v1",
        seed: int = 1,
        clock: Callable[[], datetime] | None = None,
        bad_fraction: float = 0.0,
        dup_rate: float = 0.01,
        flap_rate: float = 0.03,
        late_rate: float = 0.005,
        misread_rate: float = 0.01,
        unread_plate_rate: float = 0.05,
        prefill: bool = False,
        heartbeat_s: float = 300.0,
        gate_heartbeat_s: float = 30.0,
        counts_s: float = 60.0,
        video_share: float = 0.2,
    ) -> None:
        self.publish = publish
        self.topics = Topics(prefix.strip("/"))
        self.rng = rng = random.Random(seed)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.t = self.clock().timestamp()
        self.heartbeat_s = heartbeat_s
        self.bad_fraction, self.dup_rate, self.flap_rate, self.late_rate = bad_fraction, dup_rate, flap_rate, late_rate
        self.misread_rate, self.unread_plate_rate = misread_rate, unread_plate_rate
        self.plates = PlateMaker(rng)
        self.stamp = _Stamp()
        self.counts: Counter = Counter()
        # counters that keep rising across restarts, as a device's would: seconds since 2020 at start
        self.run_tag = format(int(self.t), "x")
        seq0 = int(self.t) - EPOCH_2020
        self._late: list[tuple[int, int, str, bytes]] = []
        self._published = 0
        self._build(city, seq0, video_share)
        n_b, n_dev = len(self.b_topic), len(self.dev_topic)
        self.natural = {
            "state": n_b * CHANGE_PER_BERTH_S,
            "berth_heartbeat": n_b / heartbeat_s,
            "gate_heartbeat": n_dev / gate_heartbeat_s,
            "passage": sum(lot.total for lot in self.gated) * PASSAGE_PER_SPACE_S,
            "counts": len(self.counting) / counts_s,
        }
        self.scale = dict.fromkeys(self.natural, 1.0)
        self._carry = dict.fromkeys(self.natural, 0.0)
        self._b_cursor = rng.randrange(n_b) if n_b else 0
        self._d_cursor = rng.randrange(n_dev) if n_dev else 0
        if prefill:
            self.prefill()

    def prefill(self) -> int:
        """The morning already happened: fill each gated car park to its target occupancy with
        entries stamped over the past hour (published now), so exits start at once. How many."""
        probs = [target_occupancy(u, self.t) for u in USAGES]
        n = 0
        for lot in self.gated:
            for _ in range(int(probs[lot.usage] * lot.total) - len(lot.inside)):
                self._passage_of(lot, True, self.t - 3600 * self.rng.random())
                n += 1
        return n

    # -- the city as arrays: messages are generated from these, not from objects --------------
    def _build(self, city: dict, seq0: int, video_share: float) -> None:
        rng, t = self.rng, self.topics
        self.b_lot: list[str] = []
        self.b_usage: list[int] = []
        self.b_topic: list[str] = []
        self.b_hb_topic: list[str] = []
        self.b_video: list[bool] = []
        self.b_battery: list[int] = []
        self.b_rssi: list[int] = []
        self.gated: list[_GatedLot] = []
        self.counting: list[_CountingLot] = []
        self.dev_topic: list[str] = []
        for f in city["features"]:
            props = f["properties"]
            lot_id, total = props["id"], props["total"]
            usage = USAGES.index(props.get("usage")) if props.get("usage") in USAGES else rng.randrange(len(USAGES))
            berths = props.get("berths") or ()
            if berths:
                video = rng.random() < video_share
                for b in berths:
                    self.b_lot.append(lot_id)
                    self.b_usage.append(usage)
                    self.b_topic.append(t.berth_state(lot_id, b))
                    self.b_hb_topic.append(t.heartbeat(lot_id, b))
                    self.b_video.append(video)
                    self.b_battery.append(rng.randint(3000, 3650))
                    self.b_rssi.append(rng.randint(-115, -60))
            elif props.get("reports") == "counts":
                occupied = int(total * target_occupancy(USAGES[usage], self.t))
                self.counting.append(_CountingLot(lot_id, usage, total, occupied, t))
                self.dev_topic.append(t.heartbeat(lot_id, "counter"))
            else:
                gates = [f"G{k}" for k in range(1, 2 + min(3, total // 300) + 1)]
                self.gated.append(_GatedLot(lot_id, usage, total, gates, t))
                self.dev_topic.extend(t.heartbeat(lot_id, g) for g in gates)
        n = len(self.b_topic)
        self.b_seq = [seq0] * n
        self.b_occ = bytearray(rng.random() < target_occupancy(USAGES[u], self.t) for u in self.b_usage)
        self.b_reported = bytearray(n)
        cum, acc = [], 0
        for lot in self.gated:
            acc += lot.total
            cum.append(acc)
        self._gated_cum = cum

    # -- pacing ----------------------------------------------------------------------------
    @property
    def natural_rate(self) -> float:
        """Messages per simulated second at the natural rates (no scaling)."""
        return sum(self.natural.values())

    def tune(self, per_sim_second: float) -> None:
        """Scale the traffic to about this many messages per simulated second.

        Above the natural rate every kind speeds up alike (a busier city). Below it the
        heartbeats thin out first, but not below one per `MAX_SILENCE_S` per device (the
        platform would mark quiet berths unknown), then changes and passages thin out too.
        """
        nat = self.natural_rate
        if nat <= 0:
            return
        if per_sim_second >= nat:
            self.scale = dict.fromkeys(self.natural, per_sim_second / nat)
            return
        beats = self.natural["berth_heartbeat"] + self.natural["gate_heartbeat"]
        rest = nat - beats
        floor = min(1.0, self.heartbeat_s / MAX_SILENCE_S)
        if per_sim_second >= rest + beats * floor:
            hb, other = (per_sim_second - rest) / beats, 1.0
        elif per_sim_second >= beats * floor + rest * MIN_ACTIVITY:
            hb, other = floor, (per_sim_second - beats * floor) / rest
        else:
            f = per_sim_second / (beats * floor + rest * MIN_ACTIVITY)
            hb, other = floor * f, MIN_ACTIVITY * f
        self.scale = {name: (hb if name.endswith("heartbeat") else other) for name in self.natural}

    def rate(self) -> float:
        """Messages per simulated second with the current scaling."""
        return sum(v * self.scale[k] for k, v in self.natural.items())

    # -- generation ------------------------------------------------------------------------
    def tick(self, limit: int | None = None) -> int:
        """Emit what was due between the last call and the clock's now."""
        return self.advance(self.clock().timestamp() - self.t, limit=limit)

    def emit(self, n: int) -> int:
        """Emit about `n` messages (simulated time moves on as needed), late ones included."""
        start = self._published
        while self._published - start < n:
            left = n - (self._published - start)
            self.advance(max(0.05, left / max(self.rate(), 1.0)), limit=left)
        self.flush()
        return self._published - start

    def advance(self, dt: float, *, limit: int | None = None) -> int:
        """Emit the messages of the next `dt` simulated seconds (at most `limit`); the count."""
        if dt <= 0:
            return 0
        rng = self.rng
        plan: list[int] = []
        order = ("state", "berth_heartbeat", "gate_heartbeat", "passage", "counts")
        for code, name in enumerate(order):
            due = self._carry[name] + self.natural[name] * self.scale[name] * dt
            n = int(due)
            self._carry[name] = due - n
            plan.extend([code] * n)
        rng.shuffle(plan)
        if limit is not None:
            plan = plan[:limit]
        t0, n_plan = self.t, len(plan) or 1
        probs = [target_occupancy(u, t0) for u in USAGES]
        start = self._published
        emitters = (self._state, self._berth_heartbeat, self._gate_heartbeat, self._passage, self._counts)
        bad, pub = self.bad_fraction, self._out
        for i, code in enumerate(plan):
            ts = t0 + dt * (i + 1) / n_plan
            if bad and rng.random() < bad:
                pub(*self._bad(ts), "bad")
            else:
                emitters[code](ts, probs)
        self.t = t0 + dt
        return self._published - start

    def _out(self, topic: str, payload: bytes, kind: str) -> None:
        """Publish, now or (rarely) late, and sometimes twice."""
        rng = self.rng
        self.counts[kind] += 1
        if self._late and self._late[0][0] <= self._published:
            _, _, t, p = heapq.heappop(self._late)
            self.publish(t, p)
            self._published += 1
        if kind != "bad" and self.late_rate and rng.random() < self.late_rate:
            self.counts["late"] += 1
            heapq.heappush(self._late, (self._published + rng.randint(20, 2000), self._published, topic, payload))
            return
        self.publish(topic, payload)
        self._published += 1
        if kind != "bad" and self.dup_rate and rng.random() < self.dup_rate:
            self.counts["duplicate"] += 1
            self.publish(topic, payload)
            self._published += 1

    def flush(self) -> int:
        """Deliver every message still held back as late; how many."""
        n = len(self._late)
        while self._late:
            _, _, t, p = heapq.heappop(self._late)
            self.publish(t, p)
            self._published += 1
        return n

    @property
    def published(self) -> int:
        return self._published

    def _state_payload(self, i: int, occupied: bool, ts: float, plate: str | None) -> bytes:
        self.b_seq[i] += 1
        seq = self.b_seq[i]
        msg = {"occupied": occupied, "seq": seq, "ts": self.stamp(ts), "battery_mv": self.b_battery[i], "rssi": self.b_rssi[i] + (seq & 3)}
        if plate is not None:
            msg["plate"] = plate
        return orjson.dumps(msg)

    def _state(self, ts: float, probs: list[float]) -> None:
        """A berth turns over: occupied frees with 1-p, free fills with p (so occupancy tends to p)."""
        rng, n = self.rng, len(self.b_topic)
        if not n:
            return self._gate_heartbeat(ts, probs)
        for _ in range(4):
            i = int(rng.random() * n)
            p = probs[self.b_usage[i]]
            occ = self.b_occ[i]
            if rng.random() < (1 - p if occ else p):
                break
        else:
            occ = 1 - self.b_occ[i]  # a periodic report of the unchanged state
        new = not occ
        self.b_occ[i] = new
        self.b_reported[i] = 1
        plate = self.plates.make()[0] if new and self.b_video[i] else None
        if plate is not None and self.unread_plate_rate and rng.random() < self.unread_plate_rate:
            self.counts["unread_plates"] += 1  # the camera saw a car but read no plate: valid, plate is optional
            plate = None
        topic = self.b_topic[i]
        if new and self.flap_rate and rng.random() < self.flap_rate:
            # a car manoeuvring in: occupied, free, occupied within seconds
            self.counts["flaps"] += 1
            self._out(topic, self._state_payload(i, True, ts, plate), "state")
            self._out(topic, self._state_payload(i, False, ts + 1.5, None), "state")
            self._out(topic, self._state_payload(i, True, ts + 4.0, plate), "state")
            return None
        self._out(topic, self._state_payload(i, bool(new), ts, plate), "state")
        return None

    def _berth_heartbeat(self, ts: float, probs: list[float]) -> None:
        n = len(self.b_topic)
        if not n:
            return self._gate_heartbeat(ts, probs)
        i = self._b_cursor = (self._b_cursor + 1) % n
        if not self.b_reported[i]:  # a sensor's first word is its state
            self.b_reported[i] = 1
            self._out(self.b_topic[i], self._state_payload(i, bool(self.b_occ[i]), ts, None), "state")
            return None
        self._out(self.b_hb_topic[i], orjson.dumps({"ts": self.stamp(ts), "battery_mv": self.b_battery[i]}), "heartbeat")
        return None

    def _gate_heartbeat(self, ts: float, probs: list[float]) -> None:
        n = len(self.dev_topic)
        if not n:
            return None
        i = self._d_cursor = (self._d_cursor + 1) % n
        self._out(self.dev_topic[i], orjson.dumps({"ts": self.stamp(ts)}), "heartbeat")
        return None

    def _passage(self, ts: float, probs: list[float]) -> None:
        """A car in or out; the fuller the car park against its target, the likelier out."""
        if not self.gated:
            return self._gate_heartbeat(ts, probs)
        rng = self.rng
        lot = self.gated[_bisect(self._gated_cum, rng.random() * self._gated_cum[-1])]
        inside, total = len(lot.inside), lot.total
        gap = probs[lot.usage] * total - inside
        if inside == 0:
            going_in = True
        elif inside >= total:
            going_in = False
        else:
            going_in = rng.random() < 0.5 + 0.5 * math.tanh(gap / (0.05 * total + 2))
        self._passage_of(lot, going_in, ts)
        return None

    def _passage_of(self, lot: _GatedLot, going_in: bool, ts: float) -> None:
        rng, inside = self.rng, len(lot.inside)
        if going_in:
            plate, color = self.plates.make()
            lot.inside.append((plate, color))
        else:
            k = int(rng.random() * inside)
            lot.inside[k], lot.inside[-1] = lot.inside[-1], lot.inside[k]
            plate, color = lot.inside.pop()
            if self.misread_rate and rng.random() < self.misread_rate:
                self.counts["misreads"] += 1  # the exit camera reads one character wrong
                plate = _misread(plate, rng)
        lot.n += 1
        g = lot.n % len(lot.gates)
        msg = {
            "event_id": f"{lot.gates[g]}-{self.run_tag}-{lot.n}", "direction": "in" if going_in else "out",
            "plate": plate, "plate_color": color, "confidence": round(0.8 + 0.2 * rng.random(), 3), "ts": self.stamp(ts),
        }
        self._out(lot.passage_topics[g], orjson.dumps(msg), "passage")

    def _counts(self, ts: float, probs: list[float]) -> None:
        if not self.counting:
            return self._gate_heartbeat(ts, probs)
        lot = self.counting[int(self.rng.random() * len(self.counting))]
        target = probs[lot.usage] * lot.total
        step = (target - lot.occupied) * 0.3 + self.rng.gauss(0, 0.02 * lot.total + 1)
        lot.occupied = max(0, min(lot.total, int(round(lot.occupied + step))))
        msg = {"free": lot.total - lot.occupied, "total": lot.total, "ts": self.stamp(ts)}
        self._out(lot.topic, orjson.dumps(msg), "counts")
        return None

    # -- malformed traffic for the dead-letter topic -------------------------------------------
    def _bad(self, ts: float) -> tuple[str, bytes]:
        """One message the platform must reject: each kind of mistake devices really make."""
        rng, t = self.rng, self.topics
        stamp = self.stamp(ts)
        i = int(rng.random() * len(self.b_topic)) if self.b_topic else None
        berth_topic = self.b_topic[i] if i is not None else t.berth_state("nowhere", "B001")
        which = rng.randrange(9)
        if which == 0:
            return berth_topic, orjson.dumps({"occupied": True, "ts": stamp})  # no seq
        if which == 1:
            return berth_topic, orjson.dumps({"occupied": "yes", "seq": 1, "ts": stamp})
        if which == 2:
            return berth_topic, orjson.dumps({"occupied": False, "seq": "12", "ts": stamp})
        if which == 3:
            return berth_topic, orjson.dumps({"occupied": True, "seq": 1, "ts": stamp[:-6]})  # no offset
        if which == 4:
            return berth_topic, b'{"occupied": true, "seq": 1, "ts": "' + stamp.encode() + b'"'  # cut short
        if which == 5 and i is not None:
            return t.berth_state(self.b_lot[i], f"X{rng.randrange(10**6)}"), orjson.dumps({"occupied": True, "seq": 1, "ts": stamp})
        if which == 6:
            return t.counts(f"ghost-{rng.randrange(1000)}"), orjson.dumps({"free": 1, "total": 2, "ts": stamp})
        if which == 7 and self.gated:
            lot = self.gated[int(rng.random() * len(self.gated))]
            return lot.passage_topics[0], orjson.dumps({"event_id": "x", "direction": "sideways", "plate": "苏E12345", "ts": stamp})
        if which == 8 and self.counting:
            lot = self.counting[int(rng.random() * len(self.counting))]
            return lot.topic, orjson.dumps({"free": lot.total + 5, "total": lot.total, "ts": stamp})
        return berth_topic, b"\xff\xfe not json"


LOOKALIKE = {"0": "D", "D": "0", "8": "B", "B": "8", "1": "7", "7": "1", "5": "S", "S": "5", "2": "Z", "Z": "2"}


def _misread(plate: str, rng: random.Random) -> str:
    """One character after the province read as its look-alike (or as another digit)."""
    k = 1 + int(rng.random() * (len(plate) - 1))
    ch = plate[k]
    return plate[:k] + LOOKALIKE.get(ch, "0" if ch != "0" else "8") + plate[k + 1:]


def _bisect(cum: list[int], x: float) -> int:
    return min(len(cum) - 1, bisect_right(cum, x))
