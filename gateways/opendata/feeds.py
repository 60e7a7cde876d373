"""Open data gateway: the city's car parks and live availability for anyone, in open standards.

No key is needed; rate limits and HTTP caching apply as everywhere. See docs/opendata.md.
"""
from __future__ import annotations

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from gateways.bootstrap import Platform
from gateways.http.deps import PlatformDep
from gateways.opendata.formats import NGSI_TYPE, OpenLot, datex2_light, geojson, ngsi_ld
from parking_core.availability import AvailabilityRules, read_availability
from parking_core.errors import InvalidInput

router = APIRouter(prefix="/v1/open", tags=["open data"])


class GeoJSONResponse(Response):
    media_type = "application/geo+json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


class LDJSONResponse(Response):
    media_type = "application/ld+json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


class FastJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def snapshot(platform: Platform, kinds: frozenset[str] | None = None) -> list[OpenLot]:
    """Every car park (of the given kinds) with its availability now, ordered by id."""
    ids = sorted(i.id for i in platform.directory.lots.values() if kinds is None or i.kind in kinds)
    rules = AvailabilityRules.from_settings(platform.settings)
    return [OpenLot(i, a) for i, a in read_availability(platform.directory.lots, platform.live, ids, platform.clock(), rules)]


OBJECT = {"type": "object"}


def _doc(media_type: str, description: str, schema: dict = OBJECT) -> dict:
    """The answer's media type and JSON shape in the OpenAPI document (the standards define the rest)."""
    return {200: {"content": {media_type: {"schema": schema}}, "description": description}}


@router.get(
    "/lots.geojson", response_class=GeoJSONResponse,
    responses=_doc("application/geo+json", "RFC 7946 FeatureCollection of Points; also a valid registry file"),
)
def lots_geojson(platform: PlatformDep) -> GeoJSONResponse:
    """Every car park as a GeoJSON Point with its registry properties and live free/status."""
    return GeoJSONResponse(geojson(snapshot(platform)))


@router.get(
    "/datex2/parking-light.json", response_class=FastJSONResponse,
    responses=_doc("application/json", "DATEX II v3 ParkingPublicationLight (JSON encoding)"),
)
def datex2_parking_light(platform: PlatformDep) -> FastJSONResponse:
    """DATEX II Parking Publication Light: static description and live availability in one document."""
    doc = datex2_light(snapshot(platform), now=platform.clock(), publisher="city-parking-platform")
    return FastJSONResponse(doc)


@router.get(
    "/ngsi-ld/entities", response_class=LDJSONResponse,
    responses=_doc("application/ld+json", "array of NGSI-LD entities (Smart Data Models dataModel.Parking)",
                   {"type": "array", "items": OBJECT}),
)
def ngsi_ld_entities(
    platform: PlatformDep,
    entity_type: str = Query(
        ",".join(NGSI_TYPE.values()), alias="type",
        description="OffStreetParking, OnStreetParking, or both separated by a comma",
    ),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    count: bool = Query(False, description="add the total in the NGSILD-Results-Count header"),
) -> LDJSONResponse:
    """Car parks as NGSI-LD entities, ordered by id, paged with limit and offset."""
    wanted = {t.strip() for t in entity_type.split(",") if t.strip()}
    by_type = {v: k for k, v in NGSI_TYPE.items()}
    unknown = sorted(wanted - by_type.keys())
    if unknown or not wanted:
        raise InvalidInput(
            f"query parameter 'type': {', '.join(unknown) or 'nothing'} is not one of {', '.join(by_type)}",
            field="type", value=entity_type,
        )
    lots = snapshot(platform, frozenset(by_type[t] for t in wanted))
    headers = {"NGSILD-Results-Count": str(len(lots))} if count else None
    return LDJSONResponse([ngsi_ld(o) for o in lots[offset:offset + limit]], headers=headers)
