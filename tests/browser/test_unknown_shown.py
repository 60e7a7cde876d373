"""The map shows a car park without fresh data as unknown (grey, no free count), never as free (issue 10)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.browser.test_page import browser, city_site, page  # noqa: F401 - fixtures
from tests.factories import berth_msg, heartbeat_msg

pytestmark = pytest.mark.browser
GREY = "#9aa0a6"


def test_lots_without_fresh_data_are_grey_and_show_no_free_count(city_site, page):  # noqa: F811
    platform, city, base = city_site
    silent = [f["properties"] for f in city["features"] if platform.live.lot(f["properties"]["id"]).last_seen is None]
    street = next(p for p in silent if len(p.get("berths") or ()) >= 3)
    gate = next(p for p in silent if not p.get("berths"))
    now = datetime.now(timezone.utc)
    # one occupied berth of many, and a gate camera that only says it is alive: neither is a count
    platform.pipeline.process([berth_msg(street["id"], street["berths"][0], True, 1, now), heartbeat_msg(gate["id"], "cam", now)])

    page.goto(base + "/")
    page.wait_for_selector("#live.on", timeout=10_000)
    for lot in (street, gate):
        marker = page.locator(f'path.lot-marker[data-lot="{lot["id"]}"]')
        assert marker.get_attribute("data-status") == "unknown", lot["id"]
        assert marker.get_attribute("fill") == GREY
    assert "no data" in page.inner_text("#summary")
    assert page.errors == []
