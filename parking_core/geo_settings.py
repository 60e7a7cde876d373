"""Checks for the map and place-search settings, kept apart so `settings.py` only lists them.

Each is a pydantic type: a bad value stops start-up with the variable named (keys and key-bearing
URLs are named without their value, see `load_settings`).
"""
from __future__ import annotations

import re
import string
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator

TILE_FIELDS = {"s", "z", "x", "y", "-y", "r"}  # what Leaflet fills in a tile URL template


def _tile_url(v: str | None) -> str | None:
    if not v:
        return None
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// tile URL template")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(v) if name is not None}
    except ValueError as exc:
        raise ValueError(f"is not a tile URL template ({exc})") from None
    unknown = names - TILE_FIELDS
    if unknown:
        raise ValueError(f"has unknown placeholders {sorted(unknown)}; use {{z}}, {{x}}, {{y}} (or {{-y}}) and optionally {{s}}")
    if not {"z", "x"} <= names or not names & {"y", "-y"}:
        raise ValueError("must contain {z}, {x} and {y} (or {-y})")
    return v


def _key(pattern: str, what: str):
    compiled = re.compile(pattern)

    def check(v: str | None) -> str | None:
        if not v:
            return None
        if not compiled.fullmatch(v):
            raise ValueError(f"must be {what}")
        return v

    return check


TileUrl = Annotated[str | None, AfterValidator(_tile_url)]
# Baidu's own tiles are not on the Web Mercator XYZ grid, so a BD-09 basemap cannot be an XYZ template
BasemapCoord = Literal["wgs84", "gcj02"]
TiandituKey = Annotated[str | None, AfterValidator(_key(r"[0-9a-fA-F]{32}", "the 32-character hexadecimal key from the Tianditu console"))]
BaiduKey = Annotated[str | None, AfterValidator(_key(r"[A-Za-z0-9]{16,64}", "letters and digits, as issued by the Baidu Maps console"))]


def _http_base(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError("must be an http:// or https:// base URL without a query, e.g. https://api.map.baidu.com")
    return v.rstrip("/")


HttpBase = Annotated[str, AfterValidator(_http_base)]
SECRET_WORDS = ("_AK", "_SK", "TIANDITU_KEY", "BASEMAP_URL")  # their values are never echoed in an error
