"""`/docs` and `/redoc` work on a network with no way out: every script, style and icon they load
comes from the platform itself (gateways/web/vendor), licences included."""
from __future__ import annotations

import re

import pytest

from gateways.citizen.pages import WEB_DIR

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|(?:url|spec-url)\s*:\s*["']([^"']+)["']|spec-url=["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in ASSET.finditer(html)]


@pytest.mark.parametrize("page, needs", [("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]), ("/redoc", ["redoc.standalone.js"])])
def test_every_asset_is_served_by_the_platform(api, page, needs):
    _, client = api()
    html = client.get(page).text
    refs = _references(html)
    assert all(any(r.endswith(n) for r in refs) for n in needs), refs
    assert "cdn." not in html and "fonts.googleapis" not in html
    for ref in refs:
        assert ref.startswith("/"), f"{page} loads {ref} from elsewhere"
        answer = client.get(ref)
        assert answer.status_code == 200, ref
        assert len(answer.content) > 0


def test_the_bundled_copies_keep_their_licences():
    for part in ("swagger-ui", "redoc"):
        assert (WEB_DIR / "vendor" / part / "LICENSE").read_text().strip()
