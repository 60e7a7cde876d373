"""One message a handler cannot take must not stop the city: it is isolated, dead-lettered with
an error id, and every other message of its batch is applied exactly once (both backends)."""
from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import func, select

from billing.models import Order
from parking_core.domain_events import VehicleEntered, VehicleExited
from parking_core.messagebus import HandlerMap, MessageBus, merge
from parking_core.models import OccupancyEvent
from parking_core.session_models import ParkingSession
from tests.factories import berth_msg, passage_msg

PREFIX = "parking/v1"
POISON_PLATE = "苏E66666"


def logged(platform) -> int:
    with platform.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(OccupancyEvent))


def rejected(platform) -> list[tuple[str, dict]]:
    return [(t, orjson.loads(p)) for t, p, r in platform.published if "/rejected/" in t]


def planted_bug(uow, entered: VehicleEntered) -> None:
    """A handler with a bug that only one car's entry triggers."""
    if entered.plate == POISON_PLATE:
        raise KeyError("planted bug")


PLANTED = HandlerMap(inside={VehicleEntered: [planted_bug]})


def planted(p, extra: HandlerMap = PLANTED):
    """The platform with a test's handlers after its own, as `Platform(more_handlers=...)` would run them."""
    p.bus = MessageBus(merge(p.handlers(), extra))
    return p


def _mixed_batch(now, n: int, poison_at: int) -> list[tuple[str, bytes]]:
    msgs = []
    for i in range(n):
        at = now - timedelta(seconds=n - i)
        if i == poison_at:
            msgs.append(passage_msg("G1", "g1", "poison", "in", POISON_PLATE, at))
        elif i % 3 == 0:
            msgs.append(passage_msg("G1", "g1", f"e{i}", "in" if i % 2 else "out", f"苏E{i:05d}", at))
        else:
            msgs.append(berth_msg("S1", f"b{i % 4 + 1}", i % 2 == 0, i, at))
    return msgs


def test_a_planted_handler_bug_dead_letters_one_message_and_applies_the_rest(make_platform):
    p = planted(make_platform())
    batch = _mixed_batch(p.clock(), 1500, poison_at=777)

    for start in range(0, len(batch), 500):  # the ingest's batches
        p.pipeline.process(batch[start:start + 500])  # never raises

    assert logged(p) == 1499  # every other message is in the event log, once
    dead = rejected(p)
    assert len(dead) == 1
    topic, body = dead[0]
    assert topic == f"{PREFIX}/rejected/G1"
    assert body["reason"].startswith("internal error: KeyError (error id ")
    assert body["error_id"] in body["reason"] and body["payload"]["plate"] == POISON_PLATE
    stats = p.pipeline.stats.as_dict()
    assert stats["received"] == 1500 and stats["rejected"] == 1
    assert p.pipeline.stats.reasons["internal error"] == 1
    # the berths' final states are those of their last messages
    berths = {b.id: b.status for b in p.live.berths("S1")}
    last = max(i for i in range(1500) if i % 3 and i % 4 == 3)
    assert berths["b4"] == ("occupied" if last % 2 == 0 else "free")


def test_the_same_poison_sent_again_is_rejected_again_never_retried_forever(make_platform):
    p = planted(make_platform())
    poison = passage_msg("G1", "g1", "poison", "in", POISON_PLATE, p.clock())
    for _ in range(3):
        p.pipeline.process([poison, berth_msg("S1", "b1", True, 1, p.clock())])
    assert len(rejected(p)) == 3
    assert logged(p) == 1  # the berth report, once, though it came three times
    assert p.pipeline.stats.as_dict()["duplicates"] == 2


def test_availability_is_published_even_when_its_batch_had_to_be_split(make_platform):
    """The first run of a failing batch applies live state and then fails; the change it made
    must still reach the retained topic after the split."""
    p = planted(make_platform())
    now = p.clock()
    p.pipeline.process([passage_msg("G1", "g1", "a", "in", "苏E00001", now), passage_msg("G1", "g1", "poison", "in", POISON_PLATE, now)])
    retained = [orjson.loads(pl) for t, pl, r in p.published if t == f"{PREFIX}/lots/G1/availability" and r]
    assert retained and retained[-1]["free"] == p.live.lot("G1").free


def test_an_occupied_camera_report_without_a_plate_updates_availability_and_opens_no_stay(make_platform):
    """The contract makes `plate` optional: a video berth that read no plate is still a car."""
    p = make_platform()
    now = p.clock()
    p.pipeline.process([
        berth_msg("S1", "b1", True, 1, now - timedelta(minutes=3), plate="苏E12345"),
        berth_msg("S1", "b1", True, 2, now - timedelta(minutes=2)),  # the same car, plate unread
        berth_msg("S1", "b2", True, 1, now - timedelta(minutes=1)),  # a car, no plate, no stay before
    ])
    assert rejected(p) == []
    assert {b.id: b.status for b in p.live.berths("S1")}["b2"] == "occupied"
    with p.uow() as uow:
        stays = uow.session.scalars(select(ParkingSession).where(ParkingSession.lot_id == "S1")).all()
        assert [(s.berth_id, s.plate, s.status) for s in stays] == [("b1", "苏E12345", "open")]
    p.pipeline.process([berth_msg("S1", "b1", False, 3, now)])
    with p.uow() as uow:
        assert uow.session.scalar(select(ParkingSession.status).where(ParkingSession.berth_id == "b1")) == "closed"


def test_a_bug_deep_in_the_stay_chain_on_one_exit_leaves_the_other_exits_billed(make_platform):
    """The poison may sit deep in the chain (a stay closing, its order): the other cars still
    leave with their orders, the one car's exit is dead-lettered and nothing of it is half-written."""
    cars = ["苏E10000", "苏E10001", "苏E10002"]

    def bug_on_closing(uow, exited: VehicleExited) -> None:
        if exited.plate == cars[1]:
            raise ZeroDivisionError("planted bug")

    p = planted(make_platform(), HandlerMap(inside={VehicleExited: [bug_on_closing]}))
    now = p.clock()
    p.pipeline.process([passage_msg("G1", "g1", f"in{i}", "in", c, now - timedelta(hours=2)) for i, c in enumerate(cars)])
    p.pipeline.process([passage_msg("G1", "g1", f"out{i}", "out", c, now - timedelta(minutes=5)) for i, c in enumerate(cars)])
    assert [b["reason"].split(" (")[0] for _, b in rejected(p)] == ["internal error: ZeroDivisionError"]
    with p.uow() as uow:
        billed = set(uow.session.scalars(select(Order.plate)))
        still_inside = set(uow.session.scalars(select(ParkingSession.plate).where(ParkingSession.status == "open")))
    assert billed == {cars[0], cars[2]}
    assert still_inside == {cars[1]}
