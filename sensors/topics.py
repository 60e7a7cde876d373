"""Every MQTT topic of the contract and the platform, built and parsed in one place.

Topics hang under a configurable prefix (`PARKING_TOPIC_PREFIX`, default `parking/v1`). Builders
refuse ids that would make another topic (empty, or holding `/`, `+`, `#` or NUL); `parse` never
raises and answers a typed `Topic` or a `TopicRefused` whose reason says what was wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Kind = Literal["berth_state", "passage", "counts", "heartbeat", "availability", "arrears", "rejected", "sign"]
DEVICE_KINDS: frozenset[str] = frozenset({"berth_state", "passage", "counts", "heartbeat"})
UNKNOWN_LOT = "_"
_FORBIDDEN = ("/", "+", "#", "\x00")
# (level after the lot id, last level) → kind, for the five-level `lots/{lot}/{what}/{id}/{last}` shapes
_ITEM_KINDS: dict[tuple[str, str], Kind] = {
    ("berths", "state"): "berth_state",
    ("gates", "passages"): "passage",
    ("devices", "heartbeat"): "heartbeat",
}
_LOT_KINDS: dict[str, Kind] = {"counts": "counts", "availability": "availability", "arrears": "arrears"}


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: what it is about. `item_id` is the berth, gate, device or sign id where there is one."""

    kind: Kind
    lot_id: str | None = None
    item_id: str | None = None

    @property
    def berth_id(self) -> str | None:
        return self.item_id if self.kind == "berth_state" else None

    @property
    def gate_id(self) -> str | None:
        return self.item_id if self.kind == "passage" else None

    @property
    def device_id(self) -> str | None:
        return self.item_id if self.kind == "heartbeat" else None

    @property
    def is_device(self) -> bool:
        """Sent by devices (contract section 2), as opposed to the platform's own outputs."""
        return self.kind in DEVICE_KINDS


@dataclass(frozen=True, slots=True)
class TopicRefused:
    """A topic that is not one of ours; `lot_id` is kept when the topic did name a lot."""

    topic: str
    reason: str
    lot_id: str | None = None


def check_id(value: str, what: str) -> str:
    """An id usable as one topic level, else ValueError naming it."""
    if not isinstance(value, str) or not value or any(c in value for c in _FORBIDDEN):
        raise ValueError(f"{what} {value!r} cannot be a topic level (empty, or holds '/', '+', '#' or NUL)")
    return value


def shared(topic_filter: str, group: str | None) -> str:
    """The `$share/{group}/...` form of a subscription filter (MQTT 5 shared subscription), or the filter as is."""
    return f"$share/{check_id(group, 'shared group')}/{topic_filter}" if group else topic_filter


class Topics:
    """The topic tree under one prefix."""

    __slots__ = ("_lots", "prefix")

    def __init__(self, prefix: str) -> None:
        prefix = prefix.rstrip("/")
        if not prefix or "+" in prefix or "#" in prefix or "\x00" in prefix:
            raise ValueError(f"topic prefix {prefix!r} must be a non-empty MQTT topic without wildcards")
        self.prefix = prefix
        self._lots = prefix + "/lots/"

    def __repr__(self) -> str:
        return f"Topics({self.prefix!r})"

    # -- builders: devices to platform (contract section 2) ----------------------------
    def berth_state(self, lot_id: str, berth_id: str) -> str:
        return f"{self._lot(lot_id)}/berths/{check_id(berth_id, 'berth id')}/state"

    def passages(self, lot_id: str, gate_id: str) -> str:
        return f"{self._lot(lot_id)}/gates/{check_id(gate_id, 'gate id')}/passages"

    def counts(self, lot_id: str) -> str:
        return f"{self._lot(lot_id)}/counts"

    def heartbeat(self, lot_id: str, device_id: str) -> str:
        return f"{self._lot(lot_id)}/devices/{check_id(device_id, 'device id')}/heartbeat"

    # -- builders: platform to subscribers (contract section 3 and the platform's own) ----
    def availability(self, lot_id: str) -> str:
        """Retained: the lot's free count and status."""
        return f"{self._lot(lot_id)}/availability"

    def arrears(self, lot_id: str) -> str:
        """Told to the lot's gate when a plate with unpaid orders enters."""
        return f"{self._lot(lot_id)}/arrears"

    def rejected(self, lot_id: str | None) -> str:
        """Dead letters and rejections; `_` when the lot is not known."""
        return f"{self.prefix}/rejected/{check_id(lot_id, 'lot id') if lot_id else UNKNOWN_LOT}"

    def sign(self, sign_id: str) -> str:
        """Retained: what a guidance sign shows."""
        return f"{self.prefix}/signs/{check_id(sign_id, 'sign id')}"

    # -- subscription filters -----------------------------------------------------------
    def device_filters(self, shared_group: str | None = None) -> list[str]:
        """Every device topic shape, and the malformed four- and five-level ones so they are rejected, not lost;
        the platform's own outputs (availability, arrears) stay out."""
        shapes = [f"{self._lots}+/counts", f"{self._lots}+/+/+", f"{self._lots}+/+/+/+"]
        return [shared(t, shared_group) for t in shapes]

    def availability_filter(self, shared_group: str | None = None) -> str:
        return shared(f"{self._lots}+/availability", shared_group)

    def arrears_filter(self, shared_group: str | None = None) -> str:
        return shared(f"{self._lots}+/arrears", shared_group)

    def device_filters_of(self, lot_id: str) -> list[str]:
        """What a device of this car park may publish (broker ACL patterns): the contract's device topics of its lot."""
        lot = self._lot(lot_id)
        return [f"{lot}/berths/+/state", f"{lot}/gates/+/passages", f"{lot}/counts", f"{lot}/devices/+/heartbeat"]

    def replies_of(self, lot_id: str) -> list[str]:
        """What a device of this car park may read: its lot's arrears (at the gate) and availability (a display)."""
        return [self.arrears(lot_id), self.availability(lot_id)]

    def rejected_filter(self) -> str:
        return f"{self.prefix}/rejected/+"

    def signs_filter(self) -> str:
        return f"{self.prefix}/signs/+"

    # -- parsing --------------------------------------------------------------------------
    def parse(self, topic: str) -> Topic | TopicRefused:
        """What a topic is about, or why it is not one of ours. Never raises."""
        if not isinstance(topic, str):
            return TopicRefused(repr(topic), "topic is not text")
        if topic.startswith(self._lots):
            return self._parse_lot(topic, topic[len(self._lots):].split("/"))
        head = self.prefix + "/"
        if topic.startswith(head):
            levels = topic[len(head):].split("/")
            if len(levels) == 2 and levels[1] and not _bad(levels[1]):
                if levels[0] == "rejected":
                    return Topic("rejected", None if levels[1] == UNKNOWN_LOT else levels[1])
                if levels[0] == "signs":
                    return Topic("sign", None, levels[1])
        return TopicRefused(topic, f"topic {topic!r} is not under {self._lots}{{lot_id}}/")

    def parse_availability(self, topic: str) -> str | TopicRefused:
        """The lot id of an availability topic (the retained one subscribers follow)."""
        got = self.parse(topic)
        if isinstance(got, Topic) and got.kind == "availability":
            return got.lot_id
        if isinstance(got, Topic):
            return TopicRefused(topic, f"topic {topic!r} is a {got.kind} topic, not availability", got.lot_id)
        return got

    def lot_of(self, topic: str) -> str | None:
        """The lot a topic names, whatever else is wrong with it (used to file rejections under their lot)."""
        if not isinstance(topic, str) or not topic.startswith(self._lots):
            return None
        lot_id = topic[len(self._lots):].split("/", 1)[0]
        return lot_id if lot_id and not _bad(lot_id) else None

    def _parse_lot(self, topic: str, levels: list[str]) -> Topic | TopicRefused:
        lot_id = levels[0]
        if not lot_id or _bad(lot_id):
            return TopicRefused(topic, f"topic {topic!r} is not under {self._lots}{{lot_id}}/")
        if len(levels) == 2:
            kind = _LOT_KINDS.get(levels[1])
            if kind:
                return Topic(kind, lot_id)
        elif len(levels) == 4:
            kind = _ITEM_KINDS.get((levels[1], levels[3]))
            if kind and levels[2] and not _bad(levels[2]):
                return Topic(kind, lot_id, levels[2])
        return TopicRefused(topic, f"topic {topic!r} is not a device topic of contract v1", lot_id)

    def _lot(self, lot_id: str) -> str:
        return self._lots + check_id(lot_id, "lot id")


@lru_cache(maxsize=16)
def _cached(prefix: str) -> Topics:
    return Topics(prefix)


def topics_of(prefix: str | Topics) -> Topics:
    """A prefix as given by settings, or Topics already built."""
    return prefix if isinstance(prefix, Topics) else _cached(prefix)


def _bad(level: str) -> bool:
    return "+" in level or "#" in level or "\x00" in level
