"""The citizen map in real headless Chromium: it draws every car park, turns a marker red
within a second of a sensor reporting the last space taken, finds places, guides from them and
from the driver's own position, lays out on a phone, draws a configured basemap (a local tile
stand-in here) with markers in its coordinate system, and asks nothing of the internet."""
from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from gateways.bootstrap import Platform
from gateways.http.app import create_app
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.coords import from_wgs84
from parking_core.settings import load_settings
from sensors.simulator import generate_city
from tests.browser.city import fill_city
from tests.browser.server import serving
from tests.browser.tiles import tile_server
from tests.factories import berth_msg

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
RED = "#d93025"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true: a missing browser fails the run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _unavailable("headless Chromium is not installed (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the python package playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@contextmanager
def city_served(tmp_path, **env):
    """A simulated city of 150 car parks with mixed occupancy, served over HTTP: (platform, city, base URL)."""
    platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'city.db'}", **env), with_ingest=False)
    upgrade(platform.engine)
    city = generate_city(150, seed=11)
    import_registry(platform, city)
    platform.start()
    fill_city(platform, city, now=datetime.now(timezone.utc))
    try:
        with serving(create_app(platform)) as base:
            yield platform, city, base
    finally:
        platform.stop()


@pytest.fixture
def city_site(tmp_path):
    with city_served(tmp_path) as site:
        yield site


@pytest.fixture
def gcj_site(tmp_path):
    """The city under a GCJ-02 basemap (as AMap's tiles are), from a local tile stand-in: (platform, city, base, tile paths)."""
    with tile_server("gcj02") as (template, requested), city_served(
        tmp_path, PARKING_BASEMAP_URL=template, PARKING_BASEMAP_COORD="gcj02", PARKING_BASEMAP_ATTRIBUTION="<b>test tiles</b> © nobody",
    ) as (platform, city, base):
        yield platform, city, base, requested


@pytest.fixture
def page(browser):
    """A fresh page that records every request and refuses any to a host other than this machine."""
    yield from _page(browser, viewport={"width": 1280, "height": 800})


@pytest.fixture
def phone(browser):
    """A phone-sized page that may know where it is (31.3119 N, 120.6235 E, WGS-84: 观前街)."""
    yield from _page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                     geolocation={"latitude": 31.3119, "longitude": 120.6235}, permissions=["geolocation"])


def _page(browser, **options):  # noqa: ANN001
    context = browser.new_context(**options)
    outside: list[str] = []
    seen: list[str] = []
    errors: list[str] = []

    def gate(route) -> None:  # noqa: ANN001
        url = route.request.url
        seen.append(url)
        if url.startswith("data:") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", gate)
    p = context.new_page()
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.outside, p.errors, p.seen = outside, errors, seen
    yield p
    context.close()


def _smallest_street(city: dict) -> dict:
    streets = [f["properties"] for f in city["features"] if f["properties"].get("berths")]
    return min(streets, key=lambda p: (len(p["berths"]), p["id"]))


def test_map_shows_every_lot_and_turns_red_within_a_second_of_the_last_space_taken(city_site, page):
    platform, city, base = city_site
    street = _smallest_street(city)
    lot_id, berths = street["id"], street["berths"]
    now = datetime.now(timezone.utc)
    # every berth taken but the first: almost full (amber)
    platform.pipeline.process([berth_msg(lot_id, b, b != berths[0], 2, now) for b in berths])

    page.goto(base + "/")
    page.wait_for_selector("#live.on", timeout=10_000)  # the stream has sent its current state
    assert page.locator("path.lot-marker").count() == len(city["features"])
    marker = page.locator(f'path.lot-marker[data-lot="{lot_id}"]')
    assert marker.get_attribute("data-status") == "almostFull"
    assert marker.get_attribute("data-free") == "1"
    statuses = set(page.eval_on_selector_all("path.lot-marker", "els => els.map(e => e.getAttribute('data-status'))"))
    assert {"spacesAvailable", "almostFull", "full", "unknown"} <= statuses
    assert page.inner_text("#summary").startswith(f"{len(city['features'])} car parks")
    # no basemap configured: the offline map outlines each district around its car parks
    assert page.get_attribute("body", "data-basemap") == "none"
    districts = Counter(f["properties"]["district"] for f in city["features"])
    assert page.locator("path.district-outline").count() == sum(n >= 3 for n in districts.values())  # an outline needs 3 points
    assert page.locator("img.leaflet-tile").count() == 0

    sent = time.monotonic()
    platform.pipeline.process([berth_msg(lot_id, berths[0], True, 3, datetime.now(timezone.utc))])
    page.wait_for_function(
        "id => document.querySelector(`path[data-lot=\"${id}\"]`).getAttribute('data-status') === 'full'", arg=lot_id, timeout=1000,
    )
    assert time.monotonic() - sent < 1.0
    assert marker.get_attribute("fill") == RED
    assert marker.get_attribute("data-free") == "0"

    assert page.errors == []
    assert page.outside == []


def test_search_finds_a_car_park_and_lists_free_spaces_near_it(city_site, page):
    platform, city, base = city_site
    names = [f["properties"]["name"] for f in city["features"]]
    target = next(f["properties"] for f in city["features"] if f["properties"]["kind"] == "off_street" and names.count(f["properties"]["name"]) == 1)
    page.goto(base + "/")
    page.wait_for_selector("#live.on", timeout=10_000)
    page.fill("#q", target["name"])
    match = page.locator(f'#matches li[data-lot="{target["id"]}"]')
    match.click()
    assert page.inner_text("#guide-from") == f"from {target['name']}"
    page.wait_for_selector("#guidance li[data-lot]", timeout=5000)
    rows = page.locator("#guidance li[data-lot]")
    assert rows.count() >= 1
    first = rows.first.inner_text()
    assert "/" in first and ("m" in first)  # free/total and a distance
    # districts are places too, by name or by the registry's code
    page.fill("#q", "gusu")
    page.wait_for_selector("#matches li.place")
    assert "姑苏区" in page.inner_text("#matches li.place >> nth=0")
    assert page.errors == []
    assert page.outside == []


def _in_view(page, selector: str) -> bool:
    return page.evaluate("""s => { const r = document.querySelector(s).getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""", selector)


def test_a_place_search_guides_from_the_station_and_leaves_the_suggestions_in_view(city_site, page):
    platform, city, base = city_site
    page.goto(base + "/")
    page.wait_for_selector("#live.on", timeout=10_000)
    page.fill("#q", "苏州")  # many places and car parks: they scroll in their own box
    page.wait_for_selector("#matches li.place")
    assert page.locator("#matches li").count() > 6
    assert _in_view(page, "#guide h2")
    page.fill("#q", "苏州站")
    station = page.locator("#matches li.place").first
    station.wait_for()
    assert "苏州站" in station.inner_text() and "station" in station.inner_text()
    station.click()
    assert page.inner_text("#guide-from") == "from 苏州站"
    page.wait_for_selector("#guidance li[data-lot]", timeout=5000)
    assert page.locator("#matches li").count() == 0  # the results close once one is picked
    assert _in_view(page, "#guidance li[data-lot]")
    assert page.errors == [] and page.outside == []


def test_on_a_phone_locate_me_guides_from_here_with_map_and_list_both_reachable(city_site, phone):
    platform, city, base = city_site
    phone.goto(base + "/")
    phone.wait_for_selector("#live.on", timeout=10_000)
    assert phone.locator("#map").bounding_box()["height"] > 300
    phone.click("#locate")
    phone.wait_for_function("document.querySelector('#guide-from').textContent === 'from your location'", timeout=5000)
    phone.wait_for_selector("#guidance li[data-lot]", timeout=5000)
    assert _in_view(phone, "#q")
    phone.locator("#guidance li[data-lot]").first.scroll_into_view_if_needed()
    assert _in_view(phone, "#guidance li[data-lot]")
    assert _in_view(phone, "#map")  # the list scrolls in its panel: the map stays
    centre = phone.evaluate("(() => { const c = map.getCenter(); return [c.lat, c.lng]; })()")
    assert abs(centre[0] - 31.3119) < 1e-4 and abs(centre[1] - 120.6235) < 1e-4  # WGS-84 basemap: no conversion
    assert phone.errors == [] and phone.outside == []


def test_a_gcj02_basemap_draws_its_tiles_and_asks_the_api_in_gcj02(gcj_site, page):
    platform, city, base, tiles = gcj_site
    page.goto(base + "/")
    page.wait_for_selector("#live.on", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('img.leaflet-tile-loaded').length > 0", timeout=10_000)
    assert tiles and all(t.endswith(".png") for t in tiles)
    assert page.get_attribute("body", "data-basemap") == "gcj02"
    assert page.locator("path.district-outline").count() == 0  # the tiles show the city; no outlines over them
    assert "<b>test tiles</b> © nobody" in page.inner_text(".leaflet-control-attribution")  # the setting shown as text

    # every marker where AMap would draw its car park: the registry's WGS-84 point in GCJ-02
    shown = page.evaluate("[...markers].map(([id, m]) => [id, m.getLatLng().lat, m.getLatLng().lng])")
    wgs = {f["properties"]["id"]: (f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in city["features"]}
    assert len(shown) == len(wgs)
    for lot_id, lat, lon in shown:
        assert (lat, lon) == pytest.approx(from_wgs84(*wgs[lot_id], "gcj02"), abs=1e-6)

    page.fill("#q", "观前街")
    street = page.locator("#matches li.place").first
    street.wait_for()
    street.click()
    page.wait_for_selector("#guidance li[data-lot]", timeout=5000)
    calls = [u for u in page.seen if urlsplit(u).path in ("/v1/lots", "/v1/guidance", "/v1/stream", "/v1/places", "/v1/lots/nearby")]
    assert {urlsplit(u).path for u in calls} >= {"/v1/lots", "/v1/guidance", "/v1/stream", "/v1/places"}
    assert all(parse_qs(urlsplit(u).query).get("coord") == ["gcj02"] for u in calls), calls
    assert page.errors == [] and page.outside == []


def test_locate_me_under_a_gcj02_basemap_converts_the_browsers_wgs84_fix(gcj_site, phone):
    platform, city, base, _ = gcj_site
    phone.goto(base + "/")
    phone.wait_for_selector("#live.on", timeout=10_000)
    phone.click("#locate")
    phone.wait_for_selector("#guidance li[data-lot]", timeout=5000)
    centre = phone.evaluate("(() => { const c = map.getCenter(); return [c.lat, c.lng]; })()")
    assert centre == pytest.approx(from_wgs84(31.3119, 120.6235, "gcj02"), abs=1e-5)
    assert any(urlsplit(u).path == "/v1/coords" for u in phone.seen)
    assert phone.errors == [] and phone.outside == []
