"""Find a place by name ("苏州站", "观前街"): drivers think in places, not car parks.

One interface, `PlaceSearch.search(q, limit)`, answered in WGS-84 by:
- `Gazetteer`: the bundled districts, streets and landmarks of Suzhou and Nantong
  (`data/gazetteer.json`), offline; the embedded default and what the tests use.
- `BaiduPlaces`: Baidu Maps' v3 geocoder through geopy's `BaiduV3` (key `PARKING_BAIDU_AK`);
  its BD-09 answers are turned to WGS-84 here.
- `PlaceFinder`: the gazetteer first where it knows the name exactly, then the online
  geocoder, then the gazetteer's looser matches; an online failure leaves the gazetteer's answer.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

from geopy.adapters import URLLibAdapter
from geopy.distance import great_circle
from geopy.exc import GeopyError
from geopy.geocoders import BaiduV3

from parking_core.coords import to_wgs84

log = logging.getLogger("parking.places")
KIND_ORDER = {"station": 0, "landmark": 1, "street": 2, "district": 3, "address": 4}
EXACT = 100
SAME_PLACE_M = 150  # a gazetteer entry and a geocoder answer this close, with the same name, are one place


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # district, street, station, landmark; an online answer's own level otherwise
    lat: float  # WGS-84
    lon: float
    city: str | None = None
    district: str | None = None
    source: str = "gazetteer"
    line: tuple[tuple[float, float], ...] = ()  # a street's course, WGS-84
    aliases: tuple[str, ...] = field(default=(), compare=False)


class PlaceSearch(Protocol):
    def search(self, q: str, limit: int = 10) -> list[Place]: ...


class PlaceSearchUnavailable(Exception):
    """The online geocoder could not answer (network, key, quota); the message says which."""


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


class Gazetteer:
    """Name matching over a bundled list: exact name or alias, then prefix, then contained."""

    def __init__(self, places: list[Place]) -> None:
        self.places = places
        self._names = [(p, [_norm(n) for n in (p.name, *p.aliases)]) for p in places]
        self._cities = {p.city for p in places if p.city}

    @classmethod
    def load(cls, path: Path | None = None) -> "Gazetteer":
        text = path.read_text("utf-8") if path else resources.files("parking_core").joinpath("data/gazetteer.json").read_text("utf-8")
        return cls([_place(raw) for raw in json.loads(text)["places"]])

    def scored(self, q: str) -> list[tuple[int, Place]]:
        nq = _norm(q)
        if not nq:
            return []
        city = next((c for c in self._cities if c in nq), None)  # "南通人民路": Nantong's, not Suzhou's
        bare = (nq.replace(city, "", 1).removeprefix("市") if city else nq) or nq  # "苏州": the city's own places
        out = []
        for place, names in self._names:
            best = 0
            for n in names:
                if n in (nq, bare):
                    best = EXACT
                elif n.startswith(bare) and bare:
                    best = max(best, 80)
                elif bare and bare in n:
                    best = max(best, 60)
                elif len(n) >= 2 and n in nq:
                    best = max(best, 40)  # "苏州观前街停车" still finds 观前街
            if best and city:
                if place.city != city:
                    continue  # "南通人民路" is not Suzhou's
                best += 10
            if best > 0:
                out.append((best, place))
        out.sort(key=lambda sp: (-sp[0], KIND_ORDER.get(sp[1].kind, 9), len(sp[1].name), sp[1].name))
        return out

    def search(self, q: str, limit: int = 10) -> list[Place]:
        return [p for _, p in self.scored(q)[:limit]]

    def streets(self, city: str | None = None) -> list[Place]:
        return [p for p in self.places if p.kind == "street" and p.line and (city is None or p.city == city)]


def _place(raw: dict) -> Place:
    line = tuple((float(a), float(b)) for a, b in raw.get("line", ()))
    if line:
        lat, lon = line[len(line) // 2]
    else:
        lat, lon = float(raw["lat"]), float(raw["lon"])
    return Place(
        name=raw["name"], kind=raw["kind"], lat=lat, lon=lon, city=raw.get("city"), district=raw.get("district"),
        line=line, aliases=tuple(raw.get("aliases", ())),
    )


class BaiduPlaces:
    """Baidu Maps' v3 geocoder (geopy `BaiduV3`) at a configurable base URL; answers in WGS-84.

    geopy fixes Baidu's host, so the endpoint URLs are set after construction: the same
    requests go to `base_url` (a proxy, or a local stand-in in the tests).
    """

    def __init__(self, ak: str, *, sk: str | None = None, base_url: str = "https://api.map.baidu.com",
                 timeout_s: float = 3.0, cache_size: int = 512) -> None:
        base_url = base_url.rstrip("/")
        self._geocoder = BaiduV3(api_key=ak, security_key=sk, scheme=base_url.split("://", 1)[0], timeout=timeout_s,
                                 user_agent="city-parking", adapter_factory=URLLibAdapter)  # no retry logs carrying the key
        self._geocoder.api = base_url + BaiduV3.api_path
        self._geocoder.reverse_api = base_url + BaiduV3.reverse_path
        self._cache: OrderedDict[str, list[Place]] = OrderedDict()  # Baidu counts every call against a daily quota
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def search(self, q: str, limit: int = 10) -> list[Place]:
        key = _norm(q)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key][:limit]
        try:
            found = self._geocoder.geocode(q, exactly_one=True)
        except GeopyError as exc:
            reason = str(exc).replace(self._geocoder.api_key, "<PARKING_BAIDU_AK>")  # never show the key
            raise PlaceSearchUnavailable(f"Baidu geocoder: {type(exc).__name__}: {reason}") from None
        places = []
        if found is not None:
            lat, lon = to_wgs84(found.latitude, found.longitude, "bd09")  # v3 answers in bd09ll by default
            raw = found.raw if isinstance(found.raw, dict) else {}
            places.append(Place(name=q.strip(), kind=str(raw.get("level") or "address"), lat=lat, lon=lon, source="baidu"))
        with self._lock:
            self._cache[key] = places
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return places[:limit]


class PlaceFinder:
    """The gazetteer's exact matches, then the online geocoder (if any), then looser matches."""

    def __init__(self, gazetteer: Gazetteer, online: PlaceSearch | None = None) -> None:
        self.gazetteer = gazetteer
        self.online = online

    def search(self, q: str, limit: int = 10) -> tuple[list[Place], list[str]]:
        """(places, warnings): a warning says the online geocoder failed and why."""
        scored = self.gazetteer.scored(q)
        exact = [p for s, p in scored if s >= EXACT]
        loose = [p for s, p in scored if s < EXACT]
        warnings: list[str] = []
        online: list[Place] = []
        if self.online is not None:
            try:
                online = self.online.search(q, limit)
            except PlaceSearchUnavailable as exc:
                log.warning("place search %r: %s", q, exc)
                warnings.append(str(exc))
        out: list[Place] = []
        for p in [*exact, *online, *loose]:
            if any(o.name == p.name and great_circle((o.lat, o.lon), (p.lat, p.lon)).meters < SAME_PLACE_M for o in out):
                continue
            out.append(p)
        return out[:limit], warnings


def place_finder(settings) -> PlaceFinder:  # noqa: ANN001 - parking_core.settings.Settings
    """The finder the settings ask for: the gazetteer, with Baidu when PARKING_BAIDU_AK is set."""
    online = None
    if settings.baidu_ak:
        online = BaiduPlaces(settings.baidu_ak, sk=settings.baidu_sk, base_url=settings.baidu_url,
                             timeout_s=settings.geocoder_timeout_s)
    return PlaceFinder(Gazetteer.load(), online)
