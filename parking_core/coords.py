"""WGS-84, GCJ-02 and BD-09: the three coordinate systems a Chinese driver's app may speak.

The platform keeps and computes everything in WGS-84 (sensors, the registry, open data,
distances). AMap and Tencent maps draw in GCJ-02 and Baidu in BD-09, so the citizen and driver
APIs convert at the edge: input to WGS-84 before anything is measured, output from WGS-84
just before it is sent. The arithmetic is prcoords' (public domain); the reverse directions use
its iterative ("bored") inverses, good to well under a metre. Outside mainland China the
obfuscation does not apply and points pass unchanged, as every map vendor does.
"""
from __future__ import annotations

from typing import Literal, get_args

import prcoords

CoordSystem = Literal["wgs84", "gcj02", "bd09"]
SYSTEMS: tuple[str, ...] = get_args(CoordSystem)
DIGITS = 6  # about 0.1 m: finer than any of the conversions


def in_china(lat: float, lon: float) -> bool:
    """Inside the box where GCJ-02 and BD-09 differ from WGS-84 (prcoords' bounds)."""
    return bool(prcoords.sanity_in_china_p(prcoords.Coords(lat, lon)))


def to_wgs84(lat: float, lon: float, system: str) -> tuple[float, float]:
    """A point given in `system`, in WGS-84."""
    if system == "wgs84" or not in_china(lat, lon):
        return lat, lon
    if system == "gcj02":
        p = prcoords.gcj_wgs_bored((lat, lon))
    elif system == "bd09":
        p = prcoords.bd_wgs_bored((lat, lon))
    else:
        raise ValueError(f"unknown coordinate system {system!r}; one of {', '.join(SYSTEMS)}")
    return round(p.lat, DIGITS), round(p.lon, DIGITS)


def from_wgs84(lat: float, lon: float, system: str) -> tuple[float, float]:
    """A WGS-84 point, in `system`."""
    if system == "wgs84" or not in_china(lat, lon):
        return lat, lon
    if system == "gcj02":
        p = prcoords.wgs_gcj((lat, lon), False)
    elif system == "bd09":
        p = prcoords.wgs_bd((lat, lon), False)
    else:
        raise ValueError(f"unknown coordinate system {system!r}; one of {', '.join(SYSTEMS)}")
    return round(p.lat, DIGITS), round(p.lon, DIGITS)


def convert(lat: float, lon: float, source: str, target: str) -> tuple[float, float]:
    """A point from one system to another, through WGS-84."""
    if source == target:
        return lat, lon
    if (source, target) == ("gcj02", "bd09"):  # Baidu's own step, exact; not through WGS-84
        p = prcoords.gcj_bd((lat, lon))
        return round(p.lat, DIGITS), round(p.lon, DIGITS)
    if (source, target) == ("bd09", "gcj02"):
        p = prcoords.bd_gcj_bored((lat, lon))
        return round(p.lat, DIGITS), round(p.lon, DIGITS)
    return from_wgs84(*to_wgs84(lat, lon, source), target)
