"""The city's car parks in three open standards, from one snapshot of registry plus availability.

- GeoJSON (RFC 7946): a FeatureCollection of Points with the registry's properties and the
  live ones; importable again as a registry file (contract section 1).
- DATEX II v3 Parking Publication Light, JSON encoding: static and dynamic in one document.
- FIWARE Smart Data Models dataModel.Parking (OffStreetParking, OnStreetParking) as
  NGSI-LD normalized entities.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from parking_core.availability import Availability
from parking_core.lots import LotInfo

LIVE = ("spacesAvailable", "almostFull", "full")  # statuses that carry a trustworthy free count

DATEX_SITE_TYPE = {"off_street": "carPark", "on_street": "onStreet"}
NGSI_TYPE = {"off_street": "OffStreetParking", "on_street": "OnStreetParking"}
NGSI_CONTEXT = [
    "https://smart-data-models.github.io/dataModel.Parking/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
]
# OffStreetParking `status` values (DATEX II 2.3 ParkingSiteStatusEnum + OpeningStatusEnum); unknown: none
NGSI_STATUS = {
    "spacesAvailable": ["open", "spacesAvailable"], "almostFull": ["open", "almostFull"],
    "full": ["open", "full"], "closed": ["closed"],
}


@dataclass(frozen=True)
class OpenLot:
    info: LotInfo
    now: Availability


def geojson(lots: Iterable[OpenLot]) -> dict:
    """RFC 7946 FeatureCollection; coordinates are [lon, lat] (WGS 84)."""
    return {"type": "FeatureCollection", "features": [
        {
            "type": "Feature", "id": o.info.id,
            "geometry": {"type": "Point", "coordinates": [o.info.lon, o.info.lat]},
            "properties": {
                "id": o.info.id, "name": o.info.name, "kind": o.info.kind, "operator": o.info.operator,
                "district": o.info.district, "total": o.now.total, "status": o.now.status,
                "free": o.now.free if o.now.status in LIVE or o.now.status == "closed" else None,  # unknown: no count, not 0
                "updated_at": _iso(o.now.updated_at), "tariff": o.info.tariff,
                "shared_hours": str(o.info.shared_hours) if o.info.shared_hours else None,
            },
        }
        for o in lots
    ]}


def datex2_light(lots: Sequence[OpenLot], *, now: datetime, publisher: str, country: str = "cn", lang: str = "zh") -> dict:
    """A DATEX II v3 ParkingPublicationLight: one parkingSite per car park.

    publicationTime is the newest change in the data (now when nothing is known), so an
    unchanged city gives an unchanged document and conditional requests answer 304.
    """
    stamps = [o.now.updated_at for o in lots if o.now.updated_at is not None]
    return {
        "modelBaseVersion": "3",
        "parkingPublicationLight": {
            "lang": lang,
            "publicationTime": _iso(max(stamps) if stamps else now),
            "publicationCreator": {"country": country, "nationalIdentifier": publisher},
            "name": "car parks and their availability",
            "parkingSite": [_datex_site(o, now) for o in lots],
        },
    }


def _datex_site(o: OpenLot, now: datetime) -> dict:
    info, a = o.info, o.now
    site: dict = {
        "id": info.id,
        "name": info.name,
        "type": {"value": DATEX_SITE_TYPE[info.kind]},
        "locationAndDimension": {"coordinatesForDisplay": {"latitude": info.lat, "longitude": info.lon}},
        "numberOfSpaces": a.total,
        "isOpenNow": info.open_at(now),
        "operatorInformation": [info.operator],
        "zoneDescription": [info.district],
    }
    if a.status in LIVE:
        site["availableSpaces"] = a.free
    elif a.status == "closed":
        site["availableSpaces"] = 0
    if a.updated_at is not None:
        site["lastUpdate"] = _iso(a.updated_at)
    if info.shared_hours is not None:
        site["openingTimesDescription"] = [f"open to the public {info.shared_hours} daily (Asia/Shanghai)"]
    if info.tariff is not None:
        site["tariffDescription"] = [f"tariff {info.tariff}"]
    return site


def ngsi_ld(o: OpenLot) -> dict:
    """One NGSI-LD normalized entity of Smart Data Models dataModel.Parking."""
    info, a = o.info, o.now
    kind = NGSI_TYPE[info.kind]
    observed = {"observedAt": _utc(a.updated_at)} if a.updated_at is not None else {}
    entity: dict = {
        "id": f"urn:ngsi-ld:{kind}:{info.id}",
        "type": kind,
        "name": _prop(info.name),
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [info.lon, info.lat]}},
        "address": _prop({"district": info.district, "addressCountry": "CN"}),
        "category": _prop(_categories(info)),
        "occupancyDetectionType": _prop(["singleSpaceDetection"] if info.has_sensors else ["balancing"]),
    }
    if a.total >= 1:
        entity["totalSpotNumber"] = _prop(a.total)
    if a.status in LIVE or a.status == "closed":
        entity["availableSpotNumber"] = _prop(a.free, **observed)
        if a.status in LIVE:
            entity["occupiedSpotNumber"] = _prop(a.total - a.free, **observed)
    if kind == "OffStreetParking":
        if a.status in NGSI_STATUS:
            entity["status"] = _prop(NGSI_STATUS[a.status], **observed)
        if info.shared_hours is not None:
            entity["openingHours"] = _prop(f"Mo-Su {info.shared_hours}")
    entity["@context"] = NGSI_CONTEXT
    return entity


def _categories(info: LotInfo) -> list[str]:
    """Enum values of the model's `category`: who may park, and whether it costs."""
    out = ["publicPrivate"] if info.shared_hours and info.kind == "off_street" else ["public"]
    if info.tariff:
        out.append("feeCharged")
    return out


def _prop(value: object, **extra: object) -> dict:
    return {"type": "Property", "value": value, **extra}


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _utc(dt: datetime) -> str:
    """NGSI-LD wants UTC instants written with a Z."""
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
