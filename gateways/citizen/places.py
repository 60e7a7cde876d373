"""Citizen gateway, places: search a place by name, and convert a point between coordinate systems.

`GET /v1/places?q=苏州站&coord=gcj02&limit=10` answers from the bundled gazetteer and, with
`PARKING_BAIDU_AK`, Baidu's geocoder (parking_core.places), in the caller's system.
`GET /v1/coords` converts one point: the page's "locate me" turns the browser's WGS-84 fix
into its basemap's system with it, so no conversion code runs in the page.
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from gateways.citizen.app_state import made_once
from gateways.http.coords import CoordDep, coord_out
from gateways.http.errors import ErrorBody
from parking_core.coords import convert
from parking_core.errors import DependencyUnavailable
from parking_core.places import PlaceFinder, place_finder

router = APIRouter(prefix="/v1", tags=["citizen"])


class PlaceRead(BaseModel):
    name: str
    kind: str = Field(description="district, street, station, landmark; from Baidu its own level (e.g. 门址, 道路)")
    city: str | None
    district: str | None
    lat: float
    lon: float
    source: Literal["gazetteer", "baidu"]


class PlaceList(BaseModel):
    places: list[PlaceRead]
    warnings: list[str] = Field(description="the online geocoder's failure, when it failed and the gazetteer answered")


class PointRead(BaseModel):
    lat: float
    lon: float
    coord: str


def finder_of(request: Request) -> PlaceFinder:
    """The app's place finder, made on first use from the platform's settings."""
    state = request.app.state
    return made_once(state, "place_finder", lambda: place_finder(state.platform.settings))


FinderDep = Annotated[PlaceFinder, Depends(finder_of)]


@router.get("/places", response_model=PlaceList, responses={
    422: {"model": ErrorBody, "description": "bad parameters, named"},
    503: {"model": ErrorBody, "description": "the online geocoder failed and the gazetteer knows nothing by that name"},
})
def places(
    finder: FinderDep,
    coord: CoordDep,
    q: str = Query(min_length=1, max_length=100, description="a place's name: 苏州站, 观前街, 姑苏区, an address"),
    limit: int = Query(10, ge=1, le=50),
) -> PlaceList:
    """Places by name, best first: districts, streets, stations, landmarks, addresses."""
    found, warnings = finder.search(q, limit)
    if not found and warnings:
        raise DependencyUnavailable(f"place search: {warnings[0]}", field="q", value=q)
    rows = [PlaceRead(name=p.name, kind=p.kind, city=p.city, district=p.district, lat=p.lat, lon=p.lon, source=p.source)
            for p in found]
    return coord_out(coord, PlaceList(places=rows, warnings=warnings))


SystemParam = Literal["wgs84", "gcj02", "bd09"]


@router.get("/coords", response_model=PointRead)
def convert_point(
    lat: float = Query(ge=-90, le=90),
    lon: float = Query(ge=-180, le=180),
    source: SystemParam = Query(alias="from", description="the point's system"),
    target: SystemParam = Query(alias="to", description="the system wanted"),
) -> PointRead:
    """One point from one coordinate system to another (WGS-84, GCJ-02, BD-09)."""
    lat2, lon2 = convert(lat, lon, source, target)
    return PointRead(lat=lat2, lon=lon2, coord=target)
