"""The citizen map in real headless Chromium: it draws every car park, turns a marker red
within a second of a sensor reporting the last space taken, and asks nothing of the internet."""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest

from gateways.app import create_app
from gateways.bootstrap import Platform
from gateways.registry_import import import_registry
from parking_core.db import upgrade
from parking_core.settings import load_settings
from sensors.simulator import generate_city
from tests.browser.city import fill_city
from tests.browser.server import serving
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


@pytest.fixture
def city_site(tmp_path):
    """A simulated city of 150 car parks with mixed occupancy, served over HTTP: (platform, city, base URL)."""
    platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'city.db'}"), with_ingest=False)
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
def page(browser):
    """A fresh page that records every request and refuses any to a host other than this machine."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    outside: list[str] = []
    errors: list[str] = []

    def gate(route) -> None:  # noqa: ANN001
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", gate)
    p = context.new_page()
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.outside, p.errors = outside, errors
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
    # districts are searchable too
    page.fill("#q", "gusu")
    assert "gusu district" in page.inner_text("#matches li >> nth=0")
    assert page.errors == []
    assert page.outside == []
