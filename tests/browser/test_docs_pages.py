"""`/docs` (Swagger UI) and `/redoc` draw the API in headless Chromium with every request outside
this machine refused: before their assets were bundled both pages stayed blank offline."""
from __future__ import annotations

import pytest

from tests.browser.server import serving
from tests.browser.test_page import browser, page  # noqa: F401 - fixtures: Chromium, a page that refuses the internet

pytestmark = pytest.mark.browser


@pytest.fixture
def site(make_platform):
    from gateways.http.app import create_app

    with serving(create_app(make_platform())) as base:
        yield base


@pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
def test_swagger_ui_draws_offline(site, page):  # noqa: F811
    page.goto(site + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "City parking platform" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path[data-path='/v1/lots/nearby']").count() >= 1
    assert page.outside == [] and page.errors == []


@pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
def test_redoc_draws_offline(site, page):  # noqa: F811
    page.goto(site + "/redoc")
    page.wait_for_selector("h1", timeout=15_000)
    assert "City parking platform" in page.locator("h1").first.inner_text()
    assert page.get_by_text("/v1/lots/nearby").count() >= 1
    assert page.outside == [] and page.errors == []
