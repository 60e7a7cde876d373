"""A synthetic but plausible Suzhou: a registry file (contract section 1) to load and to drive the simulator.

The city is laid on the bundled gazetteer (parking_core/data/gazetteer.json): on-street berths
line real streets (观前街, 干将路, 金鸡湖大道 …), car parks cluster around stations, landmarks
and district centres or sit behind a street address, and the old town is densest. Every lot has
a name of its own (a street section, a place's car park, a house number), so a search or the map
never shows the same name in two districts. The same seed gives the same city.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from functools import lru_cache

from parking_core.places import Gazetteer, Place

CENTRE = (31.3119, 120.6235)  # 观前街, the old town (WGS-84)
MAX_RADIUS_M = 20_000  # reaches 吴江's centre, south of the ring
DENSITY_KM = 5  # a street's or a place's share of lots falls off with distance from the centre like exp(-d / this)
M_PER_DEG_LAT = 111_320
# the old town is dense but small: how the lots split between districts
DISTRICT_SHARE = {"gusu": 0.32, "sip": 0.24, "huqiu": 0.14, "wuzhong": 0.14, "xiangcheng": 0.1, "wujiang": 0.06}
DISTRICT_CODES = {"姑苏区": "gusu", "苏州工业园区": "sip", "虎丘区": "huqiu", "吴中区": "wuzhong", "相城区": "xiangcheng", "吴江区": "wujiang"}

STREET_USAGE = (("commercial", 0.6), ("residential", 0.3), ("office", 0.1))
CARPARK_USAGE = (("commercial", 0.4), ("residential", 0.3), ("office", 0.15), ("hospital", 0.07), ("scenic", 0.08))
USAGE_WORDS = (  # a place's own use, from its name
    ("hospital", ("医院", "附一院")),
    ("scenic", ("园", "寺", "山", "湖", "古镇", "街区", "门", "堤", "虎丘")),
    ("office", ("政府", "科技城", "大学", "奥体")),
    ("commercial", ("中心", "广场", "步行街", "观", "站")),
)
ESTATES = ("小区", "新村", "花园", "公寓")  # residential compounds behind a street address
OFFICES = ("大厦", "科技园", "商务中心")
DISTRICT_PLACES = ("邻里中心", "市民广场", "文体中心", "商业街", "行政中心")
CARPARK_SUFFIXES = ("停车场", "地下车库", "东停车场", "西停车场", "南广场停车场", "北停车场", "P1停车场", "P2停车场")
SHARED_HOURS = ("18:00-08:00", "18:30-07:30", "19:00-07:00")
# ids of the bundled tariff catalog (billing/tariffs/examples), so simulated stays are priced
ON_STREET_TARIFFS = ("beijing-onstreet-class1", "nantong-onstreet", "nantong-onstreet", None)
OFF_STREET_TARIFFS = {"residential": "residential-pass-lot"}


@dataclass(frozen=True)
class _Street:
    place: Place
    pts: tuple[tuple[float, float], ...]  # metres east, north of CENTRE
    cum: tuple[float, ...]  # length along the street at each point
    weight: float


@dataclass(frozen=True)
class _Anchor:
    place: Place
    xy: tuple[float, float]
    weight: float
    usage: str | None


def _xy(lat: float, lon: float) -> tuple[float, float]:
    """Metres east and north of CENTRE: flat is exact enough within 20 km."""
    return ((lon - CENTRE[1]) * M_PER_DEG_LAT * math.cos(math.radians(CENTRE[0])), (lat - CENTRE[0]) * M_PER_DEG_LAT)


def _latlon(x: float, y: float, centre: tuple[float, float]) -> tuple[float, float]:
    lat = centre[0] + y / M_PER_DEG_LAT
    lon = centre[1] + x / (M_PER_DEG_LAT * math.cos(math.radians(centre[0])))
    return round(lat, 6), round(lon, 6)


def _usage_of(name: str) -> str | None:
    for usage, words in USAGE_WORDS:
        if any(w in name for w in words):
            return usage
    return None


@lru_cache(maxsize=1)
def _layout() -> tuple[tuple[_Street, ...], tuple[_Anchor, ...]]:
    """Suzhou's streets and places from the gazetteer, within reach of the centre, with their weights."""
    gazetteer = Gazetteer.load()
    streets, anchors = [], []
    for p in gazetteer.places:
        if p.city != "苏州" or (p.district or p.name) not in DISTRICT_CODES:
            continue
        if p.kind == "street":
            pts = tuple(_xy(*q) for q in p.line)
            if max(math.hypot(*q) for q in pts) > MAX_RADIUS_M:
                continue
            cum = [0.0]
            for a, b in zip(pts, pts[1:]):
                cum.append(cum[-1] + math.dist(a, b))
            mid = math.hypot(*_xy(p.lat, p.lon))
            streets.append(_Street(p, pts, tuple(cum), cum[-1] / 1000 * math.exp(-mid / 1000 / DENSITY_KM)))
        else:
            xy = _xy(p.lat, p.lon)
            d = math.hypot(*xy)
            if d > MAX_RADIUS_M - 1_500:
                continue
            size = 0.6 if p.kind == "district" else 1.0
            anchors.append(_Anchor(p, xy, size * math.exp(-d / 1000 / DENSITY_KM), _usage_of(p.name)))
    return tuple(_share_out(streets)), tuple(_share_out(anchors))


def _code(place: Place) -> str:
    """The simulator's district code of a street or place (a district is its own)."""
    return DISTRICT_CODES[place.district or place.name]


def _share_out(items: list):  # noqa: ANN202
    """Scale weights so each district gets its DISTRICT_SHARE of the lots, densest near the centre within it."""
    def code(item) -> str:  # noqa: ANN001
        return _code(item.place)

    sums: dict[str, float] = {}
    for item in items:
        sums[code(item)] = sums.get(code(item), 0.0) + item.weight
    return [replace(item, weight=item.weight / sums[code(item)] * DISTRICT_SHARE[code(item)]) for item in items]


def _choose(rng: random.Random, items, weights: list[float]):  # noqa: ANN001, ANN202
    return rng.choices(items, weights=weights, k=1)[0]


def _along(rng: random.Random, street: _Street, offset_m: tuple[float, float]) -> tuple[float, float]:
    """A point at a random place along the street, set back from its centre line by offset_m (min, max)."""
    s = rng.uniform(0, street.cum[-1])
    i = max(0, min(len(street.pts) - 2, next((k for k, c in enumerate(street.cum) if c >= s), 1) - 1))
    (x0, y0), (x1, y1) = street.pts[i], street.pts[i + 1]
    seg = max(1e-9, street.cum[i + 1] - street.cum[i])
    t = (s - street.cum[i]) / seg
    nx, ny = -(y1 - y0) / seg, (x1 - x0) / seg  # unit normal
    off = rng.uniform(*offset_m) * rng.choice((-1, 1))
    return x0 + t * (x1 - x0) + off * nx, y0 + t * (y1 - y0) + off * ny


def _inside(x: float, y: float) -> tuple[float, float]:
    r = math.hypot(x, y)
    if r <= MAX_RADIUS_M:
        return x, y
    return x * MAX_RADIUS_M / r, y * MAX_RADIUS_M / r


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x, acc = rng.random(), 0.0
    for value, w in weighted:
        acc += w
        if x < acc:
            return value
    return weighted[-1][0]


def _carpark_total(rng: random.Random) -> int:
    """Most car parks are small; a few malls and hospitals hold over a thousand."""
    return max(50, min(1500, int(rng.lognormvariate(math.log(95), 0.8))))


class _Names:
    """Hands out names never given before in this city."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.sections: dict[str, int] = {}

    def take(self, name: str) -> str | None:
        if name in self.used:
            return None
        self.used.add(name)
        return name

    def section(self, street: str) -> str:
        k = self.sections[street] = self.sections.get(street, 0) + 1
        return self.take(f"{street}路内泊位{k}段")  # type: ignore[return-value] - numbered per street: never taken

    def near(self, rng: random.Random, place: str) -> str:
        for suffix in rng.sample(CARPARK_SUFFIXES, len(CARPARK_SUFFIXES)):
            if got := self.take(place + suffix):
                return got
        n = 2
        while not (got := self.take(f"{place}{n}号停车场")):
            n += 1
        return got

    def address(self, rng: random.Random, street: str, usage: str) -> str:
        while True:
            number = rng.randint(1, 300) * 2 - rng.randint(0, 1)
            word = rng.choice(ESTATES) if usage == "residential" else rng.choice(OFFICES) if usage == "office" else ""
            if got := self.take(f"{street}{number}号{word}停车场"):
                return got


def generate_city(n_lots: int, *, seed: int = 1, centre: tuple[float, float] = CENTRE) -> dict:
    """A GeoJSON FeatureCollection of `n_lots` car parks, the same for the same seed.

    `centre` moves the whole layout (the old town lands there); the default is Suzhou's own.
    """
    rng = random.Random(seed)
    streets, anchors = _layout()
    street_w = [s.weight for s in streets]
    anchor_w = [a.weight for a in anchors]
    names = _Names()
    n_ops = max(3, min(60, n_lots // 60))
    width = max(4, len(str(n_lots)))
    features = []
    for i in range(1, n_lots + 1):
        x = rng.random()
        props: dict = {"operator": f"op-{rng.randint(1, n_ops):02d}"}
        if x < 0.45:
            usage = _pick(rng, STREET_USAGE)
            street = _choose(rng, streets, street_w)
            px, py = _along(rng, street, (6, 18))  # the kerb
            district = _code(street.place)
            n = int(rng.triangular(10, 120, 30))
            props.update(
                id=f"ST{i:0{width}d}", name=names.section(street.place.name), kind="on_street", total=n,
                berths=[f"B{k:03d}" for k in range(1, n + 1)], tariff=rng.choice(ON_STREET_TARIFFS),
            )
        else:
            counting = x >= 0.95
            if rng.random() < 0.6:  # around a station, a landmark or a district's centre
                anchor = _choose(rng, anchors, anchor_w)
                usage = anchor.usage or _pick(rng, CARPARK_USAGE)
                r, a = min(1_500, rng.expovariate(1 / 300)), rng.uniform(0, 2 * math.pi)
                px, py = anchor.xy[0] + r * math.cos(a), anchor.xy[1] + r * math.sin(a)
                district = _code(anchor.place)
                place = anchor.place.name
                if anchor.place.kind == "district":  # a district's centre: its civic and shopping places
                    place = place.removesuffix("区").removeprefix("苏州") + rng.choice(DISTRICT_PLACES)
                name = names.near(rng, place)
            else:  # behind an address on a street
                usage = _pick(rng, CARPARK_USAGE)
                street = _choose(rng, streets, street_w)
                px, py = _along(rng, street, (40, 250))
                district = _code(street.place)
                name = names.address(rng, street.place.name, usage)
            props.update(
                id=f"{'CN' if counting else 'CP'}{i:0{width}d}", name=name, kind="off_street", total=_carpark_total(rng),
                tariff=OFF_STREET_TARIFFS.get(usage, "suzhou-offstreet") if rng.random() < 0.8 else None,
            )
            if rng.random() < (0.5 if usage == "office" else 0.2 if counting else 0.0):
                props["shared_hours"] = rng.choice(SHARED_HOURS)
                usage = "office"
                props["name"] = name.removesuffix("停车场") + "停车场(错时共享)"
                names.take(props["name"])
            if counting:
                props["reports"] = "counts"
        px, py = _inside(px, py)
        props["district"] = district  # the street's or the place's own: a name never spans two districts
        props["usage"] = usage  # not in the contract; the simulator's day rhythm, ignored on import
        if props.get("tariff") is None:
            props.pop("tariff", None)
        props = {"id": props.pop("id"), "name": props.pop("name"), "kind": props.pop("kind"), **props}
        lat, lon = _latlon(px, py, centre)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def city_summary(city: dict) -> dict:
    """Counts a person checks at a glance: lots by kind, spaces, sensor berths."""
    props = [f["properties"] for f in city["features"]]
    return {
        "lots": len(props),
        "on_street": sum(p["kind"] == "on_street" for p in props),
        "gated": sum(p["kind"] == "off_street" and p.get("reports") != "counts" for p in props),
        "counting": sum(p.get("reports") == "counts" for p in props),
        "shared_hours": sum("shared_hours" in p for p in props),
        "spaces": sum(p["total"] for p in props),
        "sensor_berths": sum(len(p.get("berths") or ()) for p in props),
    }
