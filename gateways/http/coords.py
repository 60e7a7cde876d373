"""The `coord` query parameter of the citizen and driver APIs, and the conversion at the edge.

An endpoint takes `coord: CoordDep`, turns its input point to WGS-84 with `wgs84_in` before it
measures anything, and passes its answer through `coord_out`, which rewrites every `lat`/`lon`
pair in it (models, dicts, lists) into the caller's system. Open data never takes `coord`.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel

from parking_core.coords import CoordSystem, from_wgs84, to_wgs84

COORD_HELP = (
    "coordinate system of every lat/lon in the request and the answer: wgs84 (GPS, the default), "
    "gcj02 (AMap, Tencent) or bd09 (Baidu)"
)


async def coord_param(coord: Literal["wgs84", "gcj02", "bd09"] = Query("wgs84", description=COORD_HELP)) -> CoordSystem:
    """Async so FastAPI resolves it on the event loop, not on the thread pool."""
    return coord


CoordDep = Annotated[CoordSystem, Depends(coord_param)]


def wgs84_in(coord: str, lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    """The caller's point in WGS-84 (None stays None: an optional point not given)."""
    if lat is None or lon is None or coord == "wgs84":
        return lat, lon
    return to_wgs84(lat, lon, coord)


def coord_out(coord: str, answer: Any) -> Any:
    """`answer` with every lat/lon pair in the caller's system; WGS-84 answers pass untouched."""
    if coord != "wgs84":
        _rewrite(answer, coord)
    return answer


def _rewrite(node: Any, coord: str) -> None:
    if isinstance(node, BaseModel):
        if isinstance(getattr(node, "lat", None), float) and isinstance(getattr(node, "lon", None), float):
            node.lat, node.lon = from_wgs84(node.lat, node.lon, coord)
        for name in type(node).model_fields:
            value = getattr(node, name)
            if isinstance(value, (BaseModel, dict, list, tuple)):
                _rewrite(value, coord)
    elif isinstance(node, dict):
        if isinstance(node.get("lat"), float) and isinstance(node.get("lon"), float):
            node["lat"], node["lon"] = from_wgs84(node["lat"], node["lon"], coord)
        for value in node.values():
            if isinstance(value, (BaseModel, dict, list, tuple)):
                _rewrite(value, coord)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _rewrite(item, coord)
