"""Open data may be read by a browser on any other site: CORS preflight is answered and every
answer says `Access-Control-Allow-Origin: *`; the rest of the API does not open up."""
from __future__ import annotations

import pytest

ELSEWHERE = {"Origin": "https://maps.example.org"}
OPEN = ["/v1/open/lots.geojson", "/v1/open/datex2/parking-light.json", "/v1/open/ngsi-ld/entities?type=OffStreetParking&limit=5"]


@pytest.mark.parametrize("path", OPEN)
def test_open_data_is_readable_from_other_sites(api, path):
    _, client = api()
    pre = client.options(path, headers={**ELSEWHERE, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "GET" in pre.headers["access-control-allow-methods"]
    got = client.get(path, headers=ELSEWHERE)
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == "*"
    assert "ETag" in got.headers["access-control-expose-headers"]


def test_the_rest_of_the_api_stays_same_origin(api):
    _, client = api()
    got = client.get("/v1/lots/G1", headers=ELSEWHERE)
    assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
    pre = client.options("/v1/me/orders", headers={**ELSEWHERE, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers
