"""Guidance: which car parks near a destination to drive to, ranked by a score a driver can check.

score (0..100) = 40 * space + 35 * walk + 15 * price + 10 * fresh, each part 0..1:
- space = min(free at arrival, 5) / 5, times (0.5 + 0.5 * forecast confidence), halved when the data is stale;
- walk  = 1 - distance / max_walk_m (straight line from the car park to the destination);
- price = 1 for the cheapest stay among the options, 0 for the dearest, linear between; 0.5 when unknown;
- fresh = 1, or 0 when the lot's data is older than the heartbeat timeout or its status is unknown.
Lots open only at shared hours are left out unless open at arrival. Lots without fresh data (stale)
never rank above a fresh lot with space (now or expected at arrival), and each says why it is
shown at all. Ties go to the nearer lot.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from parking_core.availability import Availability, AvailabilityRules, read_lots_now
from parking_core.directory import Directory
from parking_core.forecast import Forecaster, Prediction, forecast_lot
from parking_core.live.base import LiveLot, LiveState
from parking_core.lots import LotInfo

WEIGHTS = {"space": 40.0, "walk": 35.0, "price": 15.0, "fresh": 10.0}
ENOUGH_SPACES = 5  # this many expected free spaces make arriving to a full car park unlikely
LOW_CONFIDENCE = 0.4
MAX_CANDIDATES = 60  # the nearest this many open lots within the walk are forecast and ranked

StayPrice = Callable[[str, datetime, datetime, str, bool], "int | None"]
"""(tariff id, entered at, exited at, vehicle `small`|`large`, new energy) -> fen, None when that tariff is not
loaded: billing's pricing, passed in by the composition root (the domain does not price)."""


@dataclass(frozen=True)
class Trip:
    lat: float
    lon: float
    arrive_at: datetime
    stay: timedelta
    vehicle: str  # small | large | nev (a small new-energy vehicle)
    max_walk_m: float


@dataclass(frozen=True)
class Candidate:
    """One car park with everything its rank depends on."""

    info: LotInfo
    distance_m: float
    now: Availability
    stale: bool
    age_s: float | None  # since the lot's devices last spoke; None if never
    at_arrival: Prediction
    price_fen: int | None


@dataclass(frozen=True)
class Option:
    candidate: Candidate
    score: float
    parts: dict[str, float]
    reasons: tuple[str, ...]


def is_stale(a: Availability, live: LiveLot | None, now: datetime, heartbeat_timeout_s: float) -> tuple[bool, float | None]:
    """(stale, age in seconds): stale when the status is unknown or nothing was heard for the heartbeat timeout."""
    seen = (live.last_seen or live.updated_at) if live is not None else None
    age = (now - seen).total_seconds() if seen is not None else None
    return a.status == "unknown" or age is None or age > heartbeat_timeout_s, age


def stay_price(price: StayPrice, tariff_id: str | None, trip: Trip) -> int | None:
    """What the stay costs under the lot's tariff (new-energy vehicles are small ones with their discount)."""
    if tariff_id is None:
        return None
    return price(tariff_id, trip.arrive_at, trip.arrive_at + trip.stay, "large" if trip.vehicle == "large" else "small",
                 trip.vehicle == "nev")


def candidates(
    trip: Trip, *, directory: Directory, live: LiveState, forecaster: Forecaster, price: StayPrice,
    now: datetime, rules: AvailabilityRules, wait_s: float | None,
) -> list[Candidate]:
    """The open-at-arrival lots within the walk, with their availability now and forecast at arrival."""
    found = [(d, info) for d, info in directory.within(trip.lat, trip.lon, trip.max_walk_m)
             if info.total > 0 and info.open_at(trip.arrive_at)][:MAX_CANDIDATES]
    ids = [info.id for _, info in found]
    distance = {info.id: d for d, info in found}
    forecaster.prepare(ids, now, wait_s=wait_s)
    horizon = max(0.0, (trip.arrive_at - now).total_seconds() / 60)
    out = []
    for info, lv, a in read_lots_now(directory.lots, live, ids, now, rules):
        d = distance[info.id]
        stale, age = is_stale(a, lv, now, rules.heartbeat_timeout_s)
        # too few berths known: their free count is no observation of the lot; forecast from history alone
        observed = None if info.has_sensors and a.status == "unknown" else lv
        out.append(Candidate(
            info=info, distance_m=d, now=a, stale=stale, age_s=age,
            at_arrival=forecast_lot(forecaster, info, observed, now, horizon, heartbeat_timeout_s=rules.heartbeat_timeout_s),
            price_fen=stay_price(price, info.tariff, trip),
        ))
    return out


def fresh_with_space(c: Candidate) -> bool:
    """Fresh data and a free space now or expected at arrival: what stale lots never outrank."""
    return not c.stale and (c.at_arrival.free > 0 or (c.now.is_live and c.now.free > 0))


def rank(found: Sequence[Candidate], *, max_walk_m: float, stay: timedelta, limit: int) -> list[Option]:
    """Fresh lots with space first, then the rest; within each, best score first, then nearest, then id."""
    prices = [c.price_fen for c in found if c.price_fen is not None]
    cheapest, dearest = (min(prices), max(prices)) if prices else (None, None)
    better = sum(fresh_with_space(c) for c in found)
    options = []
    for c in found:
        parts = score_parts(c, max_walk_m=max_walk_m, cheapest=cheapest, dearest=dearest)
        why = reasons(c, stay=stay, cheapest=cheapest, priced=len(prices), better=better, max_walk_m=max_walk_m)
        options.append(Option(c, round(sum(parts.values()), 1), parts, tuple(why)))
    options.sort(key=lambda o: (not fresh_with_space(o.candidate), -o.score, o.candidate.distance_m, o.candidate.info.id))
    return options[:limit]


def score_parts(c: Candidate, *, max_walk_m: float, cheapest: int | None, dearest: int | None) -> dict[str, float]:
    """Each weighted part of the score, as the module docstring defines them."""
    space = min(c.at_arrival.free, ENOUGH_SPACES) / ENOUGH_SPACES * (0.5 + 0.5 * c.at_arrival.confidence)
    if c.stale:
        space /= 2
    walk = max(0.0, 1 - c.distance_m / max_walk_m) if max_walk_m > 0 else 1.0
    if c.price_fen is None or cheapest is None or dearest is None:
        price = 0.5
    elif dearest == cheapest:
        price = 1.0
    else:
        price = (dearest - c.price_fen) / (dearest - cheapest)
    fresh = 0.0 if c.stale else 1.0
    values = {"space": space, "walk": walk, "price": price, "fresh": fresh}
    return {k: round(WEIGHTS[k] * v, 1) for k, v in values.items()}


def reasons(c: Candidate, *, stay: timedelta, cheapest: int | None, priced: int, better: int = 0, max_walk_m: float = 0) -> list[str]:
    """Short phrases a driver reads to see why the lot ranks where it does; `better` is how many
    fresh lots with space are on offer, so a stale lot can say why it is shown at all."""
    out = [f"{c.distance_m:.0f} m from your destination"]
    status, free, p = c.now.status, c.now.free, c.at_arrival
    if status == "full":
        out.append("full now, space expected at arrival" if p.free > 0 else "full now, no space expected at arrival")
    elif status == "closed":
        out.append("closed now, open to the public when you arrive")
    elif status == "unknown":
        out.append("no current count")
    elif c.stale:
        out.append(f"{free} free when last heard")
    else:
        out.append(f"{free} free now" + (", expected full at arrival" if p.free == 0 else ""))
    if p.free > 0:
        out.append(f"about {p.free} free at arrival ({p.low}-{p.high})")
    if p.confidence < LOW_CONFIDENCE:
        out.append("forecast uncertain")
    out.append(_price_reason(c, stay, cheapest, priced))
    if c.stale:
        out.append(_stale_reason(c, better, max_walk_m))
    if c.info.shared_hours is not None:
        out.append(f"open to the public {c.info.shared_hours}")
    return out


def _stale_reason(c: Candidate, better: int, max_walk_m: float) -> str:
    """Why a lot without fresh data is in the list at all."""
    if c.now.unknown_reason:
        why = c.now.unknown_reason
    elif c.age_s is None:
        why = "never heard from"
    else:
        why = f"data {c.age_s / 60:.0f} min old"
    within = f" within {max_walk_m:.0f} m" if max_walk_m > 0 else ""
    if better == 0:
        return f"no fresh data ({why}): shown because nothing better{within}"
    lots = "car park" if better == 1 else "car parks"
    return f"no fresh data ({why}): shown after the {better} {lots} with fresh data and space{within}"


def _price_reason(c: Candidate, stay: timedelta, cheapest: int | None, priced: int) -> str:
    if c.price_fen is None:
        return "no tariff on record" if c.info.tariff is None else f"price unknown (tariff {c.info.tariff!r} not loaded)"
    minutes = int(stay.total_seconds() // 60)
    length = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    text = "free" if c.price_fen == 0 else f"{c.price_fen // 100}.{c.price_fen % 100:02d} CNY"
    if priced > 1 and c.price_fen == cheapest:
        return f"cheapest here: {text} for {length}"
    return f"{text} for {length}"
