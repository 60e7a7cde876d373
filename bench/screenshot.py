"""Take docs/screenshot.png: the citizen map of a simulated city in headless Chromium, as a person sees it.

By default the map has a basemap in GCJ-02 (as AMap's tiles are), served by a local XYZ tile
stand-in that draws the gazetteer's streets (there is no internet here), so the page asks the API
with coord=gcj02; --offline takes the map with no basemap instead; --phone a 390x844 phone.

Run from the repository root: python bench/screenshot.py [--lots 800] [--offline] [--phone] [--out docs/screenshot.png]
Needs Debian's chromium at /usr/bin/chromium, a CJK font (fonts-wqy-microhei) and the python package playwright.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers: a city with every colour, an in-process server, tiles

from gateways.bootstrap import Platform  # noqa: E402
from gateways.http.app import create_app  # noqa: E402
from gateways.operator.registry_import import import_registry  # noqa: E402
from gateways.schema import upgrade  # noqa: E402
from parking_core.settings import load_settings  # noqa: E402
from sensors.simulator import generate_city  # noqa: E402
from tests.browser.city import fill_city  # noqa: E402
from tests.browser.server import serving  # noqa: E402
from tests.browser.test_page import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.tiles import tile_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lots", type=int, default=800)
    ap.add_argument("--offline", action="store_true", help="no basemap: district outlines and a graticule")
    ap.add_argument("--phone", action="store_true", help="a 390x844 phone, located at 观前街")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = {}
        if not args.offline:
            template, _ = stack.enter_context(tile_server("gcj02"))
            env = {"PARKING_BASEMAP_URL": template, "PARKING_BASEMAP_COORD": "gcj02",
                   "PARKING_BASEMAP_ATTRIBUTION": "local tile stand-in: the gazetteer's streets in GCJ-02"}
        platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp}/city.db", **env), with_ingest=False)
        upgrade(platform.engine)
        city = generate_city(args.lots, seed=1)
        import_registry(platform, city)
        platform.start()
        fill_city(platform, city, now=datetime.now(timezone.utc))
        try:
            with serving(create_app(platform)) as base, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                if args.phone:
                    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                            geolocation={"latitude": 31.3119, "longitude": 120.6235}, permissions=["geolocation"])
                else:
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(base + "/")
                page.wait_for_selector("#live.on", timeout=15_000)
                if args.phone:
                    page.click("#locate")
                    page.wait_for_selector("#guidance li[data-lot]", timeout=5000)
                else:
                    page.fill("#q", "观前街")
                    page.locator("#matches li.place").first.click()
                    page.wait_for_selector("#guidance li[data-lot]", timeout=5000)
                    page.evaluate("map.setZoom(14)")
                    page.fill("#q", "苏州")
                    page.wait_for_selector("#matches li.place", timeout=5000)
                page.wait_for_timeout(1500)  # tiles at the new zoom
                page.mouse.move(0, 0)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            platform.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
