"""Open data: GeoJSON, DATEX II Parking Publication Light and NGSI-LD, each checked against the
names and enumerations its standard defines (copied here from the standard, not from our code)."""
from __future__ import annotations

from datetime import timedelta

from parking_core.registry import parse_registry
from tests.conftest import small_city
from tests.factories import berth_msg, passage_msg

# --- RFC 7946 (GeoJSON) --------------------------------------------------------------------
GEOJSON_COLLECTION_MEMBERS = {"type", "features", "bbox"}
GEOJSON_FEATURE_MEMBERS = {"type", "id", "geometry", "properties", "bbox"}
CONTRACT_STATUSES = {"spacesAvailable", "almostFull", "full", "closed", "unknown"}

# --- DATEX II v3 Parking Publication Light (docs.datex2.eu/downloads/parkinglight.html) ---------
DATEX_PUBLICATION_MEMBERS = {"lang", "publicationTime", "publicationCreator", "name", "description", "parkingSite", "parkingSpace"}
DATEX_CREATOR_MEMBERS = {"country", "nationalIdentifier"}
DATEX_SITE_MEMBERS = {
    "id", "lastUpdate", "type", "name", "description", "locationAndDimension", "assignedFor", "availableSpaces",
    "numberOfSpaces", "isOpenNow", "temporaryClosed", "freeParking", "maximumParkingDuration", "occupancyTrend",
    "openingTimesDescription", "operatorInformation", "equipmentAndServices", "security", "tariffDescription",
    "urlLinkAddress", "zoneDescription",
}
DATEX_SITE_TYPES = {"carPark", "onStreet", "offStreetParkingGround", "motorwayParking", "restArea", "temporaryParking", "specialLocationParking", "other"}
DATEX_LOCATION_MEMBERS = {"coordinatesForDisplay", "gmlLinearRing", "dimension", "level", "locationDescriptor", "roadName", "roadNumber", "specificAccessInformation"}
DATEX_STRING_LISTS = {"openingTimesDescription", "operatorInformation", "equipmentAndServices", "security", "tariffDescription", "zoneDescription"}

# --- Smart Data Models dataModel.Parking (schema.json of OffStreetParking / OnStreetParking) -----
SDM_COMMON = {"id", "type", "dateCreated", "dateModified", "source", "name", "alternateName", "description", "dataProvider", "owner", "seeAlso", "location", "address", "areaServed"}
OFF_STREET_ATTRS = SDM_COMMON | {
    "category", "extCategory", "allowedVehicleType", "chargeType", "requiredPermit", "occupancyDetectionType", "occupiedSpotNumber",
    "occupancyModified", "occupancy", "acceptedPaymentMethod", "priceRatePerMinute", "priceCurrency", "layout", "usageScenario",
    "parkingMode", "facilities", "security", "highestFloor", "lowestFloor", "maximumParkingDuration", "totalSpotNumber",
    "availableSpotNumber", "extraSpotNumber", "openingHours", "firstAvailableFloor", "specialLocation", "status", "reservationType",
    "provider", "measuresPeriod", "measuresPeriodUnit", "contactPoint", "averageSpotWidth", "averageSpotLength", "maximumAllowedHeight",
    "maximumAllowedWidth", "refParkingAccess", "refParkingGroup", "refParkingSpot", "aggregateRating", "vehicleEntranceCount",
    "vehicleExitCount", "accessModified", "images", "outOfServiceSlotNumber", "parkingSiteId", "observationDateTime",
    "fourWheelerSlots", "unclassifiedSlots", "twoWheelerSlots", "municipalityInfo",
}
ON_STREET_ATTRS = SDM_COMMON | {
    "acceptedPaymentMethod", "allowedVehicleType", "areBordersMarked", "availableSpotNumber", "averageSpotLength", "averageSpotWidth",
    "category", "chargeType", "extraSpotNumber", "fourWheelerSlots", "layout", "maximumParkingDuration", "municipalityInfo",
    "observationDateTime", "occupancyDetectionType", "occupancyModified", "occupiedSpotNumber", "outOfServiceSlotNumber", "parkingMode",
    "parkingSiteId", "permitActiveHours", "refParkingGroup", "refParkingSpot", "requiredPermit", "totalSpotNumber", "twoWheelerSlots",
    "unclassifiedSlots", "usageScenario",
}
OFF_STREET_STATUS = {"almostFull", "closed", "closedAbnormal", "full", "fullAtEntrance", "open", "openingTimesInForce", "spacesAvailable"}
OFF_STREET_CATEGORY = {
    "barrierAccess", "feeCharged", "forCustomers", "forDisabled", "forElectricalCharging", "forEmployees", "forMembers", "forResidents",
    "forStudents", "forVisitors", "free", "freeAccess", "gateAccess", "guarded", "ground", "longTerm", "mediumTerm", "onlyResidents",
    "onlyWithPermit", "parkingGarage", "parkingLot", "private", "public", "publicPrivate", "shortTerm", "staffed", "underground",
    "urbanDeterrentParking", "other",
}
ON_STREET_CATEGORY = {
    "barrierAccess", "blueZone", "feeCharged", "forDisabled", "forElectricalCharging", "forLoadUnload", "forResidents", "free",
    "greenZone", "mediumTerm", "onlyWithPermit", "public", "shortTerm", "taxiStop", "underground",
}
OCCUPANCY_DETECTION = {"balancing", "manual", "modelBased", "none", "singleSpaceDetection"}
SCHEMA_ORG_ADDRESS = {"addressCountry", "addressLocality", "addressRegion", "district", "postOfficeBoxNumber", "postalCode", "streetAddress", "streetNr"}
NGSI_LD_ATTRIBUTE_TYPES = {"Property", "GeoProperty", "Relationship"}


def _some_traffic(platform):
    """S1: two berths free, two unknown; G1: one car in of three; C1 outside its shared hours."""
    now = platform.clock()
    platform.pipeline.process([
        berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", False, 1, now),
        passage_msg("G1", "g", "e1", "in", "苏E12345", now),
    ])
    return now


# --- GeoJSON -----------------------------------------------------------------------------------

def test_geojson_is_an_rfc7946_feature_collection_with_live_properties(api):
    platform, client = api()
    _some_traffic(platform)
    r = client.get("/v1/open/lots.geojson")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and set(doc) <= GEOJSON_COLLECTION_MEMBERS
    by_id = {}
    for f in doc["features"]:
        assert f["type"] == "Feature" and set(f) <= GEOJSON_FEATURE_MEMBERS
        assert f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        p = f["properties"]
        assert set(p) == {"id", "name", "kind", "operator", "district", "total", "free", "status", "updated_at", "tariff", "shared_hours"}
        assert p["status"] in CONTRACT_STATUSES and p["kind"] in {"on_street", "off_street"}
        by_id[p["id"]] = (f["geometry"]["coordinates"], p)
    assert by_id["G1"][0] == [120.605, 31.305]  # longitude first, as RFC 7946 says
    g1 = by_id["G1"][1]
    assert (g1["free"], g1["total"], g1["status"], g1["tariff"]) == (2, 3, "spacesAvailable", "suzhou-offstreet")
    assert g1["updated_at"].startswith("2026-11-23T02:00:00")
    c1 = by_id["C1"][1]
    assert (c1["status"], c1["shared_hours"], c1["district"]) == ("closed", "18:00-08:00", "sip")


def test_geojson_is_a_valid_registry_file_for_another_platform(api):
    _, client = api()
    lots = {lot.id: lot for lot in parse_registry(client.get("/v1/open/lots.geojson").content)}
    for expected in small_city():
        got = lots[expected.id]
        assert (got.name, got.kind, got.operator, got.district, got.total, got.lat, got.lon, got.shared_hours) == (
            expected.name, expected.kind, expected.operator, expected.district, expected.total, expected.lat, expected.lon, expected.shared_hours,
        )


# --- DATEX II ----------------------------------------------------------------------------------

def test_datex2_light_uses_the_standards_names_and_enumerations(api):
    platform, client = api()
    _some_traffic(platform)
    r = client.get("/v1/open/datex2/parking-light.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["modelBaseVersion"] == "3"
    pub = doc["parkingPublicationLight"]
    assert set(pub) <= DATEX_PUBLICATION_MEMBERS and set(pub["publicationCreator"]) <= DATEX_CREATOR_MEMBERS
    assert len(pub["publicationCreator"]["country"]) == 2
    for site in pub["parkingSite"]:
        assert set(site) <= DATEX_SITE_MEMBERS, set(site) - DATEX_SITE_MEMBERS
        assert set(site["type"]) == {"value"} and site["type"]["value"] in DATEX_SITE_TYPES
        assert set(site["locationAndDimension"]) <= DATEX_LOCATION_MEMBERS
        assert set(site["locationAndDimension"]["coordinatesForDisplay"]) == {"latitude", "longitude"}
        assert isinstance(site["isOpenNow"], bool) and site["numberOfSpaces"] >= 0
        assert site.get("availableSpaces", 0) >= 0
        for key in DATEX_STRING_LISTS & set(site):
            assert all(isinstance(x, str) for x in site[key])
    sites = {s["id"]: s for s in pub["parkingSite"]}
    assert sites["G1"]["type"]["value"] == "carPark" and sites["S1"]["type"]["value"] == "onStreet"
    assert (sites["G1"]["availableSpaces"], sites["G1"]["numberOfSpaces"]) == (2, 3)
    assert sites["G1"]["locationAndDimension"]["coordinatesForDisplay"] == {"latitude": 31.305, "longitude": 120.605}
    assert (sites["C1"]["isOpenNow"], sites["C1"]["availableSpaces"]) == (False, 0)  # outside its shared hours


def test_datex2_says_nothing_about_free_spaces_it_does_not_know(api):
    _, client = api()
    sites = {s["id"]: s for s in client.get("/v1/open/datex2/parking-light.json").json()["parkingPublicationLight"]["parkingSite"]}
    assert "availableSpaces" not in sites["G1"] and "lastUpdate" not in sites["G1"]
    assert sites["G1"]["isOpenNow"] is True


# --- NGSI-LD -----------------------------------------------------------------------------------

def _check_normalized(entity: dict, allowed: set[str]) -> None:
    assert set(entity) - {"@context"} <= allowed, set(entity) - allowed
    assert entity["@context"]
    for name, attr in entity.items():
        if name in ("id", "type", "@context"):
            continue
        assert attr["type"] in NGSI_LD_ATTRIBUTE_TYPES, name
        assert "value" in attr or "object" in attr, name
        if "observedAt" in attr:
            assert attr["observedAt"].endswith("Z")
    assert entity["location"]["type"] == "GeoProperty" and entity["location"]["value"]["type"] == "Point"
    assert set(entity["address"]["value"]) <= SCHEMA_ORG_ADDRESS
    assert set(entity["occupancyDetectionType"]["value"]) <= OCCUPANCY_DETECTION


def test_ngsi_ld_off_street_entities_follow_the_smart_data_model(api):
    platform, client = api()
    _some_traffic(platform)
    r = client.get("/v1/open/ngsi-ld/entities", params={"type": "OffStreetParking"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/ld+json"
    entities = {e["id"]: e for e in r.json()}
    assert set(entities) == {"urn:ngsi-ld:OffStreetParking:C1", "urn:ngsi-ld:OffStreetParking:G1"}
    for e in entities.values():
        assert e["type"] == "OffStreetParking"
        _check_normalized(e, OFF_STREET_ATTRS)
        assert set(e["category"]["value"]) <= OFF_STREET_CATEGORY
        if "status" in e:
            assert set(e["status"]["value"]) <= OFF_STREET_STATUS
    g1 = entities["urn:ngsi-ld:OffStreetParking:G1"]
    assert (g1["availableSpotNumber"]["value"], g1["occupiedSpotNumber"]["value"], g1["totalSpotNumber"]["value"]) == (2, 1, 3)
    assert g1["availableSpotNumber"]["observedAt"] == "2026-11-23T02:00:00Z"
    assert g1["status"]["value"] == ["open", "spacesAvailable"]
    assert g1["location"]["value"]["coordinates"] == [120.605, 31.305]
    assert entities["urn:ngsi-ld:OffStreetParking:C1"]["status"]["value"] == ["closed"]


def test_ngsi_ld_on_street_entities_and_full_car_parks(api):
    platform, client = api()
    now = platform.clock()
    platform.pipeline.process([passage_msg("G1", "g", f"e{i}", "in", f"苏E1234{i}", now) for i in range(3)])
    platform.pipeline.process([berth_msg("S1", b, True, 1, now) for b in ("b1", "b2", "b3", "b4")])
    on_street = client.get("/v1/open/ngsi-ld/entities", params={"type": "OnStreetParking"}).json()
    assert [e["id"] for e in on_street] == ["urn:ngsi-ld:OnStreetParking:S1"]
    s1 = on_street[0]
    _check_normalized(s1, ON_STREET_ATTRS)
    assert set(s1["category"]["value"]) <= ON_STREET_CATEGORY
    assert (s1["availableSpotNumber"]["value"], s1["occupiedSpotNumber"]["value"]) == (0, 4)
    assert s1["occupancyDetectionType"]["value"] == ["singleSpaceDetection"]
    both = client.get("/v1/open/ngsi-ld/entities").json()
    g1 = next(e for e in both if e["id"] == "urn:ngsi-ld:OffStreetParking:G1")
    assert g1["status"]["value"] == ["open", "full"]


def test_ngsi_ld_unknown_availability_is_left_out_not_zero(api):
    _, client = api()
    g1 = next(e for e in client.get("/v1/open/ngsi-ld/entities").json() if e["id"].endswith(":G1"))
    assert "availableSpotNumber" not in g1 and "status" not in g1
    assert g1["totalSpotNumber"]["value"] == 3


def test_ngsi_ld_pages_with_limit_offset_and_count(api):
    _, client = api()
    page = client.get("/v1/open/ngsi-ld/entities", params={"limit": 2, "offset": 1, "count": "true"})
    assert [e["id"] for e in page.json()] == ["urn:ngsi-ld:OffStreetParking:G1", "urn:ngsi-ld:OnStreetParking:S1"]
    assert page.headers["NGSILD-Results-Count"] == "3"


def test_ngsi_ld_unknown_type_is_named(api):
    _, client = api()
    r = client.get("/v1/open/ngsi-ld/entities", params={"type": "ParkingSpot"})
    assert r.status_code == 422
    assert r.json()["field"] == "type" and "ParkingSpot" in r.json()["message"]


def test_open_data_follows_live_changes(api):
    platform, client = api()
    now = _some_traffic(platform)
    platform.clock.advance(minutes=1)
    platform.pipeline.process([passage_msg("G1", "g", "e2", "in", "苏E22222", now + timedelta(minutes=1))])
    g1 = next(f["properties"] for f in client.get("/v1/open/lots.geojson").json()["features"] if f["id"] == "G1")
    assert (g1["free"], g1["updated_at"][:19]) == (1, "2026-11-23T02:01:00")


def test_openapi_documents_the_open_data_media_types(api):
    _, client = api()
    paths = client.get("/openapi.json").json()["paths"]
    assert "application/geo+json" in paths["/v1/open/lots.geojson"]["get"]["responses"]["200"]["content"]
    assert "application/ld+json" in paths["/v1/open/ngsi-ld/entities"]["get"]["responses"]["200"]["content"]
    assert "/v1/open/datex2/parking-light.json" in paths
